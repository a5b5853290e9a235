package router

import (
	"fmt"
	"slices"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
)

// Action is what a message causes.
type Action string

// Actions, from most to least work caused.
const (
	// ActionTicket: an actionable in-scope request; a ticket is opened and
	// acknowledged with its reference.
	ActionTicket Action = "ticket"
	// ActionAppend: a message in a conversation that already has an open
	// ticket (or names one); it is added to that ticket.
	ActionAppend Action = "append"
	// ActionReopen: a reply to a ticket closed within the reopen window;
	// the ticket is reopened and its assignee told.
	ActionReopen Action = "reopen"
	// ActionAnswer: an informational in-scope question, answered from the bank.
	ActionAnswer Action = "answer"
	// ActionReferral: out of scope, referred to the competent office.
	ActionReferral Action = "referral"
	// ActionFallback: in no topic with enough confidence; the fallback text
	// asks for details and staff see it in the inbox.
	ActionFallback Action = "fallback"
	// ActionIgnore: automatic mail (bounce, list, auto-reply): stored, never
	// answered, no ticket.
	ActionIgnore Action = "ignore"
	// ActionQuarantine: the message could not be read; stored raw with the reason.
	ActionQuarantine Action = "quarantine"
	// ActionHistory: the message reached us long after it was received
	// (a mailbox backfill, a phone that was offline for days): stored and
	// threaded, never answered automatically, no ticket.
	ActionHistory Action = "history"
	// ActionSmallTalk: a greeting, thanks, "ok": answered with the bank's
	// one polite line, never a ticket.
	ActionSmallTalk Action = "smalltalk"
	// ActionSpam: prize draws, loan offers, mass marketing: stored with
	// scope "spam" for the inbox's spam filter, never answered, no ticket.
	ActionSpam Action = "spam"
	// ActionAsk: a request the classifier is not sure enough of to act on
	// (confidence below AskBelow): the reply names the likeliest services
	// with their links and asks the customer to pick; no ticket until the
	// customer's answer or a person decides.
	ActionAsk Action = "ask"
)

// AskBelow is the confidence below which the classifier's answer is not
// acted on: a request is not ticketed, answered or referred but the
// customer asked to pick a service, and a message is not taken for small
// talk or spam but gets the fallback reply. From the out-of-scope
// threshold (classify.DefaultThreshold) up to here the classifier names a
// topic but is often wrong. Chosen on the university bank's held-out
// messages (bench/classify.md).
const AskBelow = 0.30

// maxChoices is how many services an ask reply offers at most.
const maxChoices = 3

// Decision is what the pipeline decided for one message and why. It is data
// so the inbox can show it and tests can assert it.
type Decision struct {
	Action       Action         `json:"action"`
	CreateTicket bool           `json:"create_ticket"`
	AutoReply    bool           `json:"auto_reply"`
	Scope        classify.Scope `json:"scope,omitempty"`
	Topic        string         `json:"topic,omitempty"`
	// Candidates are the services an ask reply offers, best first.
	Candidates []string `json:"candidates,omitempty"`
	Department string   `json:"department,omitempty"`
	// FollowsTicket is the earlier ticket a new one is linked to (a reply
	// after the reopen window).
	FollowsTicket string            `json:"follows_ticket,omitempty"`
	Language      classify.Language `json:"language,omitempty"`
	Confidence    float64           `json:"confidence,omitempty"`
	// MuteUntil, when set, mutes the contact's automatic replies until then
	// (the per-contact cap).
	MuteUntil time.Time `json:"mute_until,omitzero"`
	Reasons   []string  `json:"reasons"`
}

// TopicInfo is what the decision needs to know of a topic from the bank.
type TopicInfo struct {
	Found      bool
	Kind       string // "request", "smalltalk" or "spam" (replies.TopicKind)
	Scope      string // "in" or "out"
	Actionable bool
	Department string
}

// Facts are everything Decide looks at; gathering them is the pipeline's
// job, deciding is this pure function's.
type Facts struct {
	Channel     message.Kind
	Flags       message.Flags
	Quarantined bool
	Reason      string // quarantine reason
	Class       classify.Result
	Topic       TopicInfo
	// OpenTicket is the ticket reference this message belongs to, if any.
	OpenTicket string
	// ReopenTicket is a ticket the message answers that was closed within
	// the reopen window: it is reopened. FollowsTicket is one closed
	// before that: a new ticket is opened, linked to it, in the topic the
	// classifier finds when actionable, else in FollowsTopic (the old
	// ticket's).
	ReopenTicket   string
	FollowsTicket  string
	FollowsTopicID string
	FollowsTopic   TopicInfo
	// CitesForeignTicket is another contact's ticket reference the message
	// cites without anything tying it to that ticket; it is kept apart.
	CitesForeignTicket string
	// LastAutoReply is when this contact last got an automatic reply in this
	// conversation; zero when never.
	LastAutoReply time.Time
	// LastAutoReplyAsked: that reply asked the customer to pick a service
	// (ActionAsk), so this message is likely the answer, which gets its
	// own reply (the acknowledgement with the reference) inside the window.
	LastAutoReplyAsked bool
	// ContactAutoReplies counts the automatic replies the contact got within
	// CapPeriod in any conversation; at Cap, none more is sent and the
	// contact is muted for CapPeriod. MutedUntil is a mute in force (zero:
	// none); a message that would have been answered extends it, so an
	// autoresponder stays muted while it keeps writing.
	ContactAutoReplies int
	Cap                int
	CapPeriod          time.Duration
	MutedUntil         time.Time
	// ReceivedAt is when the channel received the message (IMAP
	// INTERNALDATE, the WhatsApp server's timestamp); zero when unknown.
	// A message older than Window is history.
	ReceivedAt time.Time
	Window     time.Duration
	Now        time.Time
	// Declared is what a form or a representative said the message is
	// (declared.go); Topic is then the declared topic's.
	Declared *message.Declared
}

// Decide turns facts into a decision.
func Decide(f Facts) Decision {
	d := Decision{
		Scope:      f.Class.Scope,
		Topic:      f.Class.Topic,
		Language:   f.Class.Language,
		Confidence: f.Class.Confidence,
		Department: f.Topic.Department,
	}
	why := func(format string, a ...any) { d.Reasons = append(d.Reasons, fmt.Sprintf(format, a...)) }

	if f.CitesForeignTicket != "" {
		why("cites ticket %s of another contact: not joined to it (a reference alone is no proof of the thread)", f.CitesForeignTicket)
	}

	if f.Quarantined {
		d.Action = ActionQuarantine
		why("quarantined: %s", f.Reason)
		return d
	}
	if f.Flags.Any() {
		d.Action = ActionIgnore
		why("automatic mail (%s): never answered automatically (RFC 3834), no ticket", flagNames(f.Flags))
		return d
	}

	if !f.ReceivedAt.IsZero() && f.Window > 0 && f.Now.Sub(f.ReceivedAt) > f.Window {
		d.Action = ActionHistory
		why("received %s, more than %s before it reached the pipeline: kept as history, never answered automatically, no ticket",
			f.ReceivedAt.UTC().Format(time.RFC3339), f.Window)
		return d
	}

	choices := candidates(f.Class)
	sure := f.Class.Rule != "" || f.Class.Confidence >= AskBelow
	notRequest := f.Class.Scope == classify.ScopeSpam || f.Class.Scope == classify.ScopeSmallTalk
	switch {
	case f.Declared != nil:
		decideDeclared(&d, f, why)
	case f.ReopenTicket != "":
		d.Action = ActionReopen
		why("answers ticket %s, closed within the reopen window: the ticket is reopened", f.ReopenTicket)
	case f.FollowsTicket != "" && ((f.Class.Scope == classify.ScopeIn && f.Topic.Found && f.Topic.Actionable) || f.FollowsTopic.Found):
		d.Action = ActionTicket
		d.CreateTicket = true
		d.FollowsTicket = f.FollowsTicket
		if !(f.Class.Scope == classify.ScopeIn && f.Topic.Found && f.Topic.Actionable) && f.FollowsTopic.Found {
			d.Topic, d.Department = f.FollowsTopicID, f.FollowsTopic.Department
		}
		why("answers ticket %s, closed before the reopen window: a new ticket for %s, linked to it", f.FollowsTicket, d.Department)
	case f.OpenTicket != "":
		// Thanks or "ok" on an open ticket joins it too, silently.
		d.Action = ActionAppend
		why("belongs to ticket %s", f.OpenTicket)
	case notRequest && !sure:
		// A customer taken for a spammer would never hear from us, and
		// one taken for a greeting would get a courtesy instead of help:
		// neither on a guess.
		d.Action = ActionFallback
		d.Scope, d.Topic = classify.ScopeOut, "" // not filed under spam in the inbox
		why("looks like %s (topic %q) but unsure (confidence %.2f < %.2f): fallback reply, no ticket, staff to follow up",
			f.Class.Scope, f.Class.Topic, f.Class.Confidence, AskBelow)
	case f.Class.Scope == classify.ScopeSpam:
		d.Action = ActionSpam
		why("spam (topic %q): kept for the inbox's spam filter, never answered, no ticket", f.Class.Topic)
	case f.Class.Scope == classify.ScopeSmallTalk && f.Topic.Found:
		d.Action = ActionSmallTalk
		why("small talk (topic %q): one polite line, no ticket", f.Class.Topic)
	case f.Topic.Found && !sure && len(choices) >= 2:
		d.Action = ActionAsk
		d.Candidates = choices
		why("unsure (confidence %.2f < %.2f): the customer is asked to pick between %q; no ticket until they answer or staff decide",
			f.Class.Confidence, AskBelow, choices)
	case f.Class.Scope == classify.ScopeIn && f.Topic.Found && f.Topic.Actionable:
		d.Action = ActionTicket
		d.CreateTicket = true
		why("in scope, topic %q is actionable: ticket for %s", f.Class.Topic, f.Topic.Department)
	case f.Class.Scope == classify.ScopeIn && f.Topic.Found:
		d.Action = ActionAnswer
		why("in scope, topic %q is informational: answered from the bank", f.Class.Topic)
	case f.Class.Scope == classify.ScopeOut && f.Topic.Found:
		d.Action = ActionReferral
		why("out of scope, topic %q: referred to the competent office", f.Class.Topic)
	default:
		d.Action = ActionFallback
		d.Topic = ""
		why("no topic with enough confidence (%.2f): fallback reply, staff to follow up", f.Class.Confidence)
	}
	if f.Class.Rule != "" {
		why("rule %q fired", f.Class.Rule)
	}
	if f.Declared == nil {
		for _, r := range f.Class.Reasons {
			why("classifier: %s", r)
		}
	}

	// The customer's answer to "which service?" gets its own reply (the
	// acknowledgement with the reference) although it comes within the
	// window; the per-contact cap still holds.
	answersAsk := f.LastAutoReplyAsked && d.Action != ActionAsk && d.Action != ActionFallback
	if answersAsk {
		why("answers our question which service they meant: the one-reply window does not apply")
	}
	d.AutoReply = true
	switch {
	case f.Declared != nil && !d.CreateTicket:
		d.AutoReply = false
		why("%s: nothing is sent automatically", declaredWhat(f))
	case d.Action == ActionAppend:
		d.AutoReply = false
		why("follow-up on an open ticket: no new automatic reply")
	case d.Action == ActionReopen:
		d.AutoReply = false
		why("reopened ticket: no automatic reply, its assignee is told")
	case d.Action == ActionSpam:
		d.AutoReply = false
	case !answersAsk && !f.LastAutoReply.IsZero() && f.Now.Sub(f.LastAutoReply) < f.Window:
		d.AutoReply = false
		why("already answered automatically at %s (window %s)", f.LastAutoReply.UTC().Format(time.RFC3339), f.Window)
	case f.Now.Before(f.MutedUntil):
		d.AutoReply = false
		d.MuteUntil = f.Now.Add(f.CapPeriod)
		why("contact muted (automatic-reply cap, %d in %s): no automatic reply; still writing, so muted until %s",
			f.Cap, f.CapPeriod, d.MuteUntil.UTC().Format(time.RFC3339))
	case f.Cap > 0 && f.ContactAutoReplies >= f.Cap:
		d.AutoReply = false
		d.MuteUntil = f.Now.Add(f.CapPeriod)
		why("contact already got %d automatic replies within %s across conversations (cap %d): no more, contact muted until %s",
			f.ContactAutoReplies, f.CapPeriod, f.Cap, d.MuteUntil.UTC().Format(time.RFC3339))
	}
	return d
}

// candidates are the services to offer when unsure: the topic the
// classifier chose and the next likeliest requests, at most maxChoices.
func candidates(r classify.Result) []string {
	var out []string
	if r.Topic != "" && (r.Scope == classify.ScopeIn || r.Scope == classify.ScopeOut) {
		out = append(out, r.Topic)
	}
	for _, c := range r.Candidates {
		if len(out) == maxChoices {
			break
		}
		if !slices.Contains(out, c.Topic) {
			out = append(out, c.Topic)
		}
	}
	return out
}

func flagNames(f message.Flags) string {
	var s []string
	for _, x := range []struct {
		on   bool
		name string
	}{{f.AutoSubmitted, "auto-submitted"}, {f.Bulk, "bulk"}, {f.List, "mailing list"}, {f.Bounce, "bounce"}, {f.NoReply, "no-reply sender"}} {
		if x.on {
			s = append(s, x.name)
		}
	}
	return fmt.Sprint(s)
}
