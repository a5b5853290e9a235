package tickets

import (
	"testing"

	"github.com/wasl-dev/wasl/replies"
)

// WorkflowOn takes the bank's calendar as the clock, and leaves Clock a nil
// interface where there is no calendar: a typed nil would pass Move's
// "w.Clock != nil" and be called.
func TestWorkflowOn(t *testing.T) {
	withHours, err := replies.LoadBank("../replies/testdata/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		bank  *replies.Bank
		clock bool
	}{
		{"no bank", nil, false},
		{"a bank without a calendar", new(replies.Bank), false},
		{"a bank with hours", withHours, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := WorkflowOn(tc.bank)
			if (w.Clock != nil) != tc.clock {
				t.Fatalf("Clock = %#v, want a clock: %v", w.Clock, tc.clock)
			}
			if tc.clock && w.Clock != Clock(tc.bank.Calendar()) {
				t.Errorf("Clock = %p, not the bank's calendar %p", w.Clock, tc.bank.Calendar())
			}
		})
	}
}
