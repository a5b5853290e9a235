package router

import (
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
)

// A form names its service and a representative the call's outcome: the
// decision follows them whatever the classifier says, and keeps what the
// classifier said.
func TestDecideDeclared(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	maint := TopicInfo{Found: true, Kind: "request", Scope: "in", Actionable: true, Department: "maintenance_center"}
	clearance := TopicInfo{Found: true, Kind: "request", Scope: "in", Department: "customer_service"}
	grades := TopicInfo{Found: true, Kind: "request", Scope: "out"}
	spam := classify.Result{Scope: classify.ScopeSpam, Topic: "spam", Confidence: 0.95, Language: classify.English}
	agrees := classify.Result{Scope: classify.ScopeIn, Topic: "equipment_maintenance", Confidence: 0.7, Language: classify.English}
	form := func(topic string) *message.Declared {
		return &message.Declared{Topic: topic, Outcome: message.OutcomeTicket, Language: "ar", Note: "the maintenance form"}
	}
	call := func(topic, outcome string) *message.Declared {
		return &message.Declared{Topic: topic, Outcome: outcome, Language: "en"}
	}
	tests := []struct {
		name         string
		f            Facts
		action       Action
		ticket, auto bool
		dept, lang   string
		reason       string
	}{
		{"form, classifier says spam", Facts{Channel: message.Form, Declared: form("equipment_maintenance"), Topic: maint, Class: spam},
			ActionTicket, true, true, "maintenance_center", "ar", `the classifier would have said topic "spam" (spam, confidence 0.95)`},
		{"form, classifier agrees", Facts{Channel: message.Form, Declared: form("equipment_maintenance"), Topic: maint, Class: agrees},
			ActionTicket, true, true, "maintenance_center", "ar", `the classifier agrees: topic "equipment_maintenance"`},
		{"form, not sure at all", Facts{Channel: message.Form, Declared: form("equipment_maintenance"), Topic: maint, Class: classify.Result{Scope: classify.ScopeOut, Confidence: 0.1}},
			ActionTicket, true, true, "maintenance_center", "ar", "the classifier found no topic"},
		{"form within the window still acknowledged", Facts{Channel: message.Form, Declared: form("equipment_maintenance"), Topic: maint, LastAutoReply: now.Add(-time.Hour), Window: 24 * time.Hour},
			ActionTicket, true, false, "maintenance_center", "ar", "already answered automatically"},
		{"form over the contact's cap", Facts{Channel: message.Form, Declared: form("equipment_maintenance"), Topic: maint, ContactAutoReplies: 3, Cap: 3, CapPeriod: 24 * time.Hour},
			ActionTicket, true, false, "maintenance_center", "ar", "cap 3"},
		{"form for a topic gone from the bank", Facts{Channel: message.Form, Declared: form("old_service")},
			ActionFallback, false, false, "", "ar", `topic "old_service" is not in the bank`},
		{"call answered", Facts{Channel: message.Phone, Declared: call("clearance", message.OutcomeAnswered), Topic: clearance, Class: agrees},
			ActionAnswer, false, false, "customer_service", "en", "answered on the phone"},
		{"call guided to the form", Facts{Channel: message.Phone, Declared: call("equipment_maintenance", message.OutcomeGuided), Topic: maint},
			ActionAnswer, false, false, "maintenance_center", "en", "guided to the right form"},
		{"call referred", Facts{Channel: message.Phone, Declared: call("grades_records", message.OutcomeReferred), Topic: grades},
			ActionReferral, false, false, "", "en", "referred to the competent office"},
		{"call with a ticket", Facts{Channel: message.Phone, Declared: call("clearance", message.OutcomeTicket), Topic: clearance},
			ActionTicket, true, true, "customer_service", "en", "ticket for customer_service"},
		{"call about nothing in particular", Facts{Channel: message.Phone, Declared: call("", message.OutcomeAnswered), Class: spam},
			ActionAnswer, false, false, "", "en", "nothing is sent automatically"},
		{"call asks a ticket for an out-of-scope topic", Facts{Channel: message.Phone, Declared: call("grades_records", message.OutcomeTicket), Topic: grades},
			ActionFallback, false, false, "", "en", "no department for"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Now = now
			d := Decide(tt.f)
			if d.Action != tt.action || d.CreateTicket != tt.ticket || d.AutoReply != tt.auto || d.Department != tt.dept || string(d.Language) != tt.lang {
				t.Errorf("got %s ticket=%v auto=%v dept=%q lang=%q; want %s %v %v %q %q\nreasons: %q",
					d.Action, d.CreateTicket, d.AutoReply, d.Department, d.Language, tt.action, tt.ticket, tt.auto, tt.dept, tt.lang, d.Reasons)
			}
			if !strings.Contains(strings.Join(d.Reasons, "\n"), tt.reason) {
				t.Errorf("reasons %q lack %q", d.Reasons, tt.reason)
			}
			if tt.action == ActionTicket && (d.Topic != tt.f.Declared.Topic || d.Confidence != 1) {
				t.Errorf("topic %q confidence %.2f, want the declared topic, 1", d.Topic, d.Confidence)
			}
		})
	}
}
