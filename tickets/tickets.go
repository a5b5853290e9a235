// Package tickets holds the rules of tickets: how references are written and
// read back, which statuses exist and which moves between them are allowed.
// Persistence is the store's; this package decides what is valid.
package tickets

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/wasl-dev/wasl/store"
)

// Status is where a ticket stands. The set follows the university's weekly
// report: open, transferred (to a department), pending (waiting on the
// customer), in progress, closed.
type Status string

// Ticket statuses.
const (
	Open        Status = "open"
	Transferred Status = "transferred"
	Pending     Status = "pending"
	InProgress  Status = "in_progress"
	Closed      Status = "closed"
)

// Statuses lists every status in report order.
var statuses = [...]Status{Open, Transferred, Pending, InProgress, Closed}

// Statuses returns every status in report order.
func Statuses() []Status { return statuses[:] }

// ParseStatus reads a status name.
func ParseStatus(s string) (Status, error) {
	for _, st := range statuses {
		if string(st) == s {
			return st, nil
		}
	}
	return "", fmt.Errorf("unknown ticket status %q (want one of open, transferred, pending, in_progress, closed)", s)
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

// FindRef returns the first ticket reference with the given prefix in s,
// normalized (upper case, six-digit number), or "" when there is none.
func FindRef(s, prefix string) string {
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		if !strings.EqualFold(m[1], prefix) {
			continue
		}
		year, _ := strconv.Atoi(m[2])
		n, err := strconv.ParseInt(m[3], 10, 64)
		if err != nil {
			continue
		}
		return store.TicketRef(strings.ToUpper(m[1]), year, n)
	}
	return ""
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
