package web

import (
	"testing"

	"github.com/wasl-dev/wasl/router"
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
