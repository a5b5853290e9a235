package tickets

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// Clock is the business calendar SLA clocks run on (replies.Calendar):
// working time between two instants, and instants so much working time or
// so many working days later, in the bank's time zone.
type Clock interface {
	BusinessTime(from, to time.Time) time.Duration
	AddBusinessTime(t time.Time, d time.Duration) time.Time
	AddWorkingDays(t time.Time, n int) time.Time
}

// Target is an SLA as the bank writes it: whole working days, then working
// hours. "3d" is three working days (Thursday 14:00 + 1d is Sunday 14:00,
// not Friday), "4h" four hours of opening time, "1d4h" both.
type Target struct {
	Days  int
	Hours time.Duration
}

// ParseTarget reads a target in the bank's duration grammar
// (message.ParseDuration); "" is no target.
func ParseTarget(s string) (Target, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Target{}, nil
	}
	if _, err := message.ParseDuration(s); err != nil {
		return Target{}, err
	}
	var t Target
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		t.Days, s = n, s[i+1:]
	}
	if s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return Target{}, fmt.Errorf("target %q: %w", s, err)
		}
		t.Hours = d
	}
	return t, nil
}

// IsZero reports an unset target.
func (t Target) IsZero() bool { return t.Days == 0 && t.Hours == 0 }

func (t Target) String() string {
	switch {
	case t.IsZero():
		return ""
	case t.Hours == 0:
		return fmt.Sprintf("%dd", t.Days)
	case t.Days == 0:
		return shortDuration(t.Hours)
	}
	return fmt.Sprintf("%dd%s", t.Days, shortDuration(t.Hours))
}

func shortDuration(d time.Duration) string {
	s := d.String() // "4h0m0s", "1h30m0s", "45s"
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// Due is when a target counted from start falls due, the clock stopped for
// paused working time (a ticket pending on the customer). The zero time
// for no target, or a calendar that never opens.
func Due(c Clock, start time.Time, t Target, paused time.Duration) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	at := start
	if t.Days > 0 {
		if at = c.AddWorkingDays(at, t.Days); at.IsZero() {
			return at
		}
	}
	return c.AddBusinessTime(at, t.Hours+paused)
}

// SLA states, recorded once each per ticket and clock.
const (
	SLAOnTrack  = ""
	SLAAtRisk   = "at_risk"
	SLABreached = "breached"
)

// AtRiskShare is the part of a target used when a ticket is at risk.
const AtRiskShare = 0.8

// Assess says where a clock started at start stands at now: breached once
// the target's working time is used up, at risk from 80 % of it, on track
// before. Paused working time does not count as used.
func Assess(c Clock, start time.Time, t Target, paused time.Duration, now time.Time) string {
	due := Due(c, start, t, 0)
	if due.IsZero() {
		return SLAOnTrack
	}
	total := c.BusinessTime(start, due)
	used := c.BusinessTime(start, now) - paused
	switch {
	case used >= total:
		return SLABreached
	case float64(used) >= AtRiskShare*float64(total):
		return SLAAtRisk
	}
	return SLAOnTrack
}
