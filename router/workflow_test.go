package router

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// closeAt closes a ticket (and its conversation) at a time of the test's
// choosing, as the inbox would.
func closeAt(t *testing.T, e *env, id int64, at time.Time) {
	t.Helper()
	ctx := context.Background()
	err := e.st.InTx(ctx, func(tx *store.Tx) error {
		tk, err := tx.MoveTicket(ctx, id, store.TicketClosed, "agent", "done", at, func(from string) error {
			return tickets.CanMove(tickets.Status(from), tickets.Closed)
		})
		if err != nil {
			return err
		}
		return tx.SetConversationStatus(ctx, tk.ConversationID, store.ConversationClosed)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func addHead(t *testing.T, e *env, email, department string) store.User {
	t.Helper()
	u := store.User{Email: email, Name: "Head", Role: store.RoleAgent, Language: "en", PasswordHash: "x", Active: true, Departments: []string{department}}
	if err := e.st.CreateUser(context.Background(), &u); err != nil {
		t.Fatal(err)
	}
	if err := e.st.SetDepartmentHead(context.Background(), u.ID, department, true); err != nil {
		t.Fatal(err)
	}
	return u
}

// A reply to a closed ticket: within the reopen window (7 days) it
// reopens the ticket, without an automatic reply, and its assignee is told
// once; after the window it opens a new ticket linked to the old one.
func TestReopenWindow(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("email within the window reopens", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				head := addHead(t, e, "maint-head@uni.example", "maintenance_center")
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				c, _ := e.st.InboxConversation(context.Background(), r1.ConversationID, 0)
				if c.AssigneeID != head.ID {
					t.Fatalf("a new ticket is assigned to %d, want the department head %d", c.AssigneeID, head.ID)
				}
				closeAt(t, e, r1.TicketID, e.now)
				e.now = e.now.Add(6*24*time.Hour + 23*time.Hour)
				r2 := e.process(t, e.mail("m2@x", "a@example.edu", "Re: [#EDU-2026-000001] Projector", "still broken"))
				tk, _, _ := e.st.Ticket(context.Background(), r1.TicketID)
				if r2.Decision.Action != ActionReopen || r2.TicketID != r1.TicketID || tk.Status != store.TicketOpen || r2.OutboundID != 0 {
					t.Fatalf("within the window: action %s ticket %d status %s reply %d; want reopen of %d, open, no reply",
						r2.Decision.Action, r2.TicketID, tk.Status, r2.OutboundID, r1.TicketID)
				}
				mails, err := e.st.StaffMails(context.Background(), "reopen:")
				if err != nil {
					t.Fatal(err)
				}
				if len(mails) != 1 || mails[0].To != head.Email || !strings.Contains(mails[0].Text, "still broken") {
					t.Errorf("reopen notices: %+v, want one to %s with the message", mails, head.Email)
				}
				// The same mail delivered again doubles nothing.
				e.process(t, e.mail("m2@x", "a@example.edu", "Re: [#EDU-2026-000001] Projector", "still broken"))
				if mails, _ := e.st.StaffMails(context.Background(), "reopen:"); len(mails) != 1 {
					t.Errorf("%d reopen notices after a redelivery", len(mails))
				}
			})

			t.Run("email after the window opens a linked ticket", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
				closeAt(t, e, r1.TicketID, e.now)
				e.now = e.now.Add(7*24*time.Hour + time.Hour)
				// Not a topic the classifier knows: the new ticket takes the
				// old one's.
				r2 := e.process(t, e.mail("m2@x", "a@example.edu", "Re: [#EDU-2026-000001] Projector", "it happened again"))
				if r2.Decision.Action != ActionTicket || r2.TicketID == r1.TicketID || r2.TicketRef != "EDU-2026-000002" {
					t.Fatalf("after the window: action %s ticket %s, want a new ticket (reasons %q)", r2.Decision.Action, r2.TicketRef, r2.Decision.Reasons)
				}
				tk2, ev2, _ := e.st.Ticket(context.Background(), r2.TicketID)
				tk1, ev1, _ := e.st.Ticket(context.Background(), r1.TicketID)
				if tk2.LinkedTicketID != r1.TicketID || tk2.Topic != "equipment_maintenance" || tk1.Status != store.TicketClosed {
					t.Errorf("new ticket linked to %d in topic %q, old one %s; want linked to %d, equipment_maintenance, closed",
						tk2.LinkedTicketID, tk2.Topic, tk1.Status, r1.TicketID)
				}
				if !hasEvent(ev1, store.EventLinked) || !hasEvent(ev2, store.EventLinked) {
					t.Error("the link is not a ticket event on both tickets")
				}
				for _, ev := range ev1 {
					if ev.Kind == store.EventLinked && ev.Note != "followed by EDU-2026-000002" {
						t.Errorf("the old ticket's link event says %q, want the new ticket's number", ev.Note)
					}
				}
				if r2.OutboundID == 0 {
					t.Error("the new ticket was not acknowledged")
				}
			})

			t.Run("sms within the window reopens the closed conversation", func(t *testing.T) {
				e := newEnv(t, dsn(t))
				r1 := e.process(t, e.phone(message.SMS, "SM1", "+966551234567", "البروجكتر خربان"))
				closeAt(t, e, r1.TicketID, e.now)
				e.now = e.now.Add(2 * 24 * time.Hour)
				r2 := e.process(t, e.phone(message.SMS, "SM2", "+966551234567", "ما زال خربان"))
				tk, _, _ := e.st.Ticket(context.Background(), r1.TicketID)
				if r2.Decision.Action != ActionReopen || r2.ConversationID != r1.ConversationID || tk.Status != store.TicketOpen {
					t.Errorf("sms reply: action %s conversation %d status %s; want reopen in %d", r2.Decision.Action, r2.ConversationID, tk.Status, r1.ConversationID)
				}
			})
		})
	}
}

// A ticket's SLA clocks start in working time: a request on Thursday at
// 14:00 in Riyadh with the maintenance topic's targets (first response
// 4h, resolution 2 working days) is due Sunday 11:00 and Monday 14:00. A
// ticket pending on the customer resumes when the customer writes, and
// the working time it waited moves the due time.
func TestTicketClocks(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			riyadh, _ := time.LoadLocation("Asia/Riyadh")
			e.now = time.Date(2026, 11, 26, 14, 0, 0, 0, riyadh).UTC()
			r := e.process(t, e.mail("m1@x", "a@example.edu", "Projector", "projector broken"))
			tk, _, _ := e.st.Ticket(context.Background(), r.TicketID)
			if tk.SLATarget != "2d" || tk.FirstResponseTarget != "4h" || tk.SLADueAt == nil || tk.FirstResponseDueAt == nil {
				t.Fatalf("targets %q/%q due %v/%v", tk.SLATarget, tk.FirstResponseTarget, tk.SLADueAt, tk.FirstResponseDueAt)
			}
			if want := time.Date(2026, 11, 30, 14, 0, 0, 0, riyadh); !tk.SLADueAt.Equal(want) {
				t.Errorf("resolution due %s, want %s", tk.SLADueAt.In(riyadh), want)
			}
			if want := time.Date(2026, 11, 29, 11, 0, 0, 0, riyadh); !tk.FirstResponseDueAt.Equal(want) {
				t.Errorf("first response due %s, want %s", tk.FirstResponseDueAt.In(riyadh), want)
			}
			// Pending on the customer from Sunday 08:00 to Sunday 10:00 (2
			// working hours): the customer's answer resumes it.
			flow := tickets.Workflow{Clock: e.p.Bank().Calendar()}
			err := e.st.InTx(context.Background(), func(tx *store.Tx) error {
				_, err := flow.Move(context.Background(), tx, r.TicketID, tickets.Pending, tickets.MoveOpts{Actor: "agent", At: time.Date(2026, 11, 29, 8, 0, 0, 0, riyadh)})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			e.now = time.Date(2026, 11, 29, 10, 0, 0, 0, riyadh).UTC()
			e.process(t, e.mail("m2@x", "a@example.edu", "Re: [#EDU-2026-000001] Projector", "it is room 7"))
			tk, _, _ = e.st.Ticket(context.Background(), r.TicketID)
			if tk.Status != store.TicketOpen || tk.PendingSince != nil || tk.PausedSeconds != 2*3600 {
				t.Errorf("after the customer answered: status %s pending since %v paused %ds; want open, not pending, 7200s", tk.Status, tk.PendingSince, tk.PausedSeconds)
			}
			// Monday 14:00 plus the 2 working hours paused: half an hour on
			// Monday, an hour and a half on Tuesday.
			if want := time.Date(2026, 12, 1, 9, 0, 0, 0, riyadh); tk.SLADueAt == nil || !tk.SLADueAt.Equal(want) {
				t.Errorf("resolution due %v after a 2-hour pause, want %s", tk.SLADueAt, want)
			}
		})
	}
}

func hasEvent(events []store.TicketEvent, kind string) bool {
	for _, e := range events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

// A conversation answered only automatically is offered the survey, when
// configured: the answer (or referral) ends with a link signed for the
// message it answers, in the text and the email's HTML; a reply that opens
// a ticket does not (its survey comes with the closing message), nor any
// when the option is off, nor an SMS the link would push over its budget.
func TestAutomaticAnswerSurvey(t *testing.T) {
	signer, err := tickets.NewSurveySigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	links := &tickets.SurveyLinks{Signer: signer, BaseURL: "https://wasl.test"}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			on := New(e.st, testClassifier(), e.p.Bank(), e.jobs, e.chans, Config{TicketPrefix: "EDU", Now: func() time.Time { return e.now },
				Surveys: links, AutomaticSurvey: true}, quiet)
			off := New(e.st, testClassifier(), e.p.Bank(), e.jobs, e.chans, Config{TicketPrefix: "EDU", Now: func() time.Time { return e.now },
				Surveys: links}, quiet)
			for _, c := range []struct {
				name   string
				p      *Pipeline
				in     message.Inbound
				survey bool
			}{
				{"email answer", on, e.mail("s1@x", "s1@example.edu", "Clearance", "how do I get clearance"), true},
				{"email referral", on, e.mail("s2@x", "s2@example.edu", "Grades", "my grade is wrong"), true},
				{"whatsapp answer", on, e.phone(message.WhatsApp, "WA1", "+966551230001", "how do I get clearance"), true},
				{"sms over its budget", on, e.phone(message.SMS, "SM9", "+966551230002", "how do I get clearance"), false},
				{"a ticket's acknowledgement", on, e.mail("s3@x", "s3@example.edu", "Projector", "projector broken"), false},
				{"option off", off, e.mail("s4@x", "s4@example.edu", "Clearance", "how do I get clearance"), false},
			} {
				t.Run(c.name, func(t *testing.T) {
					r, err := c.p.Process(context.Background(), c.in)
					if err != nil {
						t.Fatal(err)
					}
					if r.OutboundID == 0 {
						t.Fatalf("no automatic reply (%s: %q)", r.Decision.Action, r.Decision.Reasons)
					}
					o, err := e.st.Outbound(context.Background(), r.OutboundID)
					if err != nil {
						t.Fatal(err)
					}
					i := strings.Index(o.Text, "https://wasl.test/survey/")
					if (i >= 0) != c.survey {
						t.Fatalf("survey link in the reply: %v, want %v\n%s", i >= 0, c.survey, o.Text)
					}
					if !c.survey {
						return
					}
					tok := strings.Fields(o.Text[i+len("https://wasl.test/survey/"):])[0]
					l, err := signer.Verify(tok, e.now)
					if err != nil || l.Kind != tickets.SurveyMessage || l.ID != r.MessageID {
						t.Errorf("link %+v (%v), want the survey of message %d", l, err, r.MessageID)
					}
					if c.in.Channel == message.Email && !strings.Contains(o.HTML, `href="https://wasl.test/survey/`+tok+`"`) {
						t.Errorf("the HTML lacks the link:\n%s", o.HTML)
					}
				})
			}
		})
	}
}

// A batch reads a department's head once, and still gives each of its
// new tickets to the head, with the event saying so.
func TestBatchAssignsEachTicketToHead(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			head := addHead(t, e, "maint-head@uni.example", "maintenance_center")
			var ins []message.Inbound
			for i := range 3 {
				ins = append(ins, e.mail(fmt.Sprintf("m%d@x", i), fmt.Sprintf("s%d@example.edu", i), "Projector", "projector broken"))
			}
			rs, err := e.p.IngestBatch(context.Background(), ins, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rs {
				c, err := e.st.InboxConversation(context.Background(), r.ConversationID, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, events, err := e.st.Ticket(context.Background(), r.TicketID)
				if err != nil {
					t.Fatal(err)
				}
				assigned := 0
				for _, ev := range events {
					if ev.Kind == store.EventAssign && strings.Contains(ev.Note, head.Email) {
						assigned++
					}
				}
				if r.TicketID == 0 || c.AssigneeID != head.ID || assigned != 1 {
					t.Errorf("message %d: ticket %d, assignee %d, %d assign events; want a ticket, the head %d, 1",
						r.MessageID, r.TicketID, c.AssigneeID, assigned, head.ID)
				}
			}
		})
	}
}
