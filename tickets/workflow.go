package tickets

import (
	"context"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// Workflow applies the rules to the store: every status change goes through
// Move, which checks the transition table under the ticket's row lock and
// keeps the SLA clocks (working time paused while pending on the customer
// or closed) in the same transaction. Clock is the bank's calendar; without
// one the due times stay as they are.
type Workflow struct {
	Clock Clock
}

// WorkflowOn is the workflow on bank's business calendar. A nil bank, or
// one without a calendar, gives a Workflow without a Clock: a nil
// *replies.Calendar put into Clock would be a non-nil interface.
func WorkflowOn(bank *replies.Bank) Workflow {
	var w Workflow
	if bank == nil {
		return w
	}
	if cal := bank.Calendar(); cal != nil {
		w.Clock = cal
	}
	return w
}

// MoveOpts says who moves a ticket, when, and why.
type MoveOpts struct {
	Actor, Note string
	At          time.Time // zero: now
	// WaitingOn, for a move to pending: store.WaitingOnCustomer (the
	// default; the SLA clock stops) or store.WaitingOnSupply (it runs).
	WaitingOn string
}

// Move moves a ticket to status to. A move the table refuses writes
// nothing and returns a *MoveError. It returns the ticket as it was
// before.
func (w Workflow) Move(ctx context.Context, tx *store.Tx, ticketID int64, to Status, o MoveOpts) (store.Ticket, error) {
	at := o.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.UTC().Truncate(time.Microsecond)
	if to == Pending {
		switch o.WaitingOn {
		case "":
			o.WaitingOn = store.WaitingOnCustomer
		case store.WaitingOnCustomer, store.WaitingOnSupply:
		default:
			return store.Ticket{}, fmt.Errorf("pending on %q: want customer or supply", o.WaitingOn)
		}
	}
	before, err := tx.MoveTicket(ctx, ticketID, string(to), o.Actor, o.Note, at, func(from string) error {
		return CanMove(Status(from), to)
	})
	if err != nil {
		return before, err
	}
	clock := store.TicketClock{
		SLADueAt: before.SLADueAt, FirstResponseDueAt: before.FirstResponseDueAt,
		PausedSeconds: before.PausedSeconds,
	}
	// Working time spent pending on the customer, or closed before a
	// reopen, is not the department's: the clocks skip it.
	if w.Clock != nil {
		switch {
		case Status(before.Status) == Pending && before.PendingSince != nil && before.WaitingOn == store.WaitingOnCustomer:
			clock.PausedSeconds += int64(w.Clock.BusinessTime(*before.PendingSince, at) / time.Second)
		case Status(before.Status) == Closed && before.ClosedAt != nil:
			clock.PausedSeconds += int64(w.Clock.BusinessTime(*before.ClosedAt, at) / time.Second)
		}
	}
	if to == Pending {
		clock.PendingSince, clock.WaitingOn = &at, o.WaitingOn
	}
	before.PausedSeconds = clock.PausedSeconds
	clock.SLADueAt, clock.FirstResponseDueAt = w.dueTimes(before, clock.SLADueAt, clock.FirstResponseDueAt)
	if err := tx.SetTicketClock(ctx, ticketID, clock); err != nil {
		return before, err
	}
	if to == Open && Status(before.Status) == Closed {
		if err := tx.ClearOutcome(ctx, ticketID); err != nil {
			return before, err
		}
	}
	return before, nil
}

// dueTimes recomputes a ticket's due times from its targets and paused
// time; without a calendar, or for a target that does not parse (the
// ticket was opened under another bank), they stay as they were.
func (w Workflow) dueTimes(t store.Ticket, sla, first *time.Time) (*time.Time, *time.Time) {
	if w.Clock == nil {
		return sla, first
	}
	paused := time.Duration(t.PausedSeconds) * time.Second
	if tg, err := ParseTarget(t.SLATarget); err == nil && !tg.IsZero() {
		if due := Due(w.Clock, t.CreatedAt, tg, paused); !due.IsZero() {
			sla = &due
		}
	}
	if tg, err := ParseTarget(t.FirstResponseTarget); err == nil && !tg.IsZero() && t.FirstResponseAt == nil {
		if due := Due(w.Clock, t.CreatedAt, tg, paused); !due.IsZero() {
			first = &due
		}
	}
	return sla, first
}

// StartClocks fills a new ticket's targets and due times from the bank's
// targets for its topic (as written: "3d", "4h"); opened is when the
// request arrived.
func (w Workflow) StartClocks(t *store.Ticket, resolution, firstResponse string) {
	t.SLATarget, t.FirstResponseTarget = resolution, firstResponse
	if w.Clock == nil {
		return
	}
	t.SLADueAt, t.FirstResponseDueAt = w.dueTimes(*t, nil, nil)
}

// ClockState is where one of a ticket's clocks stands now.
type ClockState struct {
	Clock string // "first_response" or "resolution"
	State string // SLAOnTrack, SLAAtRisk, SLABreached
}

// The two clocks of a ticket.
const (
	ClockFirstResponse = "first_response"
	ClockResolution    = "resolution"
)

// Assess says where a ticket's running clocks stand at now. A pending
// ticket's clock is stopped (on the customer) and reports nothing new; the
// first-response clock stops at the first answer by a person.
func (w Workflow) Assess(t store.Ticket, now time.Time) []ClockState {
	if w.Clock == nil || Status(t.Status) == Closed {
		return nil
	}
	paused := time.Duration(t.PausedSeconds) * time.Second
	if t.PendingSince != nil && t.WaitingOn == store.WaitingOnCustomer {
		// Stopped since PendingSince: the clock reads as it did then.
		paused += w.Clock.BusinessTime(*t.PendingSince, now)
	}
	var out []ClockState
	if tg, err := ParseTarget(t.FirstResponseTarget); err == nil && !tg.IsZero() && t.FirstResponseAt == nil {
		out = append(out, ClockState{ClockFirstResponse, Assess(w.Clock, t.CreatedAt, tg, paused, now)})
	}
	if tg, err := ParseTarget(t.SLATarget); err == nil && !tg.IsZero() {
		out = append(out, ClockState{ClockResolution, Assess(w.Clock, t.CreatedAt, tg, paused, now)})
	}
	return out
}
