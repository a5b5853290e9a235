package router

import (
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
