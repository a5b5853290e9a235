package email

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// poisonSink is the real pipeline, but a batch holding the poison mail
// fails inside its transaction, after every message and the cursor were
// written: the rollback must take all of them back. The poison mail goes
// in only quarantined.
type poisonSink struct {
	p      *router.Pipeline
	poison string // its ExternalID

	mu      sync.Mutex
	batches [][]string // ExternalIDs of each IngestMailbox call, committed or not
}

var errPoison = errors.New("poison mail")

func (s *poisonSink) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	r, err := s.p.Process(ctx, in)
	return r.Outcome, err
}

func (s *poisonSink) IngestMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, ins []message.Inbound) ([]message.Outcome, error) {
	var ids []string
	bad := false
	for _, in := range ins {
		ids = append(ids, in.ExternalID)
		bad = bad || (in.ExternalID == s.poison && !in.Quarantined)
	}
	s.mu.Lock()
	s.batches = append(s.batches, ids)
	s.mu.Unlock()
	rs, err := s.p.IngestBatch(ctx, ins, func(ctx context.Context, tx *store.Tx) error {
		if err := tx.SaveCursor(ctx, channelID, mailbox, uidValidity, lastUID); err != nil {
			return err
		}
		if bad {
			return errPoison
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make([]message.Outcome, len(rs))
	for i, r := range rs {
		out[i] = r.Outcome
	}
	return out, nil
}

func (s *poisonSink) calls() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.batches)
}

// A first sync in batches, on both stores: a batch with a mail already
// stored, a mail twice in the mailbox and a mail that cannot be stored
// fails as a whole, is ingested again one mail at a time, and after
// MaxAttempts syncs every mail is stored exactly once (the bad one
// quarantined) and the cursor is past them all. Mail that arrives later
// commits as one batch, with its cursor.
func TestIMAPBatchIngest(t *testing.T) {
	for _, db := range []struct {
		name string
		dsn  func(t *testing.T) string
	}{
		{"sqlite", func(*testing.T) string { return "" }},
		{"postgres", func(t *testing.T) string { return dbtest.PostgresURL(t, store.MigrateAt) }},
	} {
		t.Run(db.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			srv := dovecot.Start(t)
			// Mail 4 is mail 2 delivered again; mail 7 is the poison.
			var raws [][]byte
			for i := 1; i <= 10; i++ {
				n := i
				if i == 4 {
					n = 2
				}
				raws = append(raws, testMail(n))
			}
			srv.SeedMaildir(t, "INBOX", raws)
			st, p := benchPipeline(t, db.dsn(t))
			// Mail 1 is already stored (a webhook, another replica).
			first := Parse(testMail(1), ParseOptions{ChannelID: testChannel})
			first.ChannelID, first.Channel = testChannel, message.Email
			if _, err := p.Process(ctx, first); err != nil {
				t.Fatal(err)
			}
			sink := &poisonSink{p: p, poison: testID(7)}
			src, logs := dovecotSource(t, srv, sink, st, func(c *IMAPConfig) { c.MaxAttempts = 3 })
			uv := srv.UIDValidity(t, srv.User(), "INBOX")

			for attempt := 1; attempt <= 2; attempt++ {
				err := src.syncOnce(ctx)
				if !errors.Is(err, errPoison) {
					t.Fatalf("sync %d: %v, want the poison mail's error", attempt, err)
				}
				if _, last, _ := st.Cursor(ctx, testChannel, "INBOX"); last != 6 {
					t.Errorf("sync %d: cursor at %d, want 6 (the mail before the poison)", attempt, last)
				}
			}
			if err := src.syncOnce(ctx); err != nil {
				t.Fatalf("third sync: %v", err)
			}
			if v, last, _ := st.Cursor(ctx, testChannel, "INBOX"); v != uv || last != 10 {
				t.Errorf("cursor = (%d, %d), want (%d, 10)", v, last, uv)
			}
			ids, quarantined := storedMail(t, st)
			equalIDs(t, "stored, each once", ids, append(testIDs(1, 3), testIDs(5, 10)...))
			equalIDs(t, "quarantined", quarantined, []string{testID(7)})
			if !strings.Contains(logs.String(), "ingesting its messages one at a time") {
				t.Error("no log line says the batch fell back to one mail at a time")
			}
			calls := sink.calls()
			if len(calls) == 0 || len(calls[0]) != 10 {
				t.Fatalf("first call %v, want the whole mailbox (10 mails) as one batch", calls)
			}

			// New mail: one batch, one commit with its cursor.
			before := len(sink.calls())
			srv.SeedMaildir(t, "INBOX", [][]byte{testMail(11), testMail(12), testMail(13)})
			if err := src.syncOnce(ctx); err != nil {
				t.Fatal(err)
			}
			if got := sink.calls()[before:]; len(got) != 1 || !slices.Equal(got[0], testIDs(11, 13)) {
				t.Errorf("new mail ingested in calls %v, want one batch of 11-13", got)
			}
			if _, last, _ := st.Cursor(ctx, testChannel, "INBOX"); last != 13 {
				t.Errorf("cursor at %d after new mail, want 13", last)
			}
			if !strings.Contains(logs.String(), "progress=\"3 / 3\"") {
				t.Errorf("no progress line \"3 / 3\" in the log:\n%s", logs.String())
			}
		})
	}
}

// storedMail lists the stored messages' external ids in id order, and the
// quarantined ones.
func storedMail(t *testing.T, st *store.Store) (ids, quarantined []string) {
	t.Helper()
	rows, err := st.DB().QueryContext(context.Background(), `SELECT external_id, quarantined FROM messages ORDER BY external_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var q bool
		if err := rows.Scan(&id, &q); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if q {
			quarantined = append(quarantined, id)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ids, compareTestIDs)
	slices.SortFunc(quarantined, compareTestIDs)
	return ids, quarantined
}

func compareTestIDs(a, b string) int {
	var x, y int
	fmt.Sscanf(a, "m%d@", &x)
	fmt.Sscanf(b, "m%d@", &y)
	return x - y
}

// preparingSink is the real pipeline, and it keeps the batches it was asked
// to prepare: what it is asked to commit must be what it prepared.
type preparingSink struct {
	*router.Pipeline

	mu       sync.Mutex
	prepared map[any][]string // ExternalIDs by prepared batch, until committed
	unknown  int              // commits of a batch it did not prepare
	commits  int
}

func (s *preparingSink) PrepareMailbox(ins []message.Inbound) any {
	b := s.Pipeline.PrepareMailbox(ins)
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ExternalID)
	}
	s.mu.Lock()
	s.prepared[b] = ids
	s.mu.Unlock()
	return b
}

func (s *preparingSink) IngestPreparedMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, prepared any) ([]message.Outcome, error) {
	s.mu.Lock()
	if _, ok := s.prepared[prepared]; ok {
		delete(s.prepared, prepared)
		s.commits++
	} else {
		s.unknown++
	}
	s.mu.Unlock()
	return s.Pipeline.IngestPreparedMailbox(ctx, channelID, mailbox, uidValidity, lastUID, prepared)
}

// A sink that prepares batches gets each one the fetcher fetched to
// prepare, in the fetcher's goroutine, and commits each once, as prepared:
// every mail stored once, the cursor at the end.
func TestIMAPBatchPrepared(t *testing.T) {
	ctx := context.Background()
	srv := dovecot.Start(t)
	var raws [][]byte
	for i := 1; i <= 25; i++ {
		raws = append(raws, testMail(i))
	}
	srv.SeedMaildir(t, "INBOX", raws)
	st, p := benchPipeline(t, "")
	sink := &preparingSink{Pipeline: p, prepared: map[any][]string{}}
	src, _ := dovecotSource(t, srv, sink, st, func(c *IMAPConfig) { c.BatchSize = 10 })
	if err := src.syncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	ids, _ := storedMail(t, st)
	equalIDs(t, "stored, each once", ids, testIDs(1, 25))
	if _, last, _ := st.Cursor(ctx, testChannel, "INBOX"); last != 25 {
		t.Errorf("cursor at %d, want 25", last)
	}
	if sink.commits != 3 || sink.unknown != 0 || len(sink.prepared) != 0 {
		t.Errorf("%d prepared batches committed, %d unprepared, %d left; want 3, 0, 0", sink.commits, sink.unknown, len(sink.prepared))
	}
}
