package router

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// Who may attach mail to a ticket. Headers thread first; a ticket
// reference binds only the ticket's own contact, or a mail whose headers
// lead into the ticket's conversation; anyone else citing it gets a
// conversation of their own, flagged with the ticket it cites.
func TestThreadingByReference(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			// The shown attack: an SMS customer's ticket, and a stranger's
			// mail citing it.
			t.Run("intruder citing another contact's ticket", func(t *testing.T) {
				for _, closed := range []bool{false, true} {
					e := newEnv(t, dsn(t))
					victim := e.process(t, e.phone(message.SMS, "SM1", "+966551234567", "البروجكتر خربان"))
					if victim.TicketRef != "EDU-2026-000001" {
						t.Fatalf("victim's ticket %q", victim.TicketRef)
					}
					if closed {
						closeTicket(t, e, victim.TicketID)
					}
					r := e.process(t, e.mail("evil@x", "intruder@evil.example", "Re: [#EDU-2026-000001] send the equipment to room 99", "send the equipment to room 99"))
					if r.ConversationID == victim.ConversationID || r.TicketID == victim.TicketID || r.Decision.Action == ActionAppend {
						t.Errorf("closed=%v: intruder joined: conversation %d (victim's %d), ticket %d, action %s",
							closed, r.ConversationID, victim.ConversationID, r.TicketID, r.Decision.Action)
					}
					if !strings.Contains(strings.Join(r.Decision.Reasons, "\n"), "cites ticket EDU-2026-000001 of another contact") {
						t.Errorf("closed=%v: reasons %q do not say so", closed, r.Decision.Reasons)
					}
					d, err := e.st.Conversation(context.Background(), r.ConversationID)
					if err != nil {
						t.Fatal(err)
					}
					if d.Conversation.CitesForeignTicket != "EDU-2026-000001" {
						t.Errorf("closed=%v: conversation flag %q", closed, d.Conversation.CitesForeignTicket)
					}
					// As the API shows it.
					if b, _ := json.Marshal(d.Conversation); !strings.Contains(string(b), `"cites_foreign_ticket":"EDU-2026-000001"`) {
						t.Errorf("closed=%v: conversation JSON lacks the flag: %s", closed, b)
					}
					tk, events, err := e.st.Ticket(context.Background(), victim.TicketID)
					if err != nil {
						t.Fatal(err)
					}
					wantStatus, wantEvents := store.TicketOpen, 1
					if closed {
						wantStatus, wantEvents = store.TicketClosed, 2
					}
					if tk.Status != wantStatus || len(events) != wantEvents {
						t.Errorf("closed=%v: victim's ticket is %s with %d events, want %s with %d", closed, tk.Status, len(events), wantStatus, wantEvents)
					}
					victimConv, _ := e.st.Conversation(context.Background(), victim.ConversationID)
					if len(victimConv.Messages) != 1 {
						t.Errorf("closed=%v: victim's conversation has %d messages", closed, len(victimConv.Messages))
					}
				}
			})

			t.Run("the ticket's own contact, reference only", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				r2 := e.process(t, e.mail("m2@x", "a@example.edu", "about EDU-2026-000001", "and the screen please"))
				if r2.ConversationID != r1.ConversationID || r2.Decision.Action != ActionAppend || r2.TicketID != r1.TicketID {
					t.Errorf("by reference: %+v vs %+v", r2, r1)
				}
				// A closed ticket of one's own reopens.
				closeTicket(t, e, r1.TicketID)
				r3 := e.process(t, e.mail("m3@x", "a@example.edu", "Re: [#EDU-2026-000001] Projector", "still broken"))
				tk, _, _ := e.st.Ticket(context.Background(), r1.TicketID)
				if r3.TicketID != r1.TicketID || tk.Status != store.TicketOpen {
					t.Errorf("own closed ticket: joined %d, status %s", r3.TicketID, tk.Status)
				}
			})

			t.Run("forwarded to a colleague who answers the thread", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				ack, err := e.st.Outbound(context.Background(), r1.OutboundID)
				if err != nil {
					t.Fatal(err)
				}
				in := e.mail("m2@x", "colleague@example.edu", "Re: [#EDU-2026-000001] Projector", "and the screen please")
				in.InReplyTo, in.References = ack.HeaderMessageID, []string{"m1@x", ack.HeaderMessageID}
				r2 := e.process(t, in)
				if r2.ConversationID != r1.ConversationID || r2.TicketID != r1.TicketID || r2.Decision.Action != ActionAppend {
					t.Errorf("colleague: conversation %d ticket %d action %s; want %d, %d, append (reasons %q)",
						r2.ConversationID, r2.TicketID, r2.Decision.Action, r1.ConversationID, r1.TicketID, r2.Decision.Reasons)
				}
				// The same colleague without the headers is a stranger to it.
				r3 := e.process(t, e.mail("m3@x", "colleague@example.edu", "Re: [#EDU-2026-000001] Projector", "and the screen please"))
				if r3.ConversationID == r1.ConversationID || r3.TicketID == r1.TicketID {
					t.Errorf("colleague without headers joined conversation %d, ticket %d", r3.ConversationID, r3.TicketID)
				}
			})

			t.Run("headers thread before a reference", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				r2 := e.process(t, e.mail("m2@x", "a@example.edu", "Clearance", "how do I get clearance"))
				// A reply in the second thread that mentions the first ticket.
				in := e.mail("m3@x", "a@example.edu", "Re: Clearance (see also EDU-2026-000001)", "anything for the window?")
				in.InReplyTo = "m2@x"
				r3 := e.process(t, in)
				if r3.ConversationID != r2.ConversationID || r3.TicketID == r1.TicketID {
					t.Errorf("reply in thread 2: conversation %d (want %d), ticket %d", r3.ConversationID, r2.ConversationID, r3.TicketID)
				}
			})

			t.Run("several references: the one that validates", func(t *testing.T) {
				for _, subject := range []string{
					"Re: [#EDU-2026-000001] Fwd: [#EDU-2026-000002] Projector",
					"Re: [#EDU-2026-000002] Fwd: [#EDU-2026-000001] Projector",
					"Re: [#EDU-2026-000404] [#EDU-2026-000002] Projector", // one unknown
				} {
					e := newEnv(t, dsn(t))
					other := e.process(t, e.mail("o1@x", "other@example.edu", "Projector", "projector broken"))
					mine := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
					if other.TicketRef != "EDU-2026-000001" || mine.TicketRef != "EDU-2026-000002" {
						t.Fatalf("tickets %q and %q", other.TicketRef, mine.TicketRef)
					}
					r := e.process(t, e.mail("m2@x", "a@example.edu", subject, "and the screen please"))
					if r.TicketID != mine.TicketID || r.ConversationID != mine.ConversationID || r.Decision.Action != ActionAppend {
						t.Errorf("%q: ticket %s conversation %d action %s; want %s in %d (reasons %q)",
							subject, r.TicketRef, r.ConversationID, r.Decision.Action, mine.TicketRef, mine.ConversationID, r.Decision.Reasons)
					}
					if strings.Contains(strings.Join(r.Decision.Reasons, "\n"), "another contact") {
						t.Errorf("%q: bound to its own ticket, yet flagged: %q", subject, r.Decision.Reasons)
					}
				}
			})

			// SMS keeps its rule: a reference typed by another number does
			// not join, and the citing message is flagged too.
			t.Run("sms citing another contact's ticket", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				victim := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				r := e.process(t, e.phone(message.SMS, "SM1", "+966551234567", "EDU-2026-000001 send it to room 99"))
				d, _ := e.st.Conversation(context.Background(), r.ConversationID)
				if r.TicketID == victim.TicketID || r.ConversationID == victim.ConversationID || d.Conversation.CitesForeignTicket != victim.TicketRef {
					t.Errorf("sms: ticket %d conversation %d flag %q", r.TicketID, r.ConversationID, d.Conversation.CitesForeignTicket)
				}
			})
		})
	}
}

func closeTicket(t *testing.T, e *env, id int64) {
	t.Helper()
	if err := e.st.InTx(context.Background(), func(tx *store.Tx) error {
		return tx.UpdateTicketStatus(context.Background(), id, store.TicketClosed, "agent", "done")
	}); err != nil {
		t.Fatal(err)
	}
}
