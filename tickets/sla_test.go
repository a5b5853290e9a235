package tickets

import (
	"testing"
	"time"

	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// bankCalendar is the university's calendar as its bank declares it:
// Sunday–Thursday 07:30–14:30 in Riyadh, its holidays, Ramadan hours.
func bankCalendar(t *testing.T) *replies.Calendar {
	t.Helper()
	b, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Calendar().Special()) == 0 {
		t.Fatal("the bank declares no Ramadan hours: the Ramadan cases would prove nothing")
	}
	return b.Calendar()
}

func riyadhTime(t *testing.T, s string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Riyadh")
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestParseTarget(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Target
		bad  bool
	}{
		{"3d", Target{Days: 3}, false},
		{"4h", Target{Hours: 4 * time.Hour}, false},
		{"1d4h", Target{Days: 1, Hours: 4 * time.Hour}, false},
		{"90m", Target{Hours: 90 * time.Minute}, false},
		{"", Target{}, false},
		{"soon", Target{}, true},
		{"-1d", Target{}, true},
	} {
		got, err := ParseTarget(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("ParseTarget(%q) = %+v, %v; want %+v, bad=%v", tt.in, got, err, tt.want, tt.bad)
		}
		if back, err := ParseTarget(got.String()); err != nil || back != got {
			t.Errorf("Target(%q).String() = %q, which reads back as %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

// Due times in working time on the university's calendar: the weekend, a
// holiday, the edges of the working day, Ramadan hours and a pause.
func TestSLADue(t *testing.T) {
	c := bankCalendar(t)
	tests := []struct {
		name   string
		start  string
		target string
		paused time.Duration
		want   string
	}{
		{"the issue's case: Thursday 14:00 + 1 working day", "2026-11-05 14:00", "1d", 0, "2026-11-08 14:00"},
		{"Tuesday 21:05 + 3 working days", "2026-11-03 21:05", "3d", 0, "2026-11-08 14:30"},
		{"over the weekend in hours", "2026-11-05 13:00", "4h", 0, "2026-11-08 10:00"},
		{"07:29 waits for the opening", "2026-11-01 07:29", "4h", 0, "2026-11-01 11:30"},
		{"07:30 starts at once", "2026-11-01 07:30", "4h", 0, "2026-11-01 11:30"},
		{"14:30 is after hours", "2026-11-01 14:30", "4h", 0, "2026-11-02 11:30"},
		{"14:31 is after hours", "2026-11-01 14:31", "4h", 0, "2026-11-02 11:30"},
		{"14:29 has one minute today", "2026-11-01 14:29", "4h", 0, "2026-11-02 11:29"},
		{"National Day (a Wednesday) is skipped", "2026-09-22 10:00", "1d", 0, "2026-09-24 10:00"},
		{"Eid al-Adha is skipped", "2026-05-21 12:00", "1d", 0, "2026-06-04 12:00"},
		{"from a Ramadan day over Eid al-Fitr keeps the point of the day", "2026-03-17 12:00", "1d", 0, "2026-03-29 09:30"},
		{"Ramadan hours 10:00–15:00", "2026-02-24 09:00", "4h", 0, "2026-02-24 14:00"},
		{"a Ramadan day ends at 15:00", "2026-02-24 14:00", "2h", 0, "2026-02-25 11:00"},
		{"Founding Day in Ramadan is still a holiday", "2026-02-19 14:00", "2h", 0, "2026-02-23 11:00"},
		{"into Ramadan, the day's point is capped at its close", "2026-02-17 14:00", "1d", 0, "2026-02-18 15:00"},
		{"a pause of 3 working hours moves it by 3", "2026-11-01 08:00", "1d", 3 * time.Hour, "2026-11-02 11:00"},
		{"a pause that crosses the weekend", "2026-11-05 08:00", "1d", 7 * time.Hour, "2026-11-09 08:00"},
		{"days and hours", "2026-11-05 14:00", "1d1h", 0, "2026-11-09 08:00"},
	}
	for _, tt := range tests {
		target, err := ParseTarget(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		got := Due(c, riyadhTime(t, tt.start), target, tt.paused)
		if want := riyadhTime(t, tt.want); !got.Equal(want) {
			t.Errorf("%s: Due(%s, %s, paused %s) = %s, want %s", tt.name, tt.start, tt.target, tt.paused,
				got.In(want.Location()).Format("Mon 2006-01-02 15:04"), want.Format("Mon 2006-01-02 15:04"))
		}
	}
}

// At risk from 80 % of the working time used, breached at 100 %, and time
// paused not counted.
func TestSLAAssess(t *testing.T) {
	c := bankCalendar(t)
	start := riyadhTime(t, "2026-11-01 07:30") // Sunday; 1d = the whole day, 7 h
	target := Target{Days: 1}
	tests := []struct {
		now    string
		paused time.Duration
		want   string
	}{
		{"2026-11-01 07:30", 0, SLAOnTrack},
		{"2026-11-01 13:05", 0, SLAOnTrack}, // 5h35m < 5h36m
		{"2026-11-01 13:06", 0, SLAAtRisk},  // 80 % of 7 h
		{"2026-11-01 14:29", 0, SLAAtRisk},
		{"2026-11-01 14:30", 0, SLABreached},
		{"2026-11-01 20:00", 2 * time.Hour, SLAOnTrack}, // 5 h used of 7
		{"2026-11-02 08:05", 2 * time.Hour, SLAOnTrack}, // 5h35m
		{"2026-11-02 08:06", 2 * time.Hour, SLAAtRisk},  // 5h36m
		{"2026-11-02 09:30", 2 * time.Hour, SLABreached},
	}
	for _, tt := range tests {
		if got := Assess(c, start, target, tt.paused, riyadhTime(t, tt.now)); got != tt.want {
			t.Errorf("Assess at %s, paused %s = %q, want %q", tt.now, tt.paused, got, tt.want)
		}
	}
}

// The workflow's clocks: a ticket pending on the customer stops its clock
// for the working time it waits (across a weekend here), pending on
// supply does not; the first-response clock ends at the first answer.
func TestWorkflowAssessPause(t *testing.T) {
	c := bankCalendar(t)
	w := Workflow{Clock: c}
	created := riyadhTime(t, "2026-11-05 08:00") // Thursday
	tk := store.Ticket{Status: string(Pending), CreatedAt: created, SLATarget: "1d", FirstResponseTarget: "4h"}
	since := riyadhTime(t, "2026-11-05 09:00")
	tk.PendingSince, tk.WaitingOn = &since, store.WaitingOnCustomer
	// Sunday 14:00: without the pause both clocks would be breached.
	now := riyadhTime(t, "2026-11-08 14:00")
	for _, cs := range w.Assess(tk, now) {
		if cs.State != SLAOnTrack {
			t.Errorf("pending on the customer: %s is %q, want on track (1 working hour used)", cs.Clock, cs.State)
		}
	}
	tk.WaitingOn = store.WaitingOnSupply
	for _, cs := range w.Assess(tk, now) {
		if cs.State != SLABreached {
			t.Errorf("pending on supply: %s is %q, want breached (the clock runs)", cs.Clock, cs.State)
		}
	}
	answered := riyadhTime(t, "2026-11-05 08:30")
	tk.FirstResponseAt = &answered
	for _, cs := range w.Assess(tk, now) {
		if cs.Clock == ClockFirstResponse {
			t.Errorf("first response answered, still assessed: %+v", cs)
		}
	}
}
