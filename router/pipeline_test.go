package router

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

// stubClassifier answers by text, so pipeline tests control the topic.
type stubClassifier map[string]classify.Result

func (s stubClassifier) Classify(in classify.Input) classify.Result {
	if r, ok := s[in.Text]; ok {
		return r
	}
	return classify.Result{Scope: classify.ScopeOut, Confidence: 0.1, Language: classify.English}
}

var (
	maintenance = classify.Result{Scope: classify.ScopeIn, Topic: "equipment_maintenance", Confidence: 0.9, Language: classify.Arabic}
	clearance   = classify.Result{Scope: classify.ScopeIn, Topic: "clearance", Confidence: 0.9, Language: classify.English}
	grades      = classify.Result{Scope: classify.ScopeOut, Topic: "grades_records", Confidence: 0.8, Language: classify.English}
)

func testClassifier() stubClassifier {
	return stubClassifier{
		"projector broken":         maintenance,
		"how do I get clearance":   clearance,
		"my grade is wrong":        grades,
		"also the speakers":        maintenance,
		"and the screen please":    maintenance,
		"البروجكتر خربان":          maintenance,
		"anything for the window?": clearance,
	}
}

type env struct {
	st    *store.Store
	p     *Pipeline
	jobs  *river.Client[*sql.Tx]
	chans testChannels
	now   time.Time
	email int64
	sms   int64
	wa    int64
}

func stores(t *testing.T) map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"sqlite":   func(*testing.T) string { return "" },
		"postgres": func(t *testing.T) string { return dbtest.PostgresURL(t, store.MigrateAt) },
	}
}

// newEnv opens a copy of a migrated database: dsn as stores gives it, ""
// for SQLite.
func newEnv(t testing.TB, dsn string) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	if dsn == "" {
		dir = dbtest.SQLiteDir(t, store.MigrateAt)
	}
	st, err := store.Open(ctx, dsn, dir, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, jobs: jobs, now: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)} // Sunday 09:00 Riyadh
	for _, c := range []struct {
		name string
		kind message.Kind
		id   *int64
	}{{"mail", message.Email, &e.email}, {"sms", message.SMS, &e.sms}, {"wa", message.WhatsApp, &e.wa}} {
		ch := store.Channel{Name: c.name, Kind: c.kind, Enabled: true}
		if err := st.UpsertChannel(ctx, &ch); err != nil {
			t.Fatal(err)
		}
		*c.id = ch.ID
	}
	smsCh, err := sms.New(sms.Config{ChannelID: e.sms, Name: "sms", AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "token",
		From: "+966500000000", PublicURL: "https://wasl.test"}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	e.chans = testChannels{shapers: map[int64]ReplyShaper{e.sms: smsCh}, mail: map[int64]string{e.email: "test.wasl"}}
	e.p = e.pipeline(bank, testClassifier())
	return e
}

// pipeline builds the env's pipeline on another bank and classifier.
func (e *env) pipeline(bank *replies.Bank, cls Classifier) *Pipeline {
	return New(e.st, cls, bank, e.jobs, e.chans, Config{TicketPrefix: "EDU", Now: func() time.Time { return e.now }}, quiet)
}

// testChannels is the binary's channel registry in small: the real SMS
// channel sizes replies, the email package makes Message-IDs.
type testChannels struct {
	shapers map[int64]ReplyShaper
	mail    map[int64]string // email channel id → mail domain
}

func (c testChannels) Shaper(id int64) (ReplyShaper, bool) {
	s, ok := c.shapers[id]
	return s, ok
}

func (c testChannels) NewMessageID(id int64) string {
	if d, ok := c.mail[id]; ok {
		return email.NewMessageID(d)
	}
	return ""
}

func (e *env) mail(id, from, subject, text string) message.Inbound {
	return message.Inbound{ChannelID: e.email, Channel: message.Email, ExternalID: id, MessageID: id,
		From: message.Party{Kind: message.IdentityEmail, Value: from}, Subject: subject, Text: text}
}

func (e *env) phone(kind message.Kind, id, from, text string) message.Inbound {
	ch := e.sms
	if kind == message.WhatsApp {
		ch = e.wa
	}
	return message.Inbound{ChannelID: ch, Channel: kind, ExternalID: id,
		From: message.Party{Kind: message.IdentityPhone, Value: from}, Text: text}
}

func (e *env) process(t *testing.T, in message.Inbound) Result {
	t.Helper()
	r, err := e.p.Process(context.Background(), in)
	if err != nil {
		t.Fatalf("Process(%s): %v", in.ExternalID, err)
	}
	return r
}

// processAtOnce processes ins each in a goroutine of its own, all at once,
// and returns the results of those that went through; an error fails t.
func (e *env) processAtOnce(t *testing.T, ins []message.Inbound) []Result {
	t.Helper()
	var wg sync.WaitGroup
	results := make([]Result, len(ins))
	ok := make([]bool, len(ins))
	for i, in := range ins {
		wg.Go(func() {
			r, err := e.p.Process(context.Background(), in)
			if err != nil {
				t.Errorf("Process(%s): %v", in.ExternalID, err)
				return
			}
			results[i], ok[i] = r, true
		})
	}
	wg.Wait()
	var out []Result
	for i, r := range results {
		if ok[i] {
			out = append(out, r)
		}
	}
	return out
}

func (e *env) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if e.st.Dialect() == store.Postgres {
		q = rebindPG(q)
	}
	if err := e.st.DB().QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func rebindPG(q string) string {
	out, n := []byte{}, 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			out = append(out, fmt.Sprintf("$%d", n)...)
			continue
		}
		out = append(out, q[i])
	}
	return string(out)
}

func TestPipeline(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("duplicate is a no-op", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				in := e.mail("m1@x", "a@example.edu", "Projector", "projector broken")
				r1 := e.process(t, in)
				r2 := e.process(t, in)
				if r1.Duplicate || !r2.Duplicate || r2.MessageID != r1.MessageID {
					t.Fatalf("first %+v second %+v", r1.Outcome, r2.Outcome)
				}
				if r1.TicketRef != "EDU-2026-000001" || r1.OutboundID == 0 {
					t.Errorf("first: ticket %q outbound %d", r1.TicketRef, r1.OutboundID)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'send_outbound'`); n != 1 {
					t.Errorf("send jobs = %d, want 1", n)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM tickets`); n != 1 {
					t.Errorf("tickets = %d", n)
				}
			})

			t.Run("email reply to our reply threads", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				o, err := e.st.Outbound(context.Background(), r1.OutboundID)
				if err != nil {
					t.Fatal(err)
				}
				if o.HeaderMessageID == "" || o.InReplyTo != "m1@x" || o.Subject != "Re: [#EDU-2026-000001] Projector" || !o.Auto {
					t.Errorf("reply headers: %+v", o)
				}
				in := e.mail("m2@x", "a@example.edu", "Re: Projector", "also the speakers")
				in.InReplyTo = o.HeaderMessageID
				r2 := e.process(t, in)
				if r2.ConversationID != r1.ConversationID || r2.Decision.Action != ActionAppend || r2.OutboundID != 0 || r2.TicketRef != r1.TicketRef {
					t.Errorf("follow-up: %+v", r2)
				}
			})

			t.Run("ticket reference in subject", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				r2 := e.process(t, e.mail("m2@x", "a@example.edu", "about EDU-2026-000001", "and the screen please"))
				if r2.ConversationID != r1.ConversationID || r2.Decision.Action != ActionAppend {
					t.Errorf("by reference: %+v vs %+v", r2, r1)
				}
				if n := e.count(t, `SELECT COUNT(*) FROM ticket_events WHERE ticket_id = ?`, r1.TicketID); n != 2 {
					t.Errorf("ticket events = %d, want created + message", n)
				}
			})

			t.Run("sms and whatsapp from one number are one contact", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.phone(message.SMS, "SM1", "+966551234567", "البروجكتر خربان"))
				r2 := e.process(t, e.phone(message.WhatsApp, "WA1", "+966551234567", "my grade is wrong"))
				c1, _ := e.st.Conversation(context.Background(), r1.ConversationID)
				c2, _ := e.st.Conversation(context.Background(), r2.ConversationID)
				if c1.Contact.ID == 0 || c1.Contact.ID != c2.Contact.ID {
					t.Errorf("contacts %d and %d, want one", c1.Contact.ID, c2.Contact.ID)
				}
				if r1.TicketRef == "" || r2.Decision.Action != ActionReferral {
					t.Errorf("sms %+v / whatsapp %+v", r1.Decision, r2.Decision)
				}
				// A second SMS within the window joins the conversation
				// and its ticket, and gets no second automatic reply.
				e.now = e.now.Add(time.Hour)
				r3 := e.process(t, e.phone(message.SMS, "SM2", "+966551234567", "and the screen please"))
				if r3.ConversationID != r1.ConversationID || r3.OutboundID != 0 || r3.Decision.Action != ActionAppend {
					t.Errorf("second sms: %+v", r3)
				}
				// SMS replies fit the segment budget.
				o, _ := e.st.Outbound(context.Background(), r1.OutboundID)
				if n := len([]rune(o.Text)); n == 0 || n > 134 {
					t.Errorf("Arabic SMS reply is %d characters, want 1..134 (2 UCS-2 segments): %q", n, o.Text)
				}
			})

			t.Run("one automatic reply per conversation per window", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.phone(message.SMS, "SM1", "+966551234567", "how do I get clearance"))
				e.now = e.now.Add(2 * time.Hour)
				r2 := e.process(t, e.phone(message.SMS, "SM2", "+966551234567", "anything for the window?"))
				if r1.OutboundID == 0 || r2.OutboundID != 0 || r2.Decision.AutoReply {
					t.Errorf("within window: first reply %d, second %d", r1.OutboundID, r2.OutboundID)
				}
				// An English answer cut to the budget still fits it.
				if o, err := e.st.Outbound(context.Background(), r1.OutboundID); err != nil || !sms.FitSegments(o.Text, 2) {
					n, ucs2 := sms.Segments(o.Text)
					t.Errorf("English SMS reply takes %d segments (ucs2=%v), budget 2: %q (%v)", n, ucs2, o.Text, err)
				}
				e.now = e.now.Add(25 * time.Hour)
				r3 := e.process(t, e.phone(message.SMS, "SM3", "+966551234567", "anything for the window?"))
				if r3.OutboundID == 0 {
					t.Errorf("after the window: no reply (%q)", r3.Decision.Reasons)
				}
			})

			t.Run("quarantined mail is kept, not answered", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				in := message.Inbound{ChannelID: e.email, Channel: message.Email, ExternalID: "sha256:abc", Raw: []byte("\x00garbage"),
					Quarantined: true, QuarantineReason: "cannot parse MIME"}
				r := e.process(t, in)
				if r.Decision.Action != ActionQuarantine || r.OutboundID != 0 || r.TicketID != 0 {
					t.Errorf("quarantine: %+v", r)
				}
				c, err := e.st.Conversation(context.Background(), r.ConversationID)
				if err != nil {
					t.Fatal(err)
				}
				m := c.Messages[0]
				if !m.Quarantined || m.QuarantineReason != "cannot parse MIME" || m.RawSHA256 == "" {
					t.Errorf("stored: %+v", m)
				}
			})

			t.Run("automatic mail is never answered", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				in := e.mail("ooo@x", "a@example.edu", "Automatic reply", "projector broken")
				in.Flags.AutoSubmitted = true
				r := e.process(t, in)
				if r.Decision.Action != ActionIgnore || r.OutboundID != 0 || r.TicketID != 0 {
					t.Errorf("auto-submitted: %+v", r)
				}
			})

			t.Run("a failure rolls everything back", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				e.p.jobs = failingInserter{}
				_, err := e.p.Process(context.Background(), e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				if err == nil {
					t.Fatal("no error")
				}
				for _, table := range []string{"messages", "tickets", "outbound_messages", "contacts", "conversations"} {
					if n := e.count(t, "SELECT COUNT(*) FROM "+table); n != 0 {
						t.Errorf("%s has %d rows after rollback", table, n)
					}
				}
				// And the next delivery goes through whole, with ticket 1.
				e.p.jobs = e.jobs
				if r := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken")); r.TicketRef != "EDU-2026-000001" {
					t.Errorf("after rollback: ticket %q", r.TicketRef)
				}
			})

			t.Run("concurrent deliveries of one message", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				var ins []message.Inbound
				for range 8 {
					ins = append(ins, e.mail("same@x", "a@example.edu", "Projector", "projector broken"))
				}
				e.processAtOnce(t, ins)
				for table, want := range map[string]int{"messages": 1, "tickets": 1, "outbound_messages": 1} {
					if n := e.count(t, "SELECT COUNT(*) FROM "+table); n != want {
						t.Errorf("%s = %d, want %d", table, n, want)
					}
				}
			})

			// Someone new writes several times at once (PostgreSQL lets the
			// transactions race for their address): one contact, and every
			// message is theirs.
			t.Run("concurrent first messages from someone new", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				var ins []message.Inbound
				for i := range 8 {
					ins = append(ins, e.mail(fmt.Sprintf("new%d@x", i), "new@example.edu", fmt.Sprintf("Question %d", i), "where is the library"))
				}
				e.processAtOnce(t, ins)
				if n := e.count(t, "SELECT COUNT(*) FROM contacts"); n != 1 {
					t.Errorf("%d contacts, want 1", n)
				}
				if n := e.count(t, "SELECT COUNT(*) FROM messages WHERE contact_id = (SELECT contact_id FROM contact_identities WHERE value = 'new@example.edu')"); n != 8 {
					t.Errorf("%d of 8 messages belong to the address's owner", n)
				}
				if n := e.count(t, "SELECT COUNT(*) FROM conversations c WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id)"); n != 0 {
					t.Errorf("%d conversations without a message", n)
				}
			})

			// The acknowledgement is rendered before the ticket number is
			// taken; concurrent tickets (PostgreSQL lets them race) must
			// still each carry their own reference.
			t.Run("concurrent tickets each acknowledge their own reference", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				var ins []message.Inbound
				for i := range 8 {
					ins = append(ins, e.mail(fmt.Sprintf("c%d@x", i), fmt.Sprintf("c%d@example.edu", i), "Projector", "projector broken"))
				}
				refs := map[string]bool{}
				for _, r := range e.processAtOnce(t, ins) {
					refs[r.TicketRef] = true
					o, err := e.st.Outbound(context.Background(), r.OutboundID)
					if err != nil {
						t.Fatal(err)
					}
					if !strings.Contains(o.Text, r.TicketRef) || !strings.Contains(o.Subject, "[#"+r.TicketRef+"]") {
						t.Errorf("ticket %s acknowledged with subject %q, text %q", r.TicketRef, o.Subject, o.Text)
					}
				}
				if len(refs) != 8 {
					t.Errorf("distinct tickets = %d, want 8", len(refs))
				}
			})

			t.Run("tickets are numbered in the bank's year", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				e.now = time.Date(2026, 12, 31, 22, 0, 0, 0, time.UTC) // 1 January 2027, 01:00 in Riyadh
				r := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				o, _ := e.st.Outbound(context.Background(), r.OutboundID)
				if r.TicketRef != "EDU-2027-000001" || !strings.Contains(o.Text, "EDU-2027-000001") {
					t.Errorf("ticket %q, acknowledged as %q; want EDU-2027-000001", r.TicketRef, o.Text)
				}
			})

			t.Run("decision is stored with reasons", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r := e.process(t, e.mail("m1@x", "a@example.edu", "grades", "my grade is wrong"))
				c, _ := e.st.Conversation(context.Background(), r.ConversationID)
				var d Decision
				if err := json.Unmarshal(c.Messages[0].Decision, &d); err != nil {
					t.Fatal(err)
				}
				if d.Action != ActionReferral || len(d.Reasons) == 0 || c.Messages[0].Topic != "grades_records" {
					t.Errorf("stored decision %+v topic %q", d, c.Messages[0].Topic)
				}
			})
		})
	}
}

type failingInserter struct{}

func (failingInserter) InsertTx(context.Context, *sql.Tx, river.JobArgs, *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	return nil, errors.New("job table unavailable")
}

func (failingInserter) InsertManyTx(context.Context, *sql.Tx, []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	return nil, errors.New("job table unavailable")
}
