package tickets

import (
	"errors"
	"slices"
	"testing"

	"github.com/wasl-dev/wasl/store"
)

func TestRef(t *testing.T) {
	if got := store.TicketRef("EDU", 2026, 123); got != "EDU-2026-000123" {
		t.Fatalf("TicketRef = %q", got)
	}
}

func TestFindRefs(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Re: [#EDU-2026-000123] projector broken", []string{"EDU-2026-000123"}},
		{"RE: re: edu-2026-000123", []string{"EDU-2026-000123"}},
		{"رد: [#EDU-2026-000045] صيانة", []string{"EDU-2026-000045"}},
		{"FW: ABC-2026-000123 and EDU-2025-0042", []string{"EDU-2025-000042"}},
		{"Re: [#EDU-2026-000009] Re: [#EDU-2026-000002] Fwd: EDU-2026-000009", []string{"EDU-2026-000009", "EDU-2026-000002"}},
		{"no reference here", nil},
		{"ABC-2026-000123", nil},
		{"EDU-2026-1", nil}, // too short to be ours
	}
	for _, tt := range tests {
		if got := FindRefs(tt.in, "EDU"); !slices.Equal(got, tt.want) {
			t.Errorf("FindRefs(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSubject(t *testing.T) {
	tests := []struct{ subject, ref, want string }{
		{"Projector", "EDU-2026-000001", "[#EDU-2026-000001] Projector"},
		{"Re: [#EDU-2026-000001] Projector", "EDU-2026-000001", "Re: [#EDU-2026-000001] Projector"},
		{"", "EDU-2026-000001", "[#EDU-2026-000001]"},
		{"Projector", "", "Projector"},
	}
	for _, tt := range tests {
		if got := Subject(tt.subject, tt.ref); got != tt.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", tt.subject, tt.ref, got, tt.want)
		}
	}
}

// Every pair of statuses is checked against the table: the moves in it
// are allowed, every other pair is refused with a *MoveError.
func TestStatusMoves(t *testing.T) {
	allowed := map[[2]Status]bool{}
	for _, m := range Moves() {
		if allowed[[2]Status{m.From, m.To}] {
			t.Errorf("move %s → %s is in the table twice", m.From, m.To)
		}
		allowed[[2]Status{m.From, m.To}] = true
		if m.Action == "" {
			t.Errorf("move %s → %s has no action", m.From, m.To)
		}
	}
	for _, from := range Statuses() {
		for _, to := range Statuses() {
			err := CanMove(from, to)
			if allowed[[2]Status{from, to}] {
				if err != nil {
					t.Errorf("CanMove(%s, %s) = %v, want allowed", from, to, err)
				}
				continue
			}
			var me *MoveError
			if !errors.As(err, &me) || me.From != from || me.To != to {
				t.Errorf("CanMove(%s, %s) = %v, want a MoveError", from, to, err)
			}
		}
	}
	// The catalogue's path is in the table, step by step.
	for _, step := range [][2]Status{{Open, Transferred}, {Transferred, InProgress}, {InProgress, Transferred}, {Transferred, Closed}, {Closed, Open}} {
		if !allowed[step] {
			t.Errorf("the catalogue's step %s → %s is refused", step[0], step[1])
		}
	}
	if _, err := ParseStatus("bogus"); err == nil {
		t.Error("ParseStatus accepted bogus")
	}
	if s, err := ParseStatus("in_progress"); err != nil || s != InProgress {
		t.Errorf("ParseStatus(in_progress) = %v, %v", s, err)
	}
}

// The statuses are the store's: every one the store accepts has a name
// here, in the same order, and ParseStatus agrees with the store.
func TestStatusesAreTheStores(t *testing.T) {
	got := Statuses()
	want := store.TicketStatuses()
	if len(got) != len(want) {
		t.Fatalf("Statuses() = %q, store has %q", got, want)
	}
	for i, s := range got {
		if string(s) != want[i] {
			t.Errorf("Statuses()[%d] = %q, store has %q", i, s, want[i])
		}
		if p, err := ParseStatus(want[i]); err != nil || p != s {
			t.Errorf("ParseStatus(%q) = %q, %v", want[i], p, err)
		}
	}
	for _, s := range []Status{Open, Transferred, Pending, InProgress, Closed} {
		if !store.ValidTicketStatus(string(s)) {
			t.Errorf("the store does not accept %q", s)
		}
	}
}
