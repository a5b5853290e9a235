package email

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
)

// These tests run the source against a real Dovecot on 127.0.0.1 (see
// internal/dovecot). Only our own interfaces, Ingester and CursorStore, are
// faked.

const testChannel = 7

func dovecotSource(t testing.TB, srv *dovecot.Server, sink Ingester, cursors CursorStore, edit func(*IMAPConfig)) (*IMAPSource, *logBuffer) {
	t.Helper()
	cfg := IMAPConfig{
		ChannelID:  testChannel,
		Addr:       srv.Addr(),
		Security:   IMAPSecurityPlain,
		Username:   srv.User(),
		Password:   srv.Password(),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
		// These tests put mail in the mailbox before the first sync.
		FirstSync: FirstSyncAll,
	}
	if edit != nil {
		edit(&cfg)
	}
	log, logs := testLogger(t)
	src, err := NewIMAPSource(cfg, sink, cursors, log)
	if err != nil {
		t.Fatalf("NewIMAPSource: %v", err)
	}
	return src, logs
}

// runSource runs src.Run until the test ends and checks that it returns nil
// promptly once cancelled.
func runSource(t *testing.T, src *IMAPSource) (cancel func()) {
	t.Helper()
	ctx, cancelCtx := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancelCtx()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	}
	t.Cleanup(stop)
	return stop
}

func appendN(t *testing.T, srv *dovecot.Server, mailbox string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		srv.Append(t, srv.User(), mailbox, testMail(i))
	}
}

func equalIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestIMAPSyncOnce(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	appendN(t, srv, "INBOX", 1, 3)
	sink, cursors := &fakeSink{}, &fakeCursors{}
	src, _ := dovecotSource(t, srv, sink, cursors, nil)
	ctx := context.Background()
	uv := srv.UIDValidity(t, srv.User(), "INBOX")

	if err := src.syncOnce(ctx); err != nil {
		t.Fatalf("first syncOnce: %v", err)
	}
	equalIDs(t, "first sync", sink.ids(), testIDs(1, 3))
	if got := cursors.get(testChannel, "INBOX"); got != [2]uint32{uv, 3} {
		t.Errorf("cursor = %v, want [%d 3]", got, uv)
	}
	for i, in := range sink.delivered() {
		if in.ChannelID != testChannel || in.Channel != message.Email {
			t.Errorf("message %d: channel %d/%q", i, in.ChannelID, in.Channel)
		}
		if !bytes.Equal(in.Raw, testMail(i+1)) {
			t.Errorf("message %d: Raw is not the mail as stored", i)
		}
		if in.ReceivedAt.IsZero() || in.Quarantined {
			t.Errorf("message %d: ReceivedAt %v, quarantined %v (%s)", i, in.ReceivedAt, in.Quarantined, in.QuarantineReason)
		}
	}

	if err := src.syncOnce(ctx); err != nil {
		t.Fatalf("second syncOnce: %v", err)
	}
	equalIDs(t, "a sync with nothing new", sink.ids(), testIDs(1, 3))

	appendN(t, srv, "INBOX", 4, 5)
	if err := src.syncOnce(ctx); err != nil {
		t.Fatalf("third syncOnce: %v", err)
	}
	equalIDs(t, "after two more", sink.ids(), testIDs(1, 5))
	if got := cursors.get(testChannel, "INBOX"); got != [2]uint32{uv, 5} {
		t.Errorf("cursor = %v, want [%d 5]", got, uv)
	}

	// Fetching used BODY.PEEK: people reading this mailbox still see the
	// mail as unread.
	c := srv.Dial(t, srv.User())
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if slices.Contains(m.Flags, imap.FlagSeen) {
			t.Errorf("uid %d got \\Seen from the sync", m.UID)
		}
	}
}

// A mailbox this channel never synced: by default nothing already in it is
// ingested (connecting Wasl to a live support mailbox must not answer its
// history); "all" and "since" backfill. Mail that arrives afterwards comes
// in whatever the mode.
func TestIMAPFirstSync(t *testing.T) {
	t.Parallel()
	riyadh := time.FixedZone("+0300", 3*3600)
	// Mails 1-3 reached the mailbox in August, 4 and 5 in September.
	dates := []time.Time{
		time.Date(2026, 8, 10, 9, 0, 0, 0, riyadh),
		time.Date(2026, 8, 20, 9, 0, 0, 0, riyadh),
		time.Date(2026, 8, 30, 12, 0, 0, 0, riyadh),
		time.Date(2026, 9, 2, 8, 0, 0, 0, riyadh),
		time.Date(2026, 9, 15, 8, 0, 0, 0, riyadh),
	}
	tests := []struct {
		name  string
		mode  string
		since time.Time
		want  []string // ingested by the first sync
	}{
		{"default", "", time.Time{}, nil},
		{"now", FirstSyncNow, time.Time{}, nil},
		{"all", FirstSyncAll, time.Time{}, testIDs(1, 5)},
		{"since a date", FirstSyncSince, time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC), testIDs(4, 5)},
		{"since the day of a message", FirstSyncSince, time.Date(2026, 8, 30, 0, 0, 0, 0, time.UTC), testIDs(3, 5)},
		{"since a date after every message", FirstSyncSince, time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := dovecot.Start(t)
			for i, at := range dates {
				srv.AppendAt(t, srv.User(), "INBOX", testMail(i+1), at)
			}
			sink, cursors := &fakeSink{}, &fakeCursors{}
			src, logs := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) {
				c.FirstSync, c.FirstSyncSince = tt.mode, tt.since
			})
			uv := srv.UIDValidity(t, srv.User(), "INBOX")
			ctx := context.Background()

			if err := src.syncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			equalIDs(t, "first sync", sink.ids(), tt.want)
			if got := cursors.get(testChannel, "INBOX"); got != [2]uint32{uv, 5} {
				t.Errorf("cursor after the first sync = %v, want [%d 5]", got, uv)
			}
			if len(tt.want) == 0 && !strings.Contains(logs.String(), "starting at the end of the mailbox") {
				t.Error("the first sync did not say it left the mailbox's mail alone")
			}

			// The next mail is new whatever the mode, and a restart (a
			// new source on the same cursors) does not re-read the
			// mailbox.
			srv.Append(t, srv.User(), "INBOX", testMail(6))
			again, _ := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) {
				c.FirstSync, c.FirstSyncSince = tt.mode, tt.since
			})
			if err := again.syncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			equalIDs(t, "after a new mail and a restart", sink.ids(), append(slices.Clone(tt.want), testID(6)))
		})
	}
}

func TestIMAPFixtures(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	files := []string{"english.eml", "arabic.eml", "no-message-id.eml"}
	for _, f := range files {
		srv.Append(t, srv.User(), "INBOX", imapFixture(t, f))
	}
	sink := &fakeSink{}
	src, _ := dovecotSource(t, srv, sink, &fakeCursors{}, nil)
	if err := src.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.delivered()
	if len(got) != len(files) {
		t.Fatalf("delivered %d messages, want %d", len(got), len(files))
	}
	for i, f := range files {
		if !bytes.Equal(got[i].Raw, imapFixture(t, f)) {
			t.Errorf("%s: delivered out of order or altered", f)
		}
		if got[i].ExternalID == "" {
			t.Errorf("%s: empty ExternalID", f)
		}
	}
	if got[1].MessageID != "vc-request-1@example.org" {
		t.Errorf("arabic.eml MessageID = %q", got[1].MessageID)
	}
}

func TestIMAPUIDValidityChange(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	const mb = "Support"
	srv.CreateMailbox(t, srv.User(), mb)
	appendN(t, srv, mb, 1, 3)
	sink, cursors := &fakeSink{}, &fakeCursors{}
	src, logs := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.Mailboxes = []string{mb} })
	ctx := context.Background()

	if err := src.syncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	before := cursors.get(testChannel, mb)
	if before[1] != 3 {
		t.Fatalf("cursor after first sync = %v", before)
	}

	// The mailbox is re-created: same mails plus one, new UIDVALIDITY,
	// UIDs from 1 again (below the old cursor).
	srv.DeleteMailbox(t, srv.User(), mb)
	srv.CreateMailbox(t, srv.User(), mb)
	appendN(t, srv, mb, 1, 4)
	uv := srv.UIDValidity(t, srv.User(), mb)
	if uv == before[0] {
		t.Fatalf("dovecot kept UIDVALIDITY %d", uv)
	}

	if err := src.syncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	all := sink.delivered()
	equalIDs(t, "second round re-synced from UID 1", messageIDs(all[3:]), testIDs(1, 4))
	equalIDs(t, "deduped by ExternalID", sink.duplicateIDs(), testIDs(1, 3))
	if got := cursors.get(testChannel, mb); got != [2]uint32{uv, 4} {
		t.Errorf("cursor = %v, want [%d 4]", got, uv)
	}
	if !strings.Contains(logs.String(), "uidvalidity changed") {
		t.Error("the UIDVALIDITY change was not logged")
	}
}

func TestIMAPIdle(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.CreateMailbox(t, srv.User(), "Support")
	appendN(t, srv, "INBOX", 1, 1)
	if c := srv.Dial(t, srv.User()); !c.Caps().Has(imap.CapIdle) {
		t.Fatalf("dovecot does not advertise IDLE (%v): this test would prove nothing", c.Caps())
	}
	sink, cursors := &fakeSink{}, &fakeCursors{}
	// A poll would come only after an hour: arrival proves IDLE.
	src, logs := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) {
		c.PollInterval = time.Hour
		c.Mailboxes = []string{"INBOX", "Support"}
	})
	stop := runSource(t, src)

	waitFor(t, "the first sync", func() bool { return sink.has(testID(1)) })
	waitFor(t, "both mailboxes to idle", func() bool {
		return strings.Count(logs.String(), "mode=idle") == 2
	})
	srv.Append(t, srv.User(), "INBOX", testMail(2))
	waitFor(t, "the mail appended to INBOX while idling", func() bool { return sink.has(testID(2)) })
	srv.Append(t, srv.User(), "Support", testMail(3))
	waitFor(t, "the mail appended to Support while idling", func() bool { return sink.has(testID(3)) })
	stop()

	equalIDs(t, "deliveries", sink.ids(), testIDs(1, 3))
	if got := cursors.get(testChannel, "Support"); got[1] != 1 {
		t.Errorf("Support cursor = %v, want last UID 1", got)
	}
	if got := cursors.get(testChannel, "INBOX"); got[1] != 2 {
		t.Errorf("INBOX cursor = %v, want last UID 2", got)
	}
}

func TestIMAPPolling(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	appendN(t, srv, "INBOX", 1, 1)
	sink := &fakeSink{}
	src, logs := dovecotSource(t, srv, sink, &fakeCursors{}, func(c *IMAPConfig) {
		c.DisableIdle = true
		c.PollInterval = 50 * time.Millisecond
	})
	runSource(t, src)
	waitFor(t, "the first sync", func() bool { return sink.has(testID(1)) })
	srv.Append(t, srv.User(), "INBOX", testMail(2))
	waitFor(t, "the appended mail", func() bool { return sink.has(testID(2)) })
	if !strings.Contains(logs.String(), "mode=poll") {
		t.Error("source did not report polling")
	}
	equalIDs(t, "deliveries", sink.ids(), testIDs(1, 2))
}

func TestIMAPIngestFailure(t *testing.T) {
	t.Parallel()
	errCommit := errors.New("database is locked")
	failThirdOnce := func(n int, in message.Inbound) error {
		if n == 3 {
			return errCommit
		}
		return nil
	}
	tests := []struct {
		name string
		run  func(t *testing.T, src *IMAPSource, sink *fakeSink, cursors *fakeCursors, uv uint32)
	}{
		{"syncOnce", func(t *testing.T, src *IMAPSource, sink *fakeSink, cursors *fakeCursors, uv uint32) {
			err := src.syncOnce(context.Background())
			if !errors.Is(err, errCommit) {
				t.Fatalf("syncOnce = %v, want the sink's error", err)
			}
			equalIDs(t, "committed before the failure", sink.ids(), testIDs(1, 2))
			if got := cursors.get(testChannel, "INBOX"); got != [2]uint32{uv, 2} {
				t.Errorf("cursor = %v, want [%d 2]: it must not pass the failed message", got, uv)
			}
			if err := src.syncOnce(context.Background()); err != nil {
				t.Fatalf("next syncOnce: %v", err)
			}
		}},
		{"Run", func(t *testing.T, src *IMAPSource, sink *fakeSink, cursors *fakeCursors, uv uint32) {
			stop := runSource(t, src)
			waitFor(t, "all five", func() bool { return len(sink.ids()) == 5 })
			stop()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := dovecot.Start(t)
			appendN(t, srv, "INBOX", 1, 5)
			sink, cursors := &fakeSink{fail: failThirdOnce}, &fakeCursors{}
			src, _ := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.PollInterval = time.Hour })
			uv := srv.UIDValidity(t, srv.User(), "INBOX")

			tt.run(t, src, sink, cursors, uv)

			equalIDs(t, "deliveries", sink.ids(), testIDs(1, 5))
			equalIDs(t, "attempts: the failed one again, nothing skipped", sink.attemptIDs(),
				[]string{testID(1), testID(2), testID(3), testID(3), testID(4), testID(5)})
			if got := cursors.get(testChannel, "INBOX"); got != [2]uint32{uv, 5} {
				t.Errorf("cursor = %v, want [%d 5]", got, uv)
			}
		})
	}
}

// One message the pipeline can never store (here: it fails for one
// Message-ID) must not block its mailbox: after MaxAttempts failures,
// counted across reconnects and restarts, it is stored quarantined with the
// error and its raw bytes, and the mail after it arrives.
func TestIMAPUnstorableMessageIsQuarantined(t *testing.T) {
	t.Parallel()
	errPoison := errors.New("render reply: template: no such field")
	poison := func(n int, in message.Inbound) error {
		if in.MessageID == testID(3) && !in.Quarantined {
			return errPoison
		}
		return nil
	}
	check := func(t *testing.T, sink *fakeSink, cursors *fakeCursors, uv uint32) {
		t.Helper()
		equalIDs(t, "deliveries", sink.ids(), testIDs(1, 5))
		equalIDs(t, "attempts: three at the bad one, the third followed by its quarantined copy", sink.attemptIDs(),
			[]string{testID(1), testID(2), testID(3), testID(3), testID(3), testID(3), testID(4), testID(5)})
		got := sink.delivered()
		if len(got) != 5 {
			t.FailNow()
		}
		q := got[2]
		if !q.Quarantined || !strings.Contains(q.QuarantineReason, "in 3 attempts") || !strings.Contains(q.QuarantineReason, errPoison.Error()) {
			t.Errorf("bad message: quarantined=%v reason %q, want the attempts and the error", q.Quarantined, q.QuarantineReason)
		}
		if !bytes.Equal(q.Raw, testMail(3)) || q.ExternalID != testID(3) || q.From.Value != "customer3@example.org" || q.Subject != "request 3" {
			t.Errorf("bad message lost its bytes or header: %+v", Summarize(q))
		}
		for _, i := range []int{0, 1, 3, 4} {
			if got[i].Quarantined {
				t.Errorf("%s quarantined: %s", got[i].MessageID, got[i].QuarantineReason)
			}
		}
		if c := cursors.get(testChannel, "INBOX"); c != [2]uint32{uv, 5} {
			t.Errorf("cursor = %v, want [%d 5]", c, uv)
		}
		if f := cursors.failure(testChannel, "INBOX"); f != (failure{}) {
			t.Errorf("failure record %+v left behind after the cursor moved on", f)
		}
	}

	t.Run("restarts", func(t *testing.T) {
		t.Parallel()
		srv := dovecot.Start(t)
		appendN(t, srv, "INBOX", 1, 5)
		uv := srv.UIDValidity(t, srv.User(), "INBOX")
		sink, cursors := &fakeSink{fail: poison}, &fakeCursors{}
		// Each round is a new source on the same cursors: a restart.
		for round := 1; round <= 2; round++ {
			src, _ := dovecotSource(t, srv, sink, cursors, nil)
			if err := src.syncOnce(context.Background()); !errors.Is(err, errPoison) {
				t.Fatalf("round %d: syncOnce = %v, want the pipeline's error", round, err)
			}
			equalIDs(t, fmt.Sprintf("round %d: committed", round), sink.ids(), testIDs(1, 2))
			if c := cursors.get(testChannel, "INBOX"); c != [2]uint32{uv, 2} {
				t.Fatalf("round %d: cursor = %v, want [%d 2]", round, c, uv)
			}
			if f := cursors.failure(testChannel, "INBOX"); f.uid != 3 || f.attempts != round || !strings.Contains(f.err, errPoison.Error()) {
				t.Errorf("round %d: failure record %+v", round, f)
			}
		}
		src, _ := dovecotSource(t, srv, sink, cursors, nil)
		if err := src.syncOnce(context.Background()); err != nil {
			t.Fatalf("third round: %v", err)
		}
		check(t, sink, cursors, uv)
	})

	// When even the header of the message is what the pipeline cannot
	// store, only its raw bytes, id and the reason are.
	t.Run("its header cannot be stored either", func(t *testing.T) {
		t.Parallel()
		srv := dovecot.Start(t)
		appendN(t, srv, "INBOX", 1, 3)
		uv := srv.UIDValidity(t, srv.User(), "INBOX")
		sink := &fakeSink{fail: func(n int, in message.Inbound) error {
			if in.ExternalID == testID(2) && in.From.Value != "" {
				return errPoison
			}
			return nil
		}}
		cursors := &fakeCursors{}
		src, _ := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.MaxAttempts = 1 })
		if err := src.syncOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := sink.delivered()
		if len(got) != 3 || got[1].ExternalID != testID(2) || !got[1].Quarantined || got[1].From.Value != "" ||
			!bytes.Equal(got[1].Raw, testMail(2)) || !strings.Contains(got[1].QuarantineReason, errPoison.Error()) {
			t.Fatalf("delivered %+v", got)
		}
		if c := cursors.get(testChannel, "INBOX"); c != [2]uint32{uv, 3} {
			t.Errorf("cursor = %v, want [%d 3]", c, uv)
		}
	})

	t.Run("reconnects under Run", func(t *testing.T) {
		t.Parallel()
		srv := dovecot.Start(t)
		appendN(t, srv, "INBOX", 1, 5)
		uv := srv.UIDValidity(t, srv.User(), "INBOX")
		sink, cursors := &fakeSink{fail: poison}, &fakeCursors{}
		src, logs := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.PollInterval = time.Hour })
		stop := runSource(t, src)
		waitFor(t, "all five", func() bool { return len(sink.ids()) == 5 })
		stop()
		check(t, sink, cursors, uv)
		if !strings.Contains(logs.String(), "stored it quarantined") {
			t.Error("the quarantine was not logged")
		}
	})
}

// When the store itself is down, every ingest fails, the quarantined copy
// included: nothing may be skipped, the cursor stays, and once the store is
// back the mail comes in as it is, not quarantined.
func TestIMAPStoreDownSkipsNothing(t *testing.T) {
	t.Parallel()
	errDown := errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	srv := dovecot.Start(t)
	appendN(t, srv, "INBOX", 1, 3)
	uv := srv.UIDValidity(t, srv.User(), "INBOX")
	var down atomic.Bool
	down.Store(true)
	sink := &fakeSink{fail: func(int, message.Inbound) error {
		if down.Load() {
			return errDown
		}
		return nil
	}}
	cursors := &fakeCursors{}
	for round := 1; round <= 5; round++ {
		src, _ := dovecotSource(t, srv, sink, cursors, nil)
		if err := src.syncOnce(context.Background()); !errors.Is(err, errDown) {
			t.Fatalf("round %d: syncOnce = %v, want the store's error", round, err)
		}
		if c := cursors.get(testChannel, "INBOX"); c != [2]uint32{uv, 0} {
			t.Fatalf("round %d: cursor = %v, want [%d 0]: nothing was stored", round, c, uv)
		}
	}
	if n := len(sink.ids()); n != 0 {
		t.Fatalf("%d messages committed while the store was down", n)
	}
	var quarantinedTries int
	for _, in := range sink.tried() {
		if in.Quarantined {
			quarantinedTries++
		}
	}
	if quarantinedTries != 6 { // rounds 3, 4 and 5 tried both quarantined copies too
		t.Errorf("%d quarantined tries, want 6", quarantinedTries)
	}

	down.Store(false)
	src, _ := dovecotSource(t, srv, sink, cursors, nil)
	if err := src.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalIDs(t, "after the store came back", sink.ids(), testIDs(1, 3))
	for _, in := range sink.delivered() {
		if in.Quarantined {
			t.Errorf("%s quarantined because the store had been down: %s", in.MessageID, in.QuarantineReason)
		}
	}
	if c := cursors.get(testChannel, "INBOX"); c != [2]uint32{uv, 3} {
		t.Errorf("cursor = %v, want [%d 3]", c, uv)
	}
}

func TestIMAPReconnect(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	appendN(t, srv, "INBOX", 1, 1)
	sink := &fakeSink{}
	src, logs := dovecotSource(t, srv, sink, &fakeCursors{}, func(c *IMAPConfig) { c.PollInterval = time.Hour })
	runSource(t, src)
	waitFor(t, "the first sync", func() bool { return sink.has(testID(1)) })
	waitFor(t, "idle", func() bool { return strings.Contains(logs.String(), "mode=idle") })

	srv.Stop()
	waitFor(t, "the source to notice", func() bool { return strings.Contains(logs.String(), "reconnecting") })
	srv.Restart(t)
	srv.Append(t, srv.User(), "INBOX", testMail(2))
	waitFor(t, "the mail appended after the restart", func() bool { return sink.has(testID(2)) })
	equalIDs(t, "deliveries", sink.ids(), testIDs(1, 2))
	if strings.Contains(logs.String(), srv.Password()) {
		t.Error("the password appears in the source's log")
	}
}

func TestIMAPOversizedQuarantined(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	const limit = 4096
	big := testMail(2)
	big = append(big, bytes.Repeat([]byte("filler line of a large attachment\r\n"), 600)...)
	big = append(big, "BODY-END-MARKER\r\n"...)
	srv.Append(t, srv.User(), "INBOX", testMail(1))
	srv.Append(t, srv.User(), "INBOX", big)
	srv.Append(t, srv.User(), "INBOX", testMail(3))
	sink, cursors := &fakeSink{}, &fakeCursors{}
	src, _ := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.MaxMessageSize = limit })
	if err := src.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.delivered()
	equalIDs(t, "deliveries", messageIDs(got), testIDs(1, 3))
	if len(got) != 3 {
		t.FailNow()
	}
	if got[0].Quarantined || got[2].Quarantined {
		t.Errorf("small messages quarantined: %q, %q", got[0].QuarantineReason, got[2].QuarantineReason)
	}
	q := got[1]
	if !q.Quarantined || !strings.Contains(q.QuarantineReason, "4096-byte limit") {
		t.Errorf("oversized message: quarantined=%v reason=%q", q.Quarantined, q.QuarantineReason)
	}
	if bytes.Contains(q.Raw, []byte("BODY-END-MARKER")) || len(q.Raw) > limit {
		t.Errorf("oversized message was downloaded whole (%d bytes kept)", len(q.Raw))
	}
	if !bytes.Contains(q.Raw, []byte("Subject: request 2")) || q.Subject != "request 2" || q.From.Value != "customer2@example.org" {
		t.Errorf("oversized message lost its header: subject %q from %q raw %q", q.Subject, q.From.Value, q.Raw)
	}
	if got := cursors.get(testChannel, "INBOX"); got[1] != 3 {
		t.Errorf("cursor = %v, want last UID 3", got)
	}
}

func TestIMAPBatchesLogProgress(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	var raws [][]byte
	for i := 1; i <= 10; i++ {
		raws = append(raws, testMail(i))
	}
	srv.SeedMaildir(t, "INBOX", raws)
	sink, cursors := &fakeSink{}, &fakeCursors{}
	src, logs := dovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.BatchSize = 3 })
	if err := src.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	equalIDs(t, "deliveries", sink.ids(), testIDs(1, 10))
	for _, done := range []string{"3", "6", "9", "10"} {
		if want := "msg=\"imap sync\" channel_id=7"; !strings.Contains(logs.String(), want) {
			t.Fatalf("no %s line in log", want)
		}
		if want := "mailbox=INBOX done=" + done + " total=10"; !strings.Contains(logs.String(), want) {
			t.Errorf("progress %q not logged", want)
		}
	}
	// The cursor moved after every message: a crash loses at most one
	// message's acknowledgement, never a batch.
	cursors.mu.Lock()
	saves := slices.Clone(cursors.saves)
	cursors.mu.Unlock()
	var last []uint32
	for _, s := range saves {
		last = append(last, s[1])
	}
	if want := []uint32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}; !slices.Equal(last, want) {
		t.Errorf("cursor saves %v, want %v", last, want)
	}
}

func TestIMAPTLS(t *testing.T) {
	t.Parallel()
	srv := dovecot.StartWith(t, dovecot.Options{TLS: true})
	appendN(t, srv, "INBOX", 1, 2)
	tests := []struct {
		name     string
		security string
		addr     string
		trusted  bool
		wantErr  string
	}{
		{"implicit TLS", IMAPSecurityTLS, srv.TLSAddr(), true, ""},
		{"STARTTLS", IMAPSecuritySTARTTLS, srv.Addr(), true, ""},
		{"implicit TLS, untrusted certificate", IMAPSecurityTLS, srv.TLSAddr(), false, "certificate"},
		{"STARTTLS, untrusted certificate", IMAPSecuritySTARTTLS, srv.Addr(), false, "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &fakeSink{}
			src, _ := dovecotSource(t, srv, sink, &fakeCursors{}, func(c *IMAPConfig) {
				c.Security, c.Addr = tt.security, tt.addr
				if tt.trusted {
					c.TLSConfig = srv.ClientTLSConfig()
				}
			})
			err := src.syncOnce(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("syncOnce = %v, want an error about %q", err, tt.wantErr)
				}
				if len(sink.ids()) != 0 {
					t.Error("mail delivered over an untrusted connection")
				}
				return
			}
			if err != nil {
				t.Fatalf("syncOnce: %v", err)
			}
			equalIDs(t, "deliveries", sink.ids(), testIDs(1, 2))
		})
	}
}

func TestIMAPWrongPassword(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	const wrong = "wrong-pw-5f3a9c"
	src, logs := dovecotSource(t, srv, &fakeSink{}, &fakeCursors{}, func(c *IMAPConfig) { c.Password = wrong })
	err := src.syncOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("syncOnce = %v, want a login error", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error reveals the password: %v", err)
	}
	// Dovecot delays repeated failed logins from one address by seconds,
	// so one failure under Run is all this waits for.
	runSource(t, src)
	waitFor(t, "a failed login under Run", func() bool { return strings.Contains(logs.String(), "reconnecting") })
	if strings.Contains(logs.String(), wrong) {
		t.Error("the password appears in the log")
	}
}

func TestIMAPLogsOutOnCancel(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.SeedMaildir(t, "INBOX", [][]byte{testMail(1)}) // no IMAP session of our own
	sink := &fakeSink{}
	src, logs := dovecotSource(t, srv, sink, &fakeCursors{}, func(c *IMAPConfig) { c.PollInterval = time.Hour })
	loggedOut := func() int { return strings.Count(srv.Log(), "Disconnected: Logged out") }

	if err := src.syncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "syncOnce's logout in dovecot's log", func() bool { return loggedOut() == 1 })

	stop := runSource(t, src)
	waitFor(t, "idle", func() bool { return strings.Contains(logs.String(), "mode=idle") })
	stop()
	waitFor(t, "Run's logout in dovecot's log", func() bool { return loggedOut() == 2 })
	for _, line := range strings.Split(srv.Log(), "\n") {
		if strings.Contains(line, "imap("+srv.User()+")") && strings.Contains(line, "Disconnected") && !strings.Contains(line, "Logged out") {
			t.Errorf("session ended without LOGOUT: %s", line)
		}
	}
}

// BenchmarkIMAPSyncOnce measures a first sync of 2,000 small mails (the
// size of the crash test's mailbox) into a sink that does nothing.
func BenchmarkIMAPSyncOnce(b *testing.B) {
	srv := dovecot.Start(b)
	const n = 2000
	raws := make([][]byte, n)
	for i := range raws {
		raws[i] = testMail(i + 1)
	}
	srv.SeedMaildir(b, "INBOX", raws)
	log := slog.New(slog.DiscardHandler)
	for b.Loop() {
		sink := &fakeSink{}
		src, err := NewIMAPSource(IMAPConfig{
			ChannelID: testChannel, Addr: srv.Addr(), Security: IMAPSecurityPlain,
			Username: srv.User(), Password: srv.Password(),
		}, sink, &fakeCursors{}, log)
		if err != nil {
			b.Fatal(err)
		}
		if err := src.syncOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		if got := len(sink.delivered()); got != n {
			b.Fatalf("delivered %d, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n), "mails/op")
}
