package router

import (
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
)

// decideDeclared decides a message whose topic and outcome were already
// chosen: a service's form (always a ticket for that service's
// department) or a call the representative logged (answered, guided to a
// form, referred, or a ticket). The classifier does not decide; what it
// made of the text is kept in the reasons, so staff see when the customer
// picked a form that does not fit what they wrote.
func decideDeclared(d *Decision, f Facts, why func(string, ...any)) {
	dc := f.Declared
	what := declaredWhat(f)
	d.Topic, d.Confidence, d.Candidates = dc.Topic, 1, nil
	d.Department = f.Topic.Department
	d.Scope = ""
	if f.Topic.Found {
		d.Scope = classify.Scope(f.Topic.Scope)
	}
	if l := classify.Language(dc.Language); l == classify.Arabic || l == classify.English {
		d.Language = l
	}
	request := f.Topic.Found && f.Topic.Kind == "request"
	switch {
	case dc.Outcome == message.OutcomeTicket && request && f.Topic.Department != "":
		d.Action, d.CreateTicket = ActionTicket, true
		why("%s names topic %q: ticket for %s whatever the classifier says", what, dc.Topic, f.Topic.Department)
	case dc.Outcome == message.OutcomeTicket:
		d.Action, d.Topic, d.Department = ActionFallback, "", ""
		why("%s asks for a ticket for topic %q, which the bank has no department for: no ticket, staff to decide", what, dc.Topic)
	case dc.Outcome == message.OutcomeAnswered:
		d.Action = ActionAnswer
		why("%s: answered on the phone", what)
	case dc.Outcome == message.OutcomeGuided:
		d.Action = ActionAnswer
		why("%s: the caller was guided to the right form", what)
	case dc.Outcome == message.OutcomeReferred:
		d.Action = ActionReferral
		why("%s: the caller was referred to the competent office", what)
	default:
		d.Action = ActionFallback
		why("%s: unknown outcome %q, staff to decide", what, dc.Outcome)
	}
	if dc.Topic != "" && !f.Topic.Found {
		why("topic %q is not in the bank", dc.Topic)
	}
	c := f.Class
	switch {
	case dc.Topic == "":
	case c.Topic == dc.Topic:
		why("the classifier agrees: topic %q (%s, confidence %.2f)", c.Topic, c.Scope, c.Confidence)
	case c.Topic == "":
		why("the classifier found no topic in the text (%s, confidence %.2f)", c.Scope, c.Confidence)
	default:
		why("the classifier would have said topic %q (%s, confidence %.2f)", c.Topic, c.Scope, c.Confidence)
	}
}

// declaredWhat names who declared the message, for the reasons.
func declaredWhat(f Facts) string {
	if f.Declared.Note != "" {
		return f.Declared.Note
	}
	switch f.Channel {
	case message.Form:
		return "the form"
	case message.Phone:
		return "the logged call"
	}
	return "the channel"
}
