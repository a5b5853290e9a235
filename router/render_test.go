package router

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// A reply that cannot be rendered must not keep its message out of the
// store: the message is stored with "no automatic reply" and the reason,
// and a ticket the decision asks for is still opened. The bank's
// acknowledgement and general answer fail at render time for a sender
// without a name, and pass the bank's load-time check.
func TestRenderFailureStoresMessage(t *testing.T) {
	bank, err := replies.LoadBank("testdata/bank-render-fails.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cls := stubClassifier{
		"projector broken": {Scope: classify.ScopeIn, Topic: "repair", Confidence: 0.9, Language: classify.English},
		"what do you do":   {Scope: classify.ScopeIn, Topic: "faq", Confidence: 0.9, Language: classify.English},
	}
	tests := []struct {
		name    string
		in      func(e *env) message.Inbound
		action  Action
		ticket  bool
		replied bool
	}{
		{"ticket acknowledgement fails: ticket opened, no reply", func(e *env) message.Inbound {
			return e.mail("m1@x", "a@example.edu", "Projector", "projector broken")
		}, ActionTicket, true, false},
		{"answer fails: stored, no reply", func(e *env) message.Inbound {
			return e.mail("m1@x", "a@example.edu", "Question", "what do you do")
		}, ActionAnswer, false, false},
		{"sms acknowledgement fails", func(e *env) message.Inbound {
			return e.phone(message.SMS, "SM1", "+966551234567", "projector broken")
		}, ActionTicket, true, false},
		{"the same bank renders for a named sender", func(e *env) message.Inbound {
			in := e.mail("m1@x", "a@example.edu", "Projector", "projector broken")
			in.From.Name = "Sara"
			return in
		}, ActionTicket, true, true},
	}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, dsn(t))
					e.p = e.pipeline(bank, cls)
					r := e.process(t, tt.in(e))
					if r.Decision.Action != tt.action || (r.TicketRef != "") != tt.ticket || (r.OutboundID != 0) != tt.replied || r.Decision.AutoReply != tt.replied {
						t.Fatalf("action %s ticket %q outbound %d auto_reply %v; want %s ticket=%v replied=%v (reasons %q)",
							r.Decision.Action, r.TicketRef, r.OutboundID, r.Decision.AutoReply, tt.action, tt.ticket, tt.replied, r.Decision.Reasons)
					}
					c, err := e.st.Conversation(context.Background(), r.ConversationID)
					if err != nil {
						t.Fatal(err)
					}
					if len(c.Messages) != 1 {
						t.Fatalf("stored messages = %d, want 1", len(c.Messages))
					}
					var d Decision
					if err := json.Unmarshal(c.Messages[0].Decision, &d); err != nil {
						t.Fatal(err)
					}
					said := strings.Contains(strings.Join(d.Reasons, "\n"), "could not be rendered")
					if d.AutoReply != tt.replied || said == tt.replied {
						t.Errorf("stored decision auto_reply=%v reasons %q", d.AutoReply, d.Reasons)
					}
					if tt.ticket && (len(c.Tickets) != 1 || c.Tickets[0].Ref != r.TicketRef) {
						t.Errorf("tickets in the conversation: %+v", c.Tickets)
					}
					want := 0
					if tt.replied {
						want = 1
					}
					if n := len(c.Outbound); n != want {
						t.Errorf("replies = %d, want %d", n, want)
					}
					if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'send_outbound'`); n != want {
						t.Errorf("send jobs = %d, want %d", n, want)
					}
				})
			}
		})
	}
}
