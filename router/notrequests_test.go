package router

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// universityModel is the classifier trained on the shipped bank, once per
// test binary.
var universityModel = sync.OnceValues(func() (*classify.Model, error) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		return nil, err
	}
	return classify.Train(ClassifierConfig(bank))
})

func heldOutMessages(t *testing.T, intents ...string) []classify.Labeled {
	t.Helper()
	f, err := os.Open("../configs/bank.heldout.messages.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all, err := classify.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	var out []classify.Labeled
	for _, l := range all {
		for _, in := range intents {
			if l.Intent == in {
				out = append(out, l)
			}
		}
	}
	return out
}

// Greetings, thanks and spam from the held-out messages go through the
// whole pipeline with the real classifier: none opens a ticket; spam gets
// no reply and is stored with scope "spam"; small talk gets the bank's one
// line, or, when the classifier is unsure, the fallback.
func TestPipelineNotRequests(t *testing.T) {
	model, err := universityModel()
	if err != nil {
		t.Fatal(err)
	}
	msgs := heldOutMessages(t, "smalltalk", "spam")
	if len(msgs) < 40 {
		t.Fatalf("%d small-talk and spam messages held out, want at least 40", len(msgs))
	}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			e.p.cls = model
			kinds := []message.Kind{message.SMS, message.WhatsApp, message.Email}
			var spamStored, spamSeen int
			for i, l := range msgs {
				kind := kinds[i%len(kinds)]
				var in message.Inbound
				// A contact each, so no reply is held back by the window.
				if kind == message.Email {
					in = e.mail(fmt.Sprintf("m%d@x", i), fmt.Sprintf("c%d@example.com", i), "", l.Text)
				} else {
					in = e.phone(kind, fmt.Sprintf("m%d", i), fmt.Sprintf("+96655%07d", i), l.Text)
				}
				r := e.process(t, in)
				d := r.Decision
				if r.TicketID != 0 || d.CreateTicket {
					t.Errorf("%s %q opened ticket %s (%s, %q)", l.Intent, l.Text, r.TicketRef, d.Action, d.Reasons)
				}
				switch d.Action {
				case ActionSpam:
					if r.OutboundID != 0 || d.Scope != classify.ScopeSpam {
						t.Errorf("spam %q: outbound %d, scope %q", l.Text, r.OutboundID, d.Scope)
					}
				case ActionSmallTalk, ActionFallback:
					if r.OutboundID == 0 {
						t.Errorf("%s %q: no reply (%q)", d.Action, l.Text, d.Reasons)
					}
				default:
					if l.Intent == "spam" || l.Intent == "smalltalk" {
						t.Errorf("%s %q → %s (%q)", l.Intent, l.Text, d.Action, d.Reasons)
					}
				}
				if l.Intent == "spam" {
					spamSeen++
					if d.Action == ActionSpam {
						spamStored++
					}
				}
				if d.Action == ActionSmallTalk {
					o, err := e.st.Outbound(context.Background(), r.OutboundID)
					if err != nil {
						t.Fatal(err)
					}
					if strings.Count(o.Text, "\n") > 0 || !strings.Contains(o.Text, "إدارة الخدمات التعليمية") && !strings.Contains(o.Text, "Educational Services") {
						t.Errorf("small talk %q answered %q, want the one line", l.Text, o.Text)
					}
				}
			}
			if n := e.count(t, `SELECT COUNT(*) FROM tickets`); n != 0 {
				t.Errorf("%d tickets, want none", n)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM messages WHERE scope = 'spam'`); n != spamStored || spamStored < spamSeen*3/4 {
				t.Errorf("%d messages stored as spam, %d decided spam of %d spam messages", n, spamStored, spamSeen)
			}
		})
	}
}

// A thank-you on a conversation with an open ticket joins the ticket with
// no reply.
func TestPipelineThanksJoinsOpenTicket(t *testing.T) {
	model, err := universityModel()
	if err != nil {
		t.Fatal(err)
	}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			e.p.cls = model
			r1 := e.process(t, e.phone(message.WhatsApp, "WA1", "+966551234567", "البروجكتر في قاعة 12 خربان ما يشتغل نبي فني"))
			if r1.TicketRef == "" || r1.OutboundID == 0 {
				t.Fatalf("request: %+v", r1.Decision)
			}
			e.now = e.now.Add(3 * time.Hour)
			r2 := e.process(t, e.phone(message.WhatsApp, "WA2", "+966551234567", "شكرا جزيلا"))
			if r2.Decision.Action != ActionAppend || r2.OutboundID != 0 || r2.TicketRef != r1.TicketRef || r2.Decision.CreateTicket {
				t.Errorf("thanks: %+v", r2)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM ticket_events WHERE ticket_id = ?`, r1.TicketID); n != 2 {
				t.Errorf("ticket events = %d, want created + the thanks", n)
			}
		})
	}
}

// Unsure between services: the reply lists them with their forms, no
// ticket, and the stored decision names them.
func TestPipelineAsksWhenUnsure(t *testing.T) {
	unsure := classify.Result{Scope: classify.ScopeIn, Topic: "equipment_maintenance", Confidence: 0.25, Language: classify.English,
		Candidates: []classify.Candidate{{Topic: "equipment_maintenance"}, {Topic: "housing"}, {Topic: "equipment_supply"}}}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			e.p.cls = stubClassifier{"the ac in my room is broken": unsure}
			r := e.process(t, e.mail("m1@x", "a@example.edu", "AC", "the ac in my room is broken"))
			if r.Decision.Action != ActionAsk || r.TicketID != 0 || r.OutboundID == 0 {
				t.Fatalf("decision %+v", r)
			}
			o, err := e.st.Outbound(context.Background(), r.OutboundID)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"1- Maintenance of teaching equipment: https://example.edu.sa/edu-services/itqan",
				"2- University housing: https://example.edu.sa/housing", "3- Supply of teaching equipment:"} {
				if !strings.Contains(o.Text, want) {
					t.Errorf("reply lacks %q:\n%s", want, o.Text)
				}
			}
			if !strings.Contains(o.HTML, "<ol>") {
				t.Errorf("email HTML has no list of choices:\n%s", o.HTML)
			}
			c, _ := e.st.Conversation(context.Background(), r.ConversationID)
			var d Decision
			if err := json.Unmarshal(c.Messages[0].Decision, &d); err != nil {
				t.Fatal(err)
			}
			if d.Action != ActionAsk || strings.Join(d.Candidates, ",") != "equipment_maintenance,housing,equipment_supply" {
				t.Errorf("stored decision %+v", d)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM tickets`); n != 0 {
				t.Errorf("%d tickets, want none until the customer answers", n)
			}

			// The customer answers in the same conversation, minutes later:
			// the ticket opens and is acknowledged, window or not.
			e.p.cls = stubClassifier{"the ac in my room is broken": unsure, "maintenance please, the projector is broken": maintenance}
			answer := e.mail("m2@x", "a@example.edu", "Re: AC", "maintenance please, the projector is broken")
			answer.InReplyTo = "m1@x"
			r2 := e.process(t, answer)
			if r2.ConversationID != r.ConversationID || r2.Decision.Action != ActionTicket || r2.TicketID == 0 || r2.OutboundID == 0 {
				t.Fatalf("answer to the question: conversation %d (want %d), decision %+v", r2.ConversationID, r.ConversationID, r2.Decision)
			}
			ack, err := e.st.Outbound(context.Background(), r2.OutboundID)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(ack.Text, r2.TicketRef) {
				t.Errorf("acknowledgement lacks the reference %s:\n%s", r2.TicketRef, ack.Text)
			}
		})
	}
}
