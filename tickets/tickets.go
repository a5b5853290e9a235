// Package tickets holds the rules of tickets: how references are written and
// read back, which statuses exist and which moves between them are allowed.
// Persistence is the store's; this package decides what is valid.
package tickets

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/wasl-dev/wasl/store"
)

// Status is where a ticket stands. The set follows the university's weekly
// report: open, transferred (to a department), pending (waiting on the
// customer), in progress, closed. The values are the store's (it validates
// what it writes, and cannot import this package); these are their names.
type Status string

// Ticket statuses.
const (
	Open        Status = store.TicketOpen
	Transferred Status = store.TicketTransferred
	Pending     Status = store.TicketPending
	InProgress  Status = store.TicketInProgress
	Closed      Status = store.TicketClosed
)

// Statuses returns every status in report order.
func Statuses() []Status {
	all := store.TicketStatuses()
	out := make([]Status, len(all))
	for i, s := range all {
		out[i] = Status(s)
	}
	return out
}

// ParseStatus reads a status name.
func ParseStatus(s string) (Status, error) {
	if !store.ValidTicketStatus(s) {
		return "", fmt.Errorf("unknown ticket status %q (want one of %s)", s, strings.Join(store.TicketStatuses(), ", "))
	}
	return Status(s), nil
}

// Move is one allowed change of status, with the staff action that makes
// it. The table follows the university's service catalogue: customer
// service (the front desk) receives a ticket (open) and routes it to the
// topic's department (transferred), whose head gives it to a member (in
// progress); when the work is finished the department records the outcome
// and hands it back to the front desk (transferred again, to the front
// desk), which answers the customer and closes it. Pending waits on the
// customer (the SLA clock stops) or on supply.
type Move struct {
	From, To Status
	Action   string
}

// Actions that move a ticket.
const (
	ActionTransfer = "transfer" // to a department (or back to the front desk)
	ActionTake     = "take"     // someone starts the work (the head assigns it)
	ActionWait     = "wait"     // pending on the customer or on supply
	ActionResume   = "resume"   // out of pending
	ActionClose    = "close"    // with an outcome
	ActionReopen   = "reopen"   // the customer wrote again, or supply arrived
)

// Moves is the whole transition table: every move not in it is refused.
// Transferring a transferred ticket to another department changes its
// department, not its status, and is no move.
func Moves() []Move {
	return []Move{
		{Open, Transferred, ActionTransfer},
		{Open, InProgress, ActionTake},
		{Open, Pending, ActionWait},
		{Open, Closed, ActionClose},
		{Transferred, InProgress, ActionTake},
		{Transferred, Pending, ActionWait},
		{Transferred, Closed, ActionClose},
		{Pending, Open, ActionResume},
		{Pending, Transferred, ActionTransfer},
		{Pending, InProgress, ActionResume},
		{Pending, Closed, ActionClose},
		{InProgress, Transferred, ActionTransfer},
		{InProgress, Pending, ActionWait},
		{InProgress, Closed, ActionClose},
		{Closed, Open, ActionReopen},
	}
}

// MoveError is a move the table refuses. The inbox answers it 409.
type MoveError struct{ From, To Status }

func (e *MoveError) Error() string {
	switch {
	case e.From == e.To:
		return fmt.Sprintf("ticket is already %s", e.To)
	case e.From == Closed:
		return fmt.Sprintf("a closed ticket can only be reopened, not moved to %s", e.To)
	case e.To == Open:
		return fmt.Sprintf("a %s ticket cannot go back to open: transfer it back to the front desk instead", e.From)
	}
	return fmt.Sprintf("a ticket cannot move from %s to %s", e.From, e.To)
}

// CanMove reports whether the table allows a ticket to go from one status
// to another: nil, or a *MoveError saying why not.
func CanMove(from, to Status) error {
	if _, ok := FindMove(from, to); ok {
		return nil
	}
	return &MoveError{From: from, To: to}
}

// FindMove returns the table's move from → to.
func FindMove(from, to Status) (Move, bool) {
	for _, m := range Moves() {
		if m.From == from && m.To == to {
			return m, true
		}
	}
	return Move{}, false
}

// refPattern finds a reference in a subject: "[#EDU-2026-000123]", with or
// without the brackets and hash, as customers' clients and staff write it.
var refPattern = regexp.MustCompile(`(?i)\b([A-Z]{2,10})-(\d{4})-(\d{4,9})\b`)

// FindRefs returns every ticket reference with the given prefix in s, in
// order of appearance, normalized (upper case, six-digit number) and without
// repeats. All of them, not the first: which one binds a message is the
// router's to decide (the one that validates), and a subject can carry an
// old reference next to the right one.
func FindRefs(s, prefix string) []string {
	var refs []string
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		if !strings.EqualFold(m[1], prefix) {
			continue
		}
		year, _ := strconv.Atoi(m[2])
		n, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			continue
		}
		if ref := store.TicketRef(strings.ToUpper(m[1]), year, n); !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
	}
	return refs
}

// Subject puts the reference in an email subject the way replies carry it,
// "[#EDU-2026-000123] subject", without doubling an existing one.
func Subject(subject, ref string) string {
	if ref == "" || strings.Contains(strings.ToUpper(subject), ref) {
		return subject
	}
	if subject == "" {
		return "[#" + ref + "]"
	}
	return "[#" + ref + "] " + subject
}
