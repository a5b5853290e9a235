package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// A batch commits in one transaction with its after hook: each message
// deduplicated on its key as if alone (a copy later in the batch is a
// duplicate of the first), tickets numbered in order without gaps; a
// failure anywhere, in a message or in the hook, commits nothing.
func TestIngestBatch(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			e.process(t, e.mail("before@x", "old@example.edu", "Projector", "projector broken"))

			raw := []byte("From: a@example.edu\r\n\r\nraw copy\r\n")
			ins := []message.Inbound{
				e.mail("b1@x", "a@example.edu", "Projector", "projector broken"),
				e.mail("before@x", "old@example.edu", "Projector", "projector broken"),
				e.mail("b2@x", "b@example.edu", "Projector", "also the speakers"),
				e.mail("b1@x", "a@example.edu", "Projector", "projector broken"),
			}
			ins[0].Raw = raw

			// The hook fails: nothing of the batch is kept, and it is said.
			errHook := errors.New("cursor refused")
			if _, err := e.p.IngestBatch(ctx, ins, func(context.Context, *store.Tx) error { return errHook }); !errors.Is(err, errHook) {
				t.Fatalf("IngestBatch with a failing hook: %v, want its error", err)
			}
			if n := e.count(t, `SELECT count(*) FROM messages`); n != 1 {
				t.Errorf("%d messages after a failed batch, want 1 (the one before)", n)
			}
			if n := e.count(t, `SELECT count(*) FROM blob_data`); n != 0 {
				t.Errorf("%d raw copies kept from a failed batch, want none", n)
			}
			// A message the pipeline refuses fails the batch up front.
			bad := append(append([]message.Inbound{}, ins...), message.Inbound{ChannelID: e.email, Channel: message.Email})
			if _, err := e.p.IngestBatch(ctx, bad, nil); err == nil {
				t.Fatal("a batch with a message without an id was accepted")
			}

			hooked := false
			rs, err := e.p.IngestBatch(ctx, ins, func(ctx context.Context, tx *store.Tx) error {
				hooked = true
				return tx.SaveCursor(ctx, e.email, "INBOX", 9, 42)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !hooked || len(rs) != len(ins) {
				t.Fatalf("hook ran %v, %d results for %d messages", hooked, len(rs), len(ins))
			}
			wantDup := []bool{false, true, false, true}
			for i, r := range rs {
				if r.Duplicate != wantDup[i] {
					t.Errorf("message %d (%s): duplicate %v, want %v", i, ins[i].ExternalID, r.Duplicate, wantDup[i])
				}
			}
			if rs[3].MessageID != rs[0].MessageID {
				t.Errorf("the copy in the batch names message %d, want %d", rs[3].MessageID, rs[0].MessageID)
			}
			if rs[0].TicketRef == "" || rs[2].TicketRef == "" || rs[0].TicketRef >= rs[2].TicketRef {
				t.Errorf("tickets %q, %q: want two, numbered in batch order", rs[0].TicketRef, rs[2].TicketRef)
			}
			if n := e.count(t, `SELECT count(*) FROM messages`); n != 3 {
				t.Errorf("%d messages, want 3", n)
			}
			if n := e.count(t, `SELECT count(*) FROM messages WHERE raw_sha256 <> ''`); n != 1 {
				t.Errorf("%d messages with a raw copy, want 1", n)
			}
			// The small raw copy is a row of the batch's transaction.
			var sha string
			if err := e.st.DB().QueryRowContext(ctx, `SELECT raw_sha256 FROM messages WHERE raw_sha256 <> ''`).Scan(&sha); err != nil {
				t.Fatal(err)
			}
			if f, err := e.st.OpenBlob(ctx, sha); err != nil {
				t.Errorf("raw copy %s: %v", sha, err)
			} else {
				got, err := io.ReadAll(f)
				f.Close()
				if err != nil || string(got) != string(raw) {
					t.Errorf("raw copy reads %q (%v), want %q", got, err, raw)
				}
			}
			if n := e.count(t, `SELECT max(last_number) FROM ticket_counters`); n != 3 {
				t.Errorf("ticket counter at %d, want 3 (no gap from the failed batches)", n)
			}
			if _, last, err := e.st.Cursor(ctx, e.email, "INBOX"); err != nil || last != 42 {
				t.Errorf("cursor at %d (%v), want 42 from the hook's transaction", last, err)
			}
		})
	}
}

// fieldsIndexer is a termIndexer that splits at white space.
type fieldsIndexer struct{}

func (fieldsIndexer) Terms(texts ...string) []string { return strings.Fields(strings.Join(texts, " ")) }

// A batch is classified and its search terms made before its transaction,
// on several goroutines when it is large: each message gets its own
// result, in order, the quarantined none.
func TestPrepareBatch(t *testing.T) {
	cls := testClassifier()
	index := func(subject, text string) []string { return strings.Fields(subject + " " + text) }
	newIndex := func() termIndexer { return fieldsIndexer{} }
	texts := []string{"projector broken", "how do I get clearance", "my grade is wrong", "something else", "البروجكتر خربان"}
	for _, n := range []int{0, 1, classifyPerWorker - 1, 5 * classifyPerWorker} {
		ins := make([]message.Inbound, n)
		for i := range ins {
			ins[i] = message.Inbound{Channel: message.Email, From: message.Party{Kind: message.IdentityEmail, Value: "a@example.edu"}, Subject: fmt.Sprint("s", i), Text: texts[i%len(texts)]}
			ins[i].Quarantined = i%7 == 3
		}
		got := prepareBatch(cls, newIndex, ins, 2)
		if len(got) != n {
			t.Fatalf("%d messages: %d results", n, len(got))
		}
		for i, r := range got {
			want := prepared{class: cls.Classify(classifyInput(ins[i], "a@example.edu")), terms: index(ins[i].Subject, ins[i].Text)}
			if ins[i].Quarantined {
				want = prepared{}
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("%d messages, #%d (%q, quarantined %v): %+v, want %+v", n, i, ins[i].Text, ins[i].Quarantined, r, want)
			}
		}
	}
}
