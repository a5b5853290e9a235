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

// CanMove reports whether a ticket may go from one status to another. Any
// not-closed ticket may move to any other status; a closed ticket only
// reopens (to open), which keeps the audit trail honest.
func CanMove(from, to Status) error {
	if from == to {
		return fmt.Errorf("ticket is already %s", to)
	}
	if from == Closed && to != Open {
		return fmt.Errorf("a closed ticket can only be reopened, not moved to %s", to)
	}
	return nil
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
