package inbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// eachStore runs fn on a fresh migrated store of each dialect.
func eachStore(t *testing.T, fn func(t *testing.T, st *store.Store)) {
	t.Helper()
	for _, be := range []struct {
		name string
		dsn  func(t *testing.T) (string, string)
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "", dbtest.SQLiteDir(t, store.MigrateAt) }},
		{"postgres", func(t *testing.T) (string, string) { return dbtest.PostgresURL(t, store.MigrateAt), t.TempDir() }},
	} {
		t.Run(be.name, func(t *testing.T) {
			dsn, dir := be.dsn(t)
			st, err := store.Open(context.Background(), dsn, dir, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st)
		})
	}
}

// workflowFixture is a conversation with a customer message and a ticket.
type workflowFixture struct {
	conv, ticket int64
}

func newWorkflowFixture(t *testing.T, st *store.Store, n int) workflowFixture {
	t.Helper()
	ctx := context.Background()
	ch := store.Channel{Name: "mail", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	var f workflowFixture
	err := st.InTx(ctx, func(tx *store.Tx) error {
		who, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: fmt.Sprintf("c%d@example.edu.sa", n)})
		if err != nil {
			return err
		}
		c := store.Conversation{ContactID: who.ID, ChannelID: ch.ID, Subject: "Projector"}
		if err := tx.CreateConversation(ctx, &c); err != nil {
			return err
		}
		m := store.Message{ChannelID: ch.ID, ExternalID: fmt.Sprintf("m%d", n), ConversationID: c.ID, ContactID: who.ID,
			From: who.Identities[0], Subject: "Projector", Text: "broken", HeaderMessageID: fmt.Sprintf("<m%d@x>", n)}
		if err := tx.InsertMessage(ctx, &m); err != nil {
			return err
		}
		num, err := tx.NextTicketNumber(ctx, "EDU", 2026)
		if err != nil {
			return err
		}
		tk := store.Ticket{Prefix: "EDU", Year: 2026, Number: num, ConversationID: c.ID, ContactID: who.ID,
			Topic: "equipment_maintenance", Department: "maintenance_center"}
		if err := tx.CreateTicket(ctx, &tk); err != nil {
			return err
		}
		f = workflowFixture{conv: c.ID, ticket: tk.ID}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// forceStatus puts a ticket in a status without the rules (test setup).
func forceStatus(t *testing.T, st *store.Store, id int64, status string) {
	t.Helper()
	err := st.InTx(context.Background(), func(tx *store.Tx) error {
		_, err := tx.MoveTicket(context.Background(), id, status, "setup", "", time.Time{}, func(string) error { return nil })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func ticketState(t *testing.T, st *store.Store, id int64) (store.Ticket, int) {
	t.Helper()
	tk, events, err := st.Ticket(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return tk, len(events)
}

// The state machine through the staff actions, on both stores: for every
// pair of statuses (generated from the transition table), the action that
// makes the target status either moves the ticket and records the move as
// a ticket event, or is refused with ErrConflict and writes nothing.
func TestWorkflowTransitions(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		jobs, err := river.NewClient(st.RiverDriver(), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc := NewService(st, jobs, bank, ServiceConfig{}, testLogger(t))
		op := Principal{System: true}
		ctx := context.Background()
		n := 0
		for _, from := range tickets.Statuses() {
			for _, to := range tickets.Statuses() {
				n++
				t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
					f := newWorkflowFixture(t, st, n)
					if from != tickets.Open {
						forceStatus(t, st, f.ticket, string(from))
					}
					before, events := ticketState(t, st, f.ticket)
					var err error
					switch to {
					case tickets.Transferred:
						err = svc.Transfer(ctx, op, f.conv, "classrooms", "")
					case tickets.Closed:
						_, err = svc.Close(ctx, op, f.conv, store.OutcomeDone, "", "")
					default:
						err = svc.SetStatus(ctx, op, f.conv, string(to), "")
					}
					after, eventsAfter := ticketState(t, st, f.ticket)
					_, allowed := tickets.FindMove(from, to)
					// A transferred ticket sent to another department is a
					// transfer, not a move of its status.
					retransfer := from == tickets.Transferred && to == tickets.Transferred
					if allowed || retransfer {
						if err != nil {
							t.Fatalf("allowed move refused: %v", err)
						}
						if after.Status != string(to) {
							t.Errorf("status %s, want %s", after.Status, to)
						}
						if eventsAfter <= events {
							t.Error("the move left no ticket event")
						}
						return
					}
					if !errors.Is(err, ErrConflict) {
						t.Fatalf("forbidden move: err %v, want ErrConflict", err)
					}
					if after.Status != before.Status || eventsAfter != events || after.Department != before.Department {
						t.Errorf("a refused move wrote: status %s→%s, events %d→%d, department %s→%s",
							before.Status, after.Status, events, eventsAfter, before.Department, after.Department)
					}
				})
			}
		}
	})
}

// The catalogue's path end to end: routed to the department and assigned
// to its head; the head gives it to a member with a note (in progress);
// the department hands it back with the outcome and the reply; customer
// service closes it, sending the reply, and it counts for the department
// again, with its head. The API answers a refused move 409.
func TestWorkflowCataloguePath(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		jobs, err := river.NewClient(st.RiverDriver(), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc := NewService(st, jobs, bank, ServiceConfig{}, testLogger(t))
		op := Principal{System: true}
		head := store.User{Email: "head@uni.example", Name: "Head", Role: store.RoleAgent, PasswordHash: "x", Active: true, Departments: []string{"maintenance_center"}}
		tech := store.User{Email: "tech@uni.example", Name: "Tech", Role: store.RoleAgent, PasswordHash: "x", Active: true, Departments: []string{"maintenance_center"}}
		for _, u := range []*store.User{&head, &tech} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetDepartmentHead(ctx, head.ID, "maintenance_center", true); err != nil {
			t.Fatal(err)
		}
		f := newWorkflowFixture(t, st, 1)
		// The front desk has it first (the fixture's ticket is with
		// maintenance; move it to the front desk as the pipeline would not).
		if err := svc.Transfer(ctx, op, f.conv, "maintenance_center", "please repair"); err != nil {
			t.Fatal(err)
		}
		c, _ := st.InboxConversation(ctx, f.conv, 0)
		if c.AssigneeID != head.ID || c.TicketStatus != store.TicketTransferred {
			t.Fatalf("after transfer: assignee %d status %s, want the head %d, transferred", c.AssigneeID, c.TicketStatus, head.ID)
		}
		if err := svc.Assign(ctx, Principal{User: head}, f.conv, tech.ID, "visit room 7 tomorrow"); err != nil {
			t.Fatal(err)
		}
		if tk, _ := ticketState(t, st, f.ticket); tk.Status != store.TicketInProgress {
			t.Fatalf("after the head assigned it: %s, want in_progress", tk.Status)
		}
		// Closing is the front desk's; before the hand-back an agent of the
		// department cannot hand back without a reply.
		if err := svc.HandBack(ctx, Principal{User: tech}, f.conv, Handback{Outcome: store.OutcomeDone, Date: "2026-11-09"}); err == nil {
			t.Error("a hand-back without a reply for the customer was accepted")
		}
		if err := svc.HandBack(ctx, Principal{User: tech}, f.conv, Handback{Outcome: store.OutcomeDone, Date: "2026-11-09",
			Reply: "The projector in room 7 was repaired on 9 November."}); err != nil {
			t.Fatal(err)
		}
		tk, _ := ticketState(t, st, f.ticket)
		if tk.Department != "customer_service" || tk.Status != store.TicketTransferred || tk.ResolvedDepartment != "maintenance_center" ||
			tk.OutcomeDate != "2026-11-09" || tk.WorkedBy != tech.ID {
			t.Fatalf("after hand-back: %+v", tk)
		}
		// The API refuses an illegal move with 409: a handed-back ticket
		// cannot go back to open.
		api := NewAPI(st, mustAuth(t, st), svc, testLogger(t))
		mux := http.NewServeMux()
		api.Register(mux)
		req := httptest.NewRequest(http.MethodPost, fmt.Sprintf("/api/v1/conversations/%d/status", f.conv), bytes.NewBufferString(`{"status":"open"}`))
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusConflict {
			t.Errorf("illegal move through the API: %d %s, want 409", rec.Code, rec.Body)
		}
		o, err := svc.Close(ctx, op, f.conv, "", "", "")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains([]byte(o.Text), []byte("repaired on 9 November")) {
			t.Errorf("the closing message lacks the department's reply:\n%s", o.Text)
		}
		tk, _ = ticketState(t, st, f.ticket)
		c, _ = st.InboxConversation(ctx, f.conv, 0)
		if tk.Status != store.TicketClosed || tk.Department != "maintenance_center" || tk.Outcome != store.OutcomeDone || c.AssigneeID != head.ID {
			t.Errorf("after close: status %s department %s outcome %s assignee %d; want closed, maintenance_center, done, the head",
				tk.Status, tk.Department, tk.Outcome, c.AssigneeID)
		}
	})
}

func mustAuth(t *testing.T, st *store.Store) *Auth {
	t.Helper()
	a, err := NewAuth(st, AuthConfig{APIToken: "tok"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return a
}
