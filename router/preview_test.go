package router

import (
	"context"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// TestPreview is "try a message": the decision and the reply a first
// message would get, with the ticket reference it would get now, and
// nothing stored; on an SMS channel the reply is the one cut to its budget.
func TestPreview(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			pv, err := e.p.Preview(ctx, e.mail("", "", "", "projector broken"))
			if err != nil {
				t.Fatal(err)
			}
			if pv.Decision.Action != ActionTicket || !pv.Decision.CreateTicket || pv.Class.Topic != "equipment_maintenance" || pv.Reply == nil {
				t.Fatalf("preview = %+v", pv)
			}
			if !strings.Contains(pv.Reply.Text, "EDU-2026-000001") || pv.Reply.HTML == "" || pv.Reply.Subject == "" {
				t.Errorf("the email reply lacks the next reference or its HTML: %+v", pv.Reply)
			}
			for _, table := range []string{"messages", "contacts", "tickets", "outbound_messages"} {
				if n := e.count(t, "SELECT count(*) FROM "+table); n != 0 {
					t.Errorf("%s: %d rows after a preview", table, n)
				}
			}
			// The same, stored: the reference the preview showed is the one
			// the ticket gets.
			if r := e.process(t, e.mail("<a@x>", "sara@example.com", "", "projector broken")); r.TicketRef != "EDU-2026-000001" {
				t.Errorf("ticket %q after the preview", r.TicketRef)
			}

			sms, err := e.p.Preview(ctx, e.phone(message.SMS, "", "", "how do I get clearance"))
			if err != nil || sms.Reply == nil || sms.Decision.Action != ActionAnswer {
				t.Fatalf("SMS preview = %+v, %v", sms, err)
			}
			if sms.Reply.HTML != "" {
				t.Error("an SMS reply has HTML")
			}
			if s, _ := e.chans.Shaper(e.sms); !s.FitsBudget(sms.Reply.Text) {
				t.Errorf("the SMS preview does not fit the channel's budget: %d chars", len([]rune(sms.Reply.Text)))
			}
			if _, err := e.p.Preview(ctx, message.Inbound{Channel: "fax", Text: "x"}); err == nil {
				t.Error("a preview on an unknown channel kind succeeded")
			}
		})
	}
}

// TestSetKnowledge: a reloaded bank and classifier take over from the next
// message on.
func TestSetKnowledge(t *testing.T) {
	e := newEnv(t, "")
	bank := e.p.Bank()
	if r := e.process(t, e.mail("<1@x>", "a@example.com", "", "my grade is wrong")); r.Decision.Topic != grades.Topic {
		t.Fatalf("before: %+v", r.Decision)
	}
	e.p.SetKnowledge(bank, stubClassifier{"my grade is wrong": maintenance})
	if r := e.process(t, e.mail("<2@x>", "b@example.com", "", "my grade is wrong")); r.Decision.Topic != maintenance.Topic || r.TicketRef == "" {
		t.Errorf("after SetKnowledge: %+v", r)
	}
	if e.p.Bank() != bank {
		t.Error("Bank is not the one set")
	}
}
