package email

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
)

// These tests run the source against a real Dovecot on 127.0.0.1 (see
// internal/dovecot). Only our own interfaces, Ingester and CursorStore, are
// faked.

const imapTestChannel = 7

func imapDovecotSource(t *testing.T, srv *dovecot.Server, sink Ingester, cursors CursorStore, edit func(*IMAPConfig)) (*IMAPSource, *imapLogBuffer) {
	t.Helper()
	cfg := IMAPConfig{
		ChannelID:  imapTestChannel,
		Addr:       srv.Addr(),
		Security:   IMAPSecurityPlain,
		Username:   srv.User(),
		Password:   srv.Password(),
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	}
	if edit != nil {
		edit(&cfg)
	}
	log, logs := imapTestLogger(t)
	src, err := NewIMAPSource(cfg, sink, cursors, log)
	if err != nil {
		t.Fatalf("NewIMAPSource: %v", err)
	}
	return src, logs
}

// imapRun runs src.Run until the test ends and checks that it returns nil
// promptly once cancelled.
func imapRun(t *testing.T, src *IMAPSource) (cancel func()) {
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

func imapAppendN(t *testing.T, srv *dovecot.Server, mailbox string, from, to int) {
	t.Helper()
	for i := from; i <= to; i++ {
		srv.Append(t, srv.User(), mailbox, imapTestMail(i))
	}
}

func imapEqual(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

func TestIMAPSyncOnce(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	imapAppendN(t, srv, "INBOX", 1, 3)
	sink, cursors := &imapFakeSink{}, &imapFakeCursors{}
	src, _ := imapDovecotSource(t, srv, sink, cursors, nil)
	ctx := context.Background()
	uv := srv.UIDValidity(t, srv.User(), "INBOX")

	if err := src.SyncOnce(ctx); err != nil {
		t.Fatalf("first SyncOnce: %v", err)
	}
	imapEqual(t, "first sync", sink.ids(), imapTestIDs(1, 3))
	if got := cursors.get(imapTestChannel, "INBOX"); got != [2]uint32{uv, 3} {
		t.Errorf("cursor = %v, want [%d 3]", got, uv)
	}
	for i, in := range sink.delivered() {
		if in.ChannelID != imapTestChannel || in.Channel != message.Email {
			t.Errorf("message %d: channel %d/%q", i, in.ChannelID, in.Channel)
		}
		if !bytes.Equal(in.Raw, imapTestMail(i+1)) {
			t.Errorf("message %d: Raw is not the mail as stored", i)
		}
		if in.ReceivedAt.IsZero() || in.Quarantined {
			t.Errorf("message %d: ReceivedAt %v, quarantined %v (%s)", i, in.ReceivedAt, in.Quarantined, in.QuarantineReason)
		}
	}

	if err := src.SyncOnce(ctx); err != nil {
		t.Fatalf("second SyncOnce: %v", err)
	}
	imapEqual(t, "a sync with nothing new", sink.ids(), imapTestIDs(1, 3))

	imapAppendN(t, srv, "INBOX", 4, 5)
	if err := src.SyncOnce(ctx); err != nil {
		t.Fatalf("third SyncOnce: %v", err)
	}
	imapEqual(t, "after two more", sink.ids(), imapTestIDs(1, 5))
	if got := cursors.get(imapTestChannel, "INBOX"); got != [2]uint32{uv, 5} {
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

func TestIMAPFixtures(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	files := []string{"english.eml", "arabic.eml", "no-message-id.eml"}
	for _, f := range files {
		srv.Append(t, srv.User(), "INBOX", imapFixture(t, f))
	}
	sink := &imapFakeSink{}
	src, _ := imapDovecotSource(t, srv, sink, &imapFakeCursors{}, nil)
	if err := src.SyncOnce(context.Background()); err != nil {
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
	imapAppendN(t, srv, mb, 1, 3)
	sink, cursors := &imapFakeSink{}, &imapFakeCursors{}
	src, logs := imapDovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.Mailboxes = []string{mb} })
	ctx := context.Background()

	if err := src.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	before := cursors.get(imapTestChannel, mb)
	if before[1] != 3 {
		t.Fatalf("cursor after first sync = %v", before)
	}

	// The mailbox is re-created: same mails plus one, new UIDVALIDITY,
	// UIDs from 1 again (below the old cursor).
	srv.DeleteMailbox(t, srv.User(), mb)
	srv.CreateMailbox(t, srv.User(), mb)
	imapAppendN(t, srv, mb, 1, 4)
	uv := srv.UIDValidity(t, srv.User(), mb)
	if uv == before[0] {
		t.Fatalf("dovecot kept UIDVALIDITY %d", uv)
	}

	if err := src.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	all := sink.delivered()
	imapEqual(t, "second round re-synced from UID 1", imapMessageIDs(all[3:]), imapTestIDs(1, 4))
	imapEqual(t, "deduped by ExternalID", sink.duplicateIDs(), imapTestIDs(1, 3))
	if got := cursors.get(imapTestChannel, mb); got != [2]uint32{uv, 4} {
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
	imapAppendN(t, srv, "INBOX", 1, 1)
	if c := srv.Dial(t, srv.User()); !c.Caps().Has(imap.CapIdle) {
		t.Fatalf("dovecot does not advertise IDLE (%v): this test would prove nothing", c.Caps())
	}
	sink, cursors := &imapFakeSink{}, &imapFakeCursors{}
	// A poll would come only after an hour: arrival proves IDLE.
	src, logs := imapDovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) {
		c.PollInterval = time.Hour
		c.Mailboxes = []string{"INBOX", "Support"}
	})
	stop := imapRun(t, src)

	imapWaitFor(t, "the first sync", func() bool { return sink.has(imapTestID(1)) })
	imapWaitFor(t, "both mailboxes to idle", func() bool {
		return strings.Count(logs.String(), "mode=idle") == 2
	})
	srv.Append(t, srv.User(), "INBOX", imapTestMail(2))
	imapWaitFor(t, "the mail appended to INBOX while idling", func() bool { return sink.has(imapTestID(2)) })
	srv.Append(t, srv.User(), "Support", imapTestMail(3))
	imapWaitFor(t, "the mail appended to Support while idling", func() bool { return sink.has(imapTestID(3)) })
	stop()

	imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 3))
	if got := cursors.get(imapTestChannel, "Support"); got[1] != 1 {
		t.Errorf("Support cursor = %v, want last UID 1", got)
	}
	if got := cursors.get(imapTestChannel, "INBOX"); got[1] != 2 {
		t.Errorf("INBOX cursor = %v, want last UID 2", got)
	}
}

func TestIMAPPolling(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	imapAppendN(t, srv, "INBOX", 1, 1)
	sink := &imapFakeSink{}
	src, logs := imapDovecotSource(t, srv, sink, &imapFakeCursors{}, func(c *IMAPConfig) {
		c.DisableIdle = true
		c.PollInterval = 50 * time.Millisecond
	})
	imapRun(t, src)
	imapWaitFor(t, "the first sync", func() bool { return sink.has(imapTestID(1)) })
	srv.Append(t, srv.User(), "INBOX", imapTestMail(2))
	imapWaitFor(t, "the appended mail", func() bool { return sink.has(imapTestID(2)) })
	if !strings.Contains(logs.String(), "mode=poll") {
		t.Error("source did not report polling")
	}
	imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 2))
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
		run  func(t *testing.T, src *IMAPSource, sink *imapFakeSink, cursors *imapFakeCursors, uv uint32)
	}{
		{"SyncOnce", func(t *testing.T, src *IMAPSource, sink *imapFakeSink, cursors *imapFakeCursors, uv uint32) {
			err := src.SyncOnce(context.Background())
			if !errors.Is(err, errCommit) {
				t.Fatalf("SyncOnce = %v, want the sink's error", err)
			}
			imapEqual(t, "committed before the failure", sink.ids(), imapTestIDs(1, 2))
			if got := cursors.get(imapTestChannel, "INBOX"); got != [2]uint32{uv, 2} {
				t.Errorf("cursor = %v, want [%d 2]: it must not pass the failed message", got, uv)
			}
			if err := src.SyncOnce(context.Background()); err != nil {
				t.Fatalf("next SyncOnce: %v", err)
			}
		}},
		{"Run", func(t *testing.T, src *IMAPSource, sink *imapFakeSink, cursors *imapFakeCursors, uv uint32) {
			stop := imapRun(t, src)
			imapWaitFor(t, "all five", func() bool { return len(sink.ids()) == 5 })
			stop()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := dovecot.Start(t)
			imapAppendN(t, srv, "INBOX", 1, 5)
			sink, cursors := &imapFakeSink{fail: failThirdOnce}, &imapFakeCursors{}
			src, _ := imapDovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.PollInterval = time.Hour })
			uv := srv.UIDValidity(t, srv.User(), "INBOX")

			tt.run(t, src, sink, cursors, uv)

			imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 5))
			imapEqual(t, "attempts: the failed one again, nothing skipped", sink.attemptIDs(),
				[]string{imapTestID(1), imapTestID(2), imapTestID(3), imapTestID(3), imapTestID(4), imapTestID(5)})
			if got := cursors.get(imapTestChannel, "INBOX"); got != [2]uint32{uv, 5} {
				t.Errorf("cursor = %v, want [%d 5]", got, uv)
			}
		})
	}
}

func TestIMAPReconnect(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	imapAppendN(t, srv, "INBOX", 1, 1)
	sink := &imapFakeSink{}
	src, logs := imapDovecotSource(t, srv, sink, &imapFakeCursors{}, func(c *IMAPConfig) { c.PollInterval = time.Hour })
	imapRun(t, src)
	imapWaitFor(t, "the first sync", func() bool { return sink.has(imapTestID(1)) })
	imapWaitFor(t, "idle", func() bool { return strings.Contains(logs.String(), "mode=idle") })

	srv.Stop()
	imapWaitFor(t, "the source to notice", func() bool { return strings.Contains(logs.String(), "reconnecting") })
	srv.Restart(t)
	srv.Append(t, srv.User(), "INBOX", imapTestMail(2))
	imapWaitFor(t, "the mail appended after the restart", func() bool { return sink.has(imapTestID(2)) })
	imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 2))
	if strings.Contains(logs.String(), srv.Password()) {
		t.Error("the password appears in the source's log")
	}
}

func TestIMAPOversizedQuarantined(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	const limit = 4096
	big := imapTestMail(2)
	big = append(big, bytes.Repeat([]byte("filler line of a large attachment\r\n"), 600)...)
	big = append(big, "BODY-END-MARKER\r\n"...)
	srv.Append(t, srv.User(), "INBOX", imapTestMail(1))
	srv.Append(t, srv.User(), "INBOX", big)
	srv.Append(t, srv.User(), "INBOX", imapTestMail(3))
	sink, cursors := &imapFakeSink{}, &imapFakeCursors{}
	src, _ := imapDovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.MaxMessageSize = limit })
	if err := src.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.delivered()
	imapEqual(t, "deliveries", imapMessageIDs(got), imapTestIDs(1, 3))
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
	if got := cursors.get(imapTestChannel, "INBOX"); got[1] != 3 {
		t.Errorf("cursor = %v, want last UID 3", got)
	}
}

func TestIMAPBatchesLogProgress(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	var raws [][]byte
	for i := 1; i <= 10; i++ {
		raws = append(raws, imapTestMail(i))
	}
	srv.SeedMaildir(t, "INBOX", raws)
	sink, cursors := &imapFakeSink{}, &imapFakeCursors{}
	src, logs := imapDovecotSource(t, srv, sink, cursors, func(c *IMAPConfig) { c.BatchSize = 3 })
	if err := src.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 10))
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
	imapAppendN(t, srv, "INBOX", 1, 2)
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
			sink := &imapFakeSink{}
			src, _ := imapDovecotSource(t, srv, sink, &imapFakeCursors{}, func(c *IMAPConfig) {
				c.Security, c.Addr = tt.security, tt.addr
				if tt.trusted {
					c.TLSConfig = srv.ClientTLSConfig()
				}
			})
			err := src.SyncOnce(context.Background())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("SyncOnce = %v, want an error about %q", err, tt.wantErr)
				}
				if len(sink.ids()) != 0 {
					t.Error("mail delivered over an untrusted connection")
				}
				return
			}
			if err != nil {
				t.Fatalf("SyncOnce: %v", err)
			}
			imapEqual(t, "deliveries", sink.ids(), imapTestIDs(1, 2))
		})
	}
}

func TestIMAPWrongPassword(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	const wrong = "wrong-pw-5f3a9c"
	src, logs := imapDovecotSource(t, srv, &imapFakeSink{}, &imapFakeCursors{}, func(c *IMAPConfig) { c.Password = wrong })
	err := src.SyncOnce(context.Background())
	if err == nil || !strings.Contains(err.Error(), "login") {
		t.Fatalf("SyncOnce = %v, want a login error", err)
	}
	if strings.Contains(err.Error(), wrong) {
		t.Errorf("error reveals the password: %v", err)
	}
	// Dovecot delays repeated failed logins from one address by seconds,
	// so one failure under Run is all this waits for.
	imapRun(t, src)
	imapWaitFor(t, "a failed login under Run", func() bool { return strings.Contains(logs.String(), "reconnecting") })
	if strings.Contains(logs.String(), wrong) {
		t.Error("the password appears in the log")
	}
}

func TestIMAPLogsOutOnCancel(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t)
	srv.SeedMaildir(t, "INBOX", [][]byte{imapTestMail(1)}) // no IMAP session of our own
	sink := &imapFakeSink{}
	src, logs := imapDovecotSource(t, srv, sink, &imapFakeCursors{}, func(c *IMAPConfig) { c.PollInterval = time.Hour })
	loggedOut := func() int { return strings.Count(srv.Log(), "Disconnected: Logged out") }

	if err := src.SyncOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	imapWaitFor(t, "SyncOnce's logout in dovecot's log", func() bool { return loggedOut() == 1 })

	stop := imapRun(t, src)
	imapWaitFor(t, "idle", func() bool { return strings.Contains(logs.String(), "mode=idle") })
	stop()
	imapWaitFor(t, "Run's logout in dovecot's log", func() bool { return loggedOut() == 2 })
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
		raws[i] = imapTestMail(i + 1)
	}
	srv.SeedMaildir(b, "INBOX", raws)
	log := slog.New(slog.DiscardHandler)
	for b.Loop() {
		sink := &imapFakeSink{}
		src, err := NewIMAPSource(IMAPConfig{
			ChannelID: imapTestChannel, Addr: srv.Addr(), Security: IMAPSecurityPlain,
			Username: srv.User(), Password: srv.Password(),
		}, sink, &imapFakeCursors{}, log)
		if err != nil {
			b.Fatal(err)
		}
		if err := src.SyncOnce(context.Background()); err != nil {
			b.Fatal(err)
		}
		if got := len(sink.delivered()); got != n {
			b.Fatalf("delivered %d, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n), "mails/op")
}
