package web

import (
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// A decision's action and an event's actor are shown in the viewer's
// language; what the catalogue does not know shows as stored.
func TestActionAndActorLabels(t *testing.T) {
	tests := []struct {
		lang, action, wantAction string
		actor, wantActor         string
	}{
		{"ar", "ignore", "رسالة آلية، بلا رد", "system", "النظام"},
		{"en", "ignore", "automatic mail, not answered", "system", "system"},
		{"ar", "ticket", "فتح تذكرة", "customer", "العميل"},
		{"ar", "something-new", "something-new", "op@uni.example", "op@uni.example"},
	}
	for _, tt := range tests {
		p := &page{Lang: tt.lang}
		if got := p.Action(tt.action); got != tt.wantAction {
			t.Errorf("%s: Action(%q) = %q, want %q", tt.lang, tt.action, got, tt.wantAction)
		}
		if got := p.Actor(tt.actor); got != tt.wantActor {
			t.Errorf("%s: Actor(%q) = %q, want %q", tt.lang, tt.actor, got, tt.wantActor)
		}
	}
	// Every action a decision can name has its label in both languages.
	for _, a := range []router.Action{router.ActionTicket, router.ActionAppend, router.ActionReopen, router.ActionAnswer,
		router.ActionReferral, router.ActionFallback, router.ActionIgnore, router.ActionQuarantine, router.ActionHistory,
		router.ActionSmallTalk, router.ActionSpam, router.ActionAsk} {
		if _, ok := catalogue["action."+string(a)]; !ok {
			t.Errorf("action %q has no label in the catalogue", a)
		}
	}
}

// The notes Wasl writes on ticket events read in the viewer's language;
// a note a person typed is shown as typed, whatever it looks like.
func TestEventNotes(t *testing.T) {
	tests := []struct {
		name, lang string
		e          store.TicketEvent
		want       string
	}{
		{"staff reply", "ar", store.TicketEvent{Kind: "reply", Note: "reply #11: Typed in the demo inbox"}, "الرد رقم 11: Typed in the demo inbox"},
		{"staff reply, English", "en", store.TicketEvent{Kind: "reply", Note: "reply #11: Typed in the demo inbox"}, "reply #11: Typed in the demo inbox"},
		{"retry", "ar", store.TicketEvent{Kind: "reply", Note: "retry of reply #7"}, "إعادة إرسال الرد رقم 7"},
		{"assigned to the head", "ar", store.TicketEvent{Kind: "assign", Note: "assigned to head@uni.example (head of maintenance_center)"}, "أُسندت إلى head@uni.example (رئيس maintenance_center)"},
		{"assigned", "ar", store.TicketEvent{Kind: "assign", Note: "assigned to agent@uni.example"}, "أُسندت إلى agent@uni.example"},
		{"taken in hand", "ar", store.TicketEvent{Kind: "status", ToStatus: "in_progress", Note: "assigned to agent@uni.example"}, "أُسندت إلى agent@uni.example"},
		{"transfer", "ar", store.TicketEvent{Kind: "status", ToStatus: "transferred", Note: "to registration"}, "إلى registration"},
		{"customer message", "ar", store.TicketEvent{Kind: "message", Note: "customer message #42"}, "رسالة العميل رقم 42"},
		{"reopened", "ar", store.TicketEvent{Kind: "status", ToStatus: "open", Note: "reopened by customer message #42"}, "أُعيد فتحها برسالة العميل رقم 42"},
		{"answered", "ar", store.TicketEvent{Kind: "status", ToStatus: "open", Note: "the customer answered (message #42)"}, "أجاب العميل (الرسالة رقم 42)"},
		{"linked", "ar", store.TicketEvent{Kind: "linked", Note: "followed by EDU-2026-000009"}, "تلتها التذكرة EDU-2026-000009"},
		{"supply arrived", "ar", store.TicketEvent{Kind: "status", ToStatus: "open", Note: "supply arrived"}, "وصل التوريد، وأعيد فتح التذكرة"},
		{"snoozed", "ar", store.TicketEvent{Kind: "snooze", Note: "until 2026-12-09T11:30:00Z"}, "حتى 9 ديسمبر 2026 14:30"},
		{"snoozed, English", "en", store.TicketEvent{Kind: "snooze", Note: "until 2026-12-09T11:30:00Z"}, "until 9 Dec 2026 14:30"},
		// What people type, in a note or with a move, is theirs.
		{"typed note", "ar", store.TicketEvent{Kind: "note", Note: "reply #2: call her back"}, "reply #2: call her back"},
		{"typed with a move", "ar", store.TicketEvent{Kind: "status", ToStatus: "pending", Note: "to be checked tomorrow"}, "to be checked tomorrow"},
		{"unknown wording", "ar", store.TicketEvent{Kind: "reply", Note: "something else"}, "something else"},
	}
	riyadh, err := time.LoadLocation("Asia/Riyadh")
	if err != nil {
		t.Fatal(err)
	}
	// A day before the snooze's, so its date is shown.
	today := func() time.Time { return time.Date(2026, 12, 8, 9, 0, 0, 0, riyadh) }
	p := &page{Lang: "ar", h: &Handler{now: today}, loc: riyadh}
	if got, want := p.EventNote(store.TicketEvent{Kind: "message", Note: "customer message #42"}), "رسالة العميل رقم \u206842\u2069"; got != want {
		t.Errorf("isolates: %q, want %q", got, want)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &page{Lang: tt.lang, h: &Handler{now: today}, loc: riyadh}
			// The values sit in bidi isolates (FSI … PDI); compared without them.
			got := strings.NewReplacer("\u2068", "", "\u2069", "").Replace(p.EventNote(tt.e))
			if got != tt.want {
				t.Errorf("EventNote(%+v) = %q, want %q", tt.e, got, tt.want)
			}
		})
	}
}
