package router

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/message"
)

func TestDecide(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	in := func(topic string) classify.Result {
		return classify.Result{Scope: classify.ScopeIn, Topic: topic, Confidence: 0.9, Language: classify.Arabic}
	}
	actionable := TopicInfo{Found: true, Scope: "in", Actionable: true, Department: "media"}
	informational := TopicInfo{Found: true, Scope: "in"}
	outTopic := TopicInfo{Found: true, Scope: "out"}
	smalltalkTopic := TopicInfo{Found: true, Kind: "smalltalk"}
	spamTopic := TopicInfo{Found: true, Kind: "spam"}
	smalltalk := classify.Result{Scope: classify.ScopeSmallTalk, Topic: "smalltalk", Confidence: 0.8, Language: classify.Arabic}
	spam := classify.Result{Scope: classify.ScopeSpam, Topic: "spam", Confidence: 0.7}
	unsure := func(conf float64, topics ...string) classify.Result {
		r := classify.Result{Scope: classify.ScopeIn, Topic: topics[0], Confidence: conf}
		for _, tp := range topics {
			r.Candidates = append(r.Candidates, classify.Candidate{Topic: tp, Scope: classify.ScopeIn})
		}
		return r
	}

	tests := []struct {
		name         string
		f            Facts
		action       Action
		ticket, auto bool
	}{
		{"actionable", Facts{Class: in("maintenance"), Topic: actionable}, ActionTicket, true, true},
		{"informational", Facts{Class: in("inquiries"), Topic: informational}, ActionAnswer, false, true},
		{"out of scope topic", Facts{Class: classify.Result{Scope: classify.ScopeOut, Topic: "grades"}, Topic: outTopic}, ActionReferral, false, true},
		{"unsure", Facts{Class: classify.Result{Scope: classify.ScopeOut, Confidence: 0.2}}, ActionFallback, false, true},
		{"open ticket", Facts{Class: in("maintenance"), Topic: actionable, OpenTicket: "EDU-2026-000001"}, ActionAppend, false, false},
		{"auto-submitted", Facts{Class: in("maintenance"), Topic: actionable, Flags: message.Flags{AutoSubmitted: true}}, ActionIgnore, false, false},
		{"bounce", Facts{Flags: message.Flags{Bounce: true}}, ActionIgnore, false, false},
		{"list", Facts{Flags: message.Flags{List: true, Bulk: true}}, ActionIgnore, false, false},
		{"no-reply sender", Facts{Class: in("maintenance"), Topic: actionable, Flags: message.Flags{NoReply: true}}, ActionIgnore, false, false},
		{"quarantined", Facts{Quarantined: true, Reason: "too big"}, ActionQuarantine, false, false},
		{"answered within window", Facts{Class: in("inquiries"), Topic: informational, LastAutoReply: now.Add(-time.Hour)}, ActionAnswer, false, false},
		{"answered before window", Facts{Class: in("inquiries"), Topic: informational, LastAutoReply: now.Add(-25 * time.Hour)}, ActionAnswer, false, true},
		{"received long ago (backfill)", Facts{Class: in("maintenance"), Topic: actionable, ReceivedAt: now.Add(-25 * time.Hour)}, ActionHistory, false, false},
		{"received long ago on an open ticket", Facts{Class: in("maintenance"), Topic: actionable, OpenTicket: "EDU-2026-000001", ReceivedAt: now.Add(-48 * time.Hour)}, ActionHistory, false, false},
		{"received within the window", Facts{Class: in("maintenance"), Topic: actionable, ReceivedAt: now.Add(-23 * time.Hour)}, ActionTicket, true, true},
		{"old automatic mail is still ignored", Facts{Flags: message.Flags{Bounce: true}, ReceivedAt: now.Add(-48 * time.Hour)}, ActionIgnore, false, false},
		{"ticket within window still opens, no second reply", Facts{Class: in("maintenance"), Topic: actionable, LastAutoReply: now.Add(-time.Minute)}, ActionTicket, true, false},
		{"under the contact's cap", Facts{Class: in("inquiries"), Topic: informational, ContactAutoReplies: 2, Cap: 3, CapPeriod: 24 * time.Hour}, ActionAnswer, false, true},
		{"contact's cap reached across conversations", Facts{Class: in("inquiries"), Topic: informational, ContactAutoReplies: 3, Cap: 3, CapPeriod: 24 * time.Hour}, ActionAnswer, false, false},
		{"cap reached, the ticket still opens", Facts{Class: in("maintenance"), Topic: actionable, ContactAutoReplies: 3, Cap: 3, CapPeriod: 24 * time.Hour}, ActionTicket, true, false},
		{"contact muted", Facts{Class: in("inquiries"), Topic: informational, Cap: 3, CapPeriod: 24 * time.Hour, MutedUntil: now.Add(time.Hour)}, ActionAnswer, false, false},
		{"mute over", Facts{Class: in("inquiries"), Topic: informational, Cap: 3, CapPeriod: 24 * time.Hour, MutedUntil: now.Add(-time.Hour)}, ActionAnswer, false, true},

		// Issue 11: messages that ask for nothing.
		{"small talk", Facts{Class: smalltalk, Topic: smalltalkTopic}, ActionSmallTalk, false, true},
		{"small talk answered once per window", Facts{Class: smalltalk, Topic: smalltalkTopic, LastAutoReply: now.Add(-time.Hour)}, ActionSmallTalk, false, false},
		{"thanks on an open ticket joins it silently", Facts{Class: smalltalk, Topic: smalltalkTopic, OpenTicket: "EDU-2026-000001"}, ActionAppend, false, false},
		{"spam", Facts{Class: spam, Topic: spamTopic}, ActionSpam, false, false},
		{"spam by rule", Facts{Class: classify.Result{Scope: classify.ScopeSpam, Topic: "spam", Confidence: 1, Rule: "spam-link-prize"}, Topic: spamTopic}, ActionSpam, false, false},
		{"spam is never answered, window or not", Facts{Class: spam, Topic: spamTopic, LastAutoReply: now.Add(-48 * time.Hour)}, ActionSpam, false, false},
		{"unsure spam gets the fallback", Facts{Class: classify.Result{Scope: classify.ScopeSpam, Topic: "spam", Confidence: 0.2}, Topic: spamTopic}, ActionFallback, false, true},
		{"unsure small talk gets the fallback", Facts{Class: classify.Result{Scope: classify.ScopeSmallTalk, Topic: "smalltalk", Confidence: 0.2}, Topic: smalltalkTopic}, ActionFallback, false, true},
		// Unsure: ask, no ticket.
		{"unsure between services", Facts{Class: unsure(0.25, "maintenance", "supply", "housing"), Topic: actionable}, ActionAsk, false, true},
		{"unsure referral asks too", Facts{Class: classify.Result{Scope: classify.ScopeOut, Topic: "housing", Confidence: 0.2,
			Candidates: []classify.Candidate{{Topic: "housing"}, {Topic: "transport"}}}, Topic: outTopic}, ActionAsk, false, true},
		{"sure enough opens the ticket", Facts{Class: unsure(AskBelow, "maintenance", "supply"), Topic: actionable}, ActionTicket, true, true},
		{"unsure with one candidate opens the ticket", Facts{Class: unsure(0.25, "maintenance"), Topic: actionable}, ActionTicket, true, true},
		{"the answer to our question opens the ticket with its reply", Facts{Class: in("maintenance"), Topic: actionable, LastAutoReply: now.Add(-time.Minute), LastAutoReplyAsked: true}, ActionTicket, true, true},
		{"still unsure after asking: no second question in the window", Facts{Class: unsure(0.25, "maintenance", "supply"), Topic: actionable, LastAutoReply: now.Add(-time.Minute), LastAutoReplyAsked: true}, ActionAsk, false, false},
		{"the answer still counts against the contact's cap", Facts{Class: in("maintenance"), Topic: actionable, LastAutoReply: now.Add(-time.Minute), LastAutoReplyAsked: true, ContactAutoReplies: 3, Cap: 3, CapPeriod: 24 * time.Hour}, ActionTicket, true, false},
		{"unsure on an open ticket appends", Facts{Class: unsure(0.25, "maintenance", "supply"), Topic: actionable, OpenTicket: "EDU-2026-000001"}, ActionAppend, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.f.Now, tt.f.Window = now, 24*time.Hour
			d := Decide(tt.f)
			if d.Action != tt.action || d.CreateTicket != tt.ticket || d.AutoReply != tt.auto {
				t.Errorf("Decide = %s ticket=%v auto=%v, want %s ticket=%v auto=%v (reasons %q)",
					d.Action, d.CreateTicket, d.AutoReply, tt.action, tt.ticket, tt.auto, d.Reasons)
			}
			if len(d.Reasons) == 0 {
				t.Error("a decision without reasons")
			}
		})
	}
}

// Reaching the cap mutes the contact for the cap's period; a muted
// contact writing on extends it; nothing else touches it.
func TestDecideMute(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	base := Facts{Class: classify.Result{Scope: classify.ScopeIn, Topic: "inquiries", Confidence: 0.9}, Topic: TopicInfo{Found: true, Scope: "in"},
		Cap: 3, CapPeriod: 24 * time.Hour, Window: 24 * time.Hour, Now: now}
	tests := []struct {
		name string
		edit func(*Facts)
		want time.Time
	}{
		{"under the cap", func(f *Facts) { f.ContactAutoReplies = 2 }, time.Time{}},
		{"at the cap", func(f *Facts) { f.ContactAutoReplies = 3 }, now.Add(24 * time.Hour)},
		{"muted, writes again", func(f *Facts) { f.MutedUntil = now.Add(time.Hour) }, now.Add(24 * time.Hour)},
		{"mute over", func(f *Facts) { f.MutedUntil = now.Add(-time.Second) }, time.Time{}},
		{"automatic mail never touches the mute", func(f *Facts) { f.ContactAutoReplies, f.Flags.AutoSubmitted = 3, true }, time.Time{}},
		{"conversation rule first", func(f *Facts) { f.ContactAutoReplies, f.LastAutoReply = 3, now.Add(-time.Hour) }, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := base
			tt.edit(&f)
			d := Decide(f)
			if !d.MuteUntil.Equal(tt.want) {
				t.Errorf("MuteUntil = %v, want %v (reasons %q)", d.MuteUntil, tt.want, d.Reasons)
			}
			if !d.MuteUntil.IsZero() && (d.AutoReply || !strings.Contains(strings.Join(d.Reasons, " "), "muted until")) {
				t.Errorf("muted, yet auto_reply=%v, reasons %q", d.AutoReply, d.Reasons)
			}
		})
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ subject, fallback, ref, want string }{
		{"Projector", "x", "EDU-2026-000001", "Re: [#EDU-2026-000001] Projector"},
		{"RE: Projector", "x", "", "Re: Projector"},
		{"Re: [#EDU-2026-000001] Projector", "x", "EDU-2026-000001", "Re: [#EDU-2026-000001] Projector"},
		{"رد: صيانة", "x", "EDU-2026-000002", "Re: [#EDU-2026-000002] صيانة"},
		{"", "[EDU-2026-000003] We received your request", "EDU-2026-000003", "[EDU-2026-000003] We received your request"},
	}
	for _, tt := range tests {
		if got := replySubject(tt.subject, tt.fallback, tt.ref); got != tt.want {
			t.Errorf("replySubject(%q) = %q, want %q", tt.subject, got, tt.want)
		}
	}
}

// What an ask decision offers and what a spam decision stores.
func TestDecideAskAndSpamDetails(t *testing.T) {
	now := time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)
	base := Facts{Now: now, Window: 24 * time.Hour}

	f := base
	f.Class = classify.Result{Scope: classify.ScopeIn, Topic: "maintenance", Confidence: 0.22, Candidates: []classify.Candidate{
		{Topic: "supply"}, {Topic: "maintenance"}, {Topic: "housing"}, {Topic: "video"},
	}}
	f.Topic = TopicInfo{Found: true, Kind: "request", Scope: "in", Actionable: true, Department: "maint"}
	d := Decide(f)
	if want := []string{"maintenance", "supply", "housing"}; !slices.Equal(d.Candidates, want) {
		t.Errorf("candidates %q, want the chosen topic first, then the next likeliest, three at most: %q", d.Candidates, want)
	}
	if d.CreateTicket || d.Topic != "maintenance" || !d.AutoReply {
		t.Errorf("ask decision %+v", d)
	}
	if !strings.Contains(strings.Join(d.Reasons, "\n"), "asked to pick") {
		t.Errorf("reasons %q do not say the customer is asked", d.Reasons)
	}

	f = base
	f.Class = classify.Result{Scope: classify.ScopeSpam, Topic: "spam", Confidence: 0.6}
	f.Topic = TopicInfo{Found: true, Kind: "spam"}
	d = Decide(f)
	if d.Scope != classify.ScopeSpam || d.Topic != "spam" {
		t.Errorf("spam stored as scope %q topic %q, want spam/spam for the inbox filter", d.Scope, d.Topic)
	}
	f.Class.Confidence = AskBelow / 2
	if d = Decide(f); d.Action != ActionFallback || d.Scope != classify.ScopeOut || d.Topic != "" {
		t.Errorf("unsure spam: %s, scope %q topic %q; want the fallback, kept out of the spam filter", d.Action, d.Scope, d.Topic)
	}
}
