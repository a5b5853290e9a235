package replies

import (
	"strings"
	"testing"
	"time"
)

func mustLoc(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v (install tzdata)", name, err)
	}
	return loc
}

func mustRange(t *testing.T, s string) Range {
	t.Helper()
	r, err := parseRange(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustDate(t *testing.T, s string) Date {
	t.Helper()
	d, err := ParseDate(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustCalendar(t *testing.T, zone string, days []time.Weekday, spans []string, hols ...Holiday) *Calendar {
	t.Helper()
	var rs []Range
	for _, s := range spans {
		rs = append(rs, mustRange(t, s))
	}
	week := map[time.Weekday][]Range{}
	for _, d := range days {
		week[d] = rs
	}
	c, err := NewCalendar(mustLoc(t, zone), week, hols)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sunThu() []time.Weekday {
	return []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday}
}

func monFri() []time.Weekday {
	return []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}
}

// riyadh is the university's calendar: Sunday–Thursday 07:30–14:30, National
// Day (a Wednesday) and an Eid holiday of several days.
func riyadh(t *testing.T) *Calendar {
	return mustCalendar(t, "Asia/Riyadh", sunThu(), []string{"07:30-14:30"},
		Holiday{From: mustDate(t, "2026-09-23"), To: mustDate(t, "2026-09-23"), Name: Text{AR: "اليوم الوطني", EN: "National Day"}},
		Holiday{From: mustDate(t, "2026-03-18"), To: mustDate(t, "2026-03-28"), Name: Text{AR: "عيد الفطر", EN: "Eid al-Fitr"}},
	)
}

// at parses "2006-01-02 15:04:05" in loc.
func at(t *testing.T, loc *time.Location, s string) time.Time {
	t.Helper()
	v, err := time.ParseInLocation("2006-01-02 15:04:05", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestCalendarIsOpenRiyadh(t *testing.T) {
	cal := riyadh(t)
	ry := mustLoc(t, "Asia/Riyadh")
	tests := []struct {
		name string
		at   time.Time
		open bool
	}{
		{"Sunday just before opening", at(t, ry, "2026-09-20 07:29:59"), false},
		{"Sunday exactly 07:30", at(t, ry, "2026-09-20 07:30:00"), true},
		{"Sunday last second", at(t, ry, "2026-09-20 14:29:59"), true},
		{"Sunday exactly 14:30", at(t, ry, "2026-09-20 14:30:00"), false},
		{"Tuesday mid-morning", at(t, ry, "2026-09-22 10:00:00"), true},
		{"National Day (Wednesday)", at(t, ry, "2026-09-23 10:00:00"), false},
		{"Thursday is a working day", at(t, ry, "2026-09-24 10:00:00"), true},
		{"Friday weekend", at(t, ry, "2026-09-25 10:00:00"), false},
		{"Saturday weekend", at(t, ry, "2026-09-26 10:00:00"), false},
		{"07:30 Riyadh given in UTC", at(t, time.UTC, "2026-09-20 04:30:00"), true},
		{"14:30 Riyadh given in UTC", at(t, time.UTC, "2026-09-20 11:30:00"), false},
		{"day before Eid", at(t, ry, "2026-03-17 10:00:00"), true},
		{"first day of Eid", at(t, ry, "2026-03-18 10:00:00"), false},
		{"inside Eid on a Sunday", at(t, ry, "2026-03-22 10:00:00"), false},
		{"first Sunday after Eid", at(t, ry, "2026-03-29 10:00:00"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cal.IsOpen(tt.at); got != tt.open {
				t.Errorf("IsOpen(%s) = %v, want %v", tt.at, got, tt.open)
			}
		})
	}
}

func TestCalendarNextOpeningRiyadh(t *testing.T) {
	cal := riyadh(t)
	ry := mustLoc(t, "Asia/Riyadh")
	tests := []struct {
		name     string
		from     time.Time
		want     time.Time
		holidays string // the holiday HolidayOn reports at from, if any
	}{
		{"open now returns now", at(t, ry, "2026-09-20 10:00:00"), at(t, ry, "2026-09-20 10:00:00"), ""},
		{"early Sunday opens the same day", at(t, ry, "2026-09-20 06:00:00"), at(t, ry, "2026-09-20 07:30:00"), ""},
		{"Thursday afternoon skips the weekend", at(t, ry, "2026-09-24 15:00:00"), at(t, ry, "2026-09-27 07:30:00"), ""},
		{"Friday opens on Sunday", at(t, ry, "2026-09-25 09:00:00"), at(t, ry, "2026-09-27 07:30:00"), ""},
		{"at 14:30 Tuesday skips the holiday Wednesday", at(t, ry, "2026-09-22 14:30:00"), at(t, ry, "2026-09-24 07:30:00"), ""},
		{"on the holiday itself", at(t, ry, "2026-09-23 08:00:00"), at(t, ry, "2026-09-24 07:30:00"), "National Day"},
		{"before Eid skips the whole holiday", at(t, ry, "2026-03-17 15:00:00"), at(t, ry, "2026-03-29 07:30:00"), ""},
		{"given in UTC", at(t, time.UTC, "2026-09-24 12:00:00"), at(t, time.UTC, "2026-09-27 04:30:00"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := cal.NextOpening(tt.from)
			if !got.Equal(tt.want) {
				t.Errorf("NextOpening(%s) = %s, want %s", tt.from, got, tt.want)
			}
			if !cal.IsOpen(got) {
				t.Errorf("NextOpening(%s) = %s, which is not open", tt.from, got)
			}
			h, ok := cal.HolidayOn(tt.from)
			if ok != (tt.holidays != "") || h.Name.EN != tt.holidays {
				t.Errorf("HolidayOn(%s) = %q, %v; want %q", tt.from, h.Name.EN, ok, tt.holidays)
			}
		})
	}
}

// Working hours are wall-clock times: across a DST switch the same UTC instant
// can be open on one side and closed on the other.
func TestCalendarDST(t *testing.T) {
	ny := mustCalendar(t, "America/New_York", monFri(), []string{"09:00-17:00"})
	london := mustCalendar(t, "Europe/London", monFri(), []string{"09:00-17:30"})
	// Sunday 2026-03-08 02:00 does not exist in New York: clocks jump to 03:00.
	gap := mustCalendar(t, "America/New_York", []time.Weekday{time.Sunday}, []string{"02:30-04:00"})
	lost := mustCalendar(t, "America/New_York", []time.Weekday{time.Sunday}, []string{"02:15-02:45"})
	utc := func(s string) time.Time { return at(t, time.UTC, s) }

	open := []struct {
		name string
		cal  *Calendar
		at   time.Time
		want bool
	}{
		{"NY Friday 09:00 EST", ny, utc("2026-03-06 14:00:00"), true},
		{"NY Friday 08:30 EST", ny, utc("2026-03-06 13:30:00"), false},
		{"NY Monday 09:30 EDT, same UTC clock as above", ny, utc("2026-03-09 13:30:00"), true},
		{"NY Friday 16:30 EST", ny, utc("2026-03-06 21:30:00"), true},
		{"NY Monday 17:30 EDT, same UTC clock as above", ny, utc("2026-03-09 21:30:00"), false},
		{"London Friday 08:30 GMT", london, utc("2026-03-27 08:30:00"), false},
		{"London Monday 09:30 BST, same UTC clock", london, utc("2026-03-30 08:30:00"), true},
	}
	for _, tt := range open {
		t.Run("IsOpen/"+tt.name, func(t *testing.T) {
			if got := tt.cal.IsOpen(tt.at); got != tt.want {
				t.Errorf("IsOpen(%s) = %v, want %v", tt.at, got, tt.want)
			}
		})
	}

	next := []struct {
		name string
		cal  *Calendar
		from time.Time
		want time.Time
	}{
		{"NY weekend with spring forward opens 09:00 EDT", ny, utc("2026-03-06 23:00:00"), utc("2026-03-09 13:00:00")},
		{"NY weekend with fall back opens 09:00 EST", ny, utc("2026-10-30 22:00:00"), utc("2026-11-02 14:00:00")},
		{"London weekend with spring forward opens 09:00 BST", london, utc("2026-03-27 18:00:00"), utc("2026-03-30 08:00:00")},
		{"range starting in the DST gap opens at the jump", gap, utc("2026-03-07 17:00:00"), utc("2026-03-08 07:00:00")},
		{"range wholly in the DST gap is skipped that day", lost, utc("2026-03-07 17:00:00"), utc("2026-03-15 06:15:00")},
	}
	for _, tt := range next {
		t.Run("NextOpening/"+tt.name, func(t *testing.T) {
			got := tt.cal.NextOpening(tt.from)
			if !got.Equal(tt.want) {
				t.Errorf("NextOpening(%s) = %s (%s), want %s", tt.from, got.UTC(), got, tt.want)
			}
		})
	}
}

func TestCalendarNeverOpen(t *testing.T) {
	cal, err := NewCalendar(time.UTC, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := at(t, time.UTC, "2026-01-01 10:00:00")
	if cal.IsOpen(now) {
		t.Error("an empty schedule is open")
	}
	if got := cal.NextOpening(now); !got.IsZero() {
		t.Errorf("NextOpening = %s, want zero time", got)
	}
	if got := cal.Describe("en"); got != "closed" {
		t.Errorf("Describe = %q", got)
	}
}

func TestDescribe(t *testing.T) {
	split := func() *Calendar {
		morning, afternoon := mustRange(t, "08:00-12:00"), mustRange(t, "13:00-16:00")
		week := map[time.Weekday][]Range{time.Thursday: {morning}}
		for _, d := range sunThu()[:4] {
			week[d] = []Range{afternoon, morning} // unsorted on purpose
		}
		c, err := NewCalendar(mustLoc(t, "Asia/Dubai"), week, nil)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}()
	evening := mustCalendar(t, "Africa/Cairo", []time.Weekday{time.Saturday}, []string{"18:00-24:00"})
	tests := []struct {
		name   string
		cal    *Calendar
		en, ar string
	}{
		{"university", riyadh(t),
			"Sunday–Thursday, 7:30 AM–2:30 PM (Riyadh time)",
			"من الأحد إلى الخميس، من 7:30 صباحًا حتى 2:30 ظهرًا بتوقيت الرياض"},
		{"split days", split,
			"Sunday–Wednesday, 8:00 AM–12:00 PM and 1:00 PM–4:00 PM; Thursday, 8:00 AM–12:00 PM (Dubai time)",
			"من الأحد إلى الأربعاء، من 8:00 صباحًا حتى 12:00 ظهرًا ومن 1:00 ظهرًا حتى 4:00 عصرًا؛ الخميس، من 8:00 صباحًا حتى 12:00 ظهرًا بتوقيت دبي"},
		{"new york", mustCalendar(t, "America/New_York", monFri(), []string{"09:00-17:00"}),
			"Monday–Friday, 9:00 AM–5:00 PM (New York time)",
			"من الاثنين إلى الجمعة، من 9:00 صباحًا حتى 5:00 عصرًا بتوقيت نيويورك"},
		{"until midnight", evening,
			"Saturday, 6:00 PM–midnight (Cairo time)",
			"السبت، من 6:00 مساءً حتى منتصف الليل بتوقيت القاهرة"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cal.Describe("en"); got != tt.en {
				t.Errorf("en:\n got %q\nwant %q", got, tt.en)
			}
			if got := tt.cal.Describe("ar"); got != tt.ar {
				t.Errorf("ar:\n got %q\nwant %q", got, tt.ar)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{"07:30-14:30", "07:30-14:30", ""},
		{" 08:00 - 12:00 ", "08:00-12:00", ""},
		{"18:00-24:00", "18:00-24:00", ""},
		{"14:30-07:30", "", "ends before it starts"},
		{"09:00-09:00", "", "ends before it starts"},
		{"7:30-14:30", "", `"7:30" is not HH:MM`},
		{"07:30", "", "want HH:MM-HH:MM"},
		{"25:00-26:00", "", "is not a time of day"},
		{"10:60-11:00", "", "is not a time of day"},
		{"24:30-24:45", "", "is not a time of day"},
		{"ab:cd-10:00", "", "is not HH:MM"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := parseRange(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRange(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.String() != tt.want {
				t.Errorf("parseRange(%q) = %s, want %s", tt.in, r, tt.want)
			}
		})
	}
}

func TestNewCalendarErrors(t *testing.T) {
	r := func(s string) Range { return mustRange(t, s) }
	d := mustDate(t, "2026-05-02")
	tests := []struct {
		name    string
		loc     *time.Location
		week    map[time.Weekday][]Range
		hols    []Holiday
		wantErr string
	}{
		{"no zone", nil, nil, nil, "no time zone"},
		{"overlap", time.UTC, map[time.Weekday][]Range{time.Monday: {r("08:00-12:00"), r("11:59-13:00")}}, nil, "overlap"},
		{"bad range", time.UTC, map[time.Weekday][]Range{time.Monday: {{Start: 2 * time.Hour, End: time.Hour}}}, nil, "bad time range"},
		{"bad weekday", time.UTC, map[time.Weekday][]Range{9: {r("08:00-12:00")}}, nil, "bad weekday"},
		{"holiday backwards", time.UTC, nil, []Holiday{{From: d, To: mustDate(t, "2026-05-01")}}, "ends before it starts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewCalendar(tt.loc, tt.week, tt.hols)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

// Working time counts only opening hours, across weekends, holidays and
// special (Ramadan) hours.
func TestCalendarBusinessTime(t *testing.T) {
	c := riyadh(t)
	ram, err := c.WithSpecial(Special{From: mustDate(t, "2026-02-18"), To: mustDate(t, "2026-03-17"),
		Name: Text{AR: "رمضان", EN: "Ramadan"}, Ranges: []Range{mustRange(t, "10:00-15:00")}})
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Location()
	tests := []struct {
		name     string
		cal      *Calendar
		from, to string
		want     time.Duration
	}{
		{"inside one day", c, "2026-11-01 08:00:00", "2026-11-01 10:30:00", 150 * time.Minute},
		{"before opening to after closing", c, "2026-11-01 06:00:00", "2026-11-01 16:00:00", 7 * time.Hour},
		{"07:29 to 07:30 is nothing", c, "2026-11-01 07:29:00", "2026-11-01 07:30:00", 0},
		{"14:30 to 14:31 is nothing", c, "2026-11-01 14:30:00", "2026-11-01 14:31:00", 0},
		{"14:29 to 14:31 is a minute", c, "2026-11-01 14:29:00", "2026-11-01 14:31:00", time.Minute},
		{"over the weekend", c, "2026-11-05 14:00:00", "2026-11-08 08:00:00", time.Hour}, // Thursday → Sunday
		{"over National Day", c, "2026-09-22 14:00:00", "2026-09-24 08:00:00", time.Hour},
		{"a Ramadan day", ram, "2026-02-22 00:00:00", "2026-02-23 00:00:00", 5 * time.Hour},
		{"backwards", c, "2026-11-02 10:00:00", "2026-11-01 10:00:00", 0},
	}
	for _, tt := range tests {
		if got := tt.cal.BusinessTime(at(t, loc, tt.from), at(t, loc, tt.to)); got != tt.want {
			t.Errorf("%s: BusinessTime = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestCalendarAddBusinessTime(t *testing.T) {
	c := riyadh(t)
	ram, err := c.WithSpecial(Special{From: mustDate(t, "2026-02-18"), To: mustDate(t, "2026-03-17"), Ranges: []Range{mustRange(t, "10:00-15:00")}})
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Location()
	tests := []struct {
		name  string
		cal   *Calendar
		from  string
		d     time.Duration
		want  string
		wantD time.Weekday
	}{
		{"within the day", c, "2026-11-01 08:00:00", 2 * time.Hour, "2026-11-01 10:00:00", time.Sunday},
		{"at 07:29 starts at 07:30", c, "2026-11-01 07:29:00", time.Hour, "2026-11-01 08:30:00", time.Sunday},
		{"at 07:30", c, "2026-11-01 07:30:00", time.Hour, "2026-11-01 08:30:00", time.Sunday},
		{"at 14:30 goes to the next day", c, "2026-11-01 14:30:00", time.Hour, "2026-11-02 08:30:00", time.Monday},
		{"at 14:31 goes to the next day", c, "2026-11-01 14:31:00", time.Hour, "2026-11-02 08:30:00", time.Monday},
		{"ends exactly at closing", c, "2026-11-01 13:30:00", time.Hour, "2026-11-01 14:30:00", time.Sunday},
		{"Thursday afternoon to Sunday", c, "2026-11-05 14:00:00", 4 * time.Hour, "2026-11-08 11:00:00", time.Sunday},
		{"over National Day", c, "2026-09-22 14:00:00", time.Hour, "2026-09-24 08:00:00", time.Thursday},
		{"over Eid", c, "2026-03-17 14:00:00", time.Hour, "2026-03-29 08:00:00", time.Sunday},
		{"Ramadan hours", ram, "2026-02-22 09:00:00", 2 * time.Hour, "2026-02-22 12:00:00", time.Sunday},
		{"Ramadan day runs out at 15:00", ram, "2026-02-22 14:00:00", 2 * time.Hour, "2026-02-23 11:00:00", time.Monday},
		{"into the Eid holiday after Ramadan", ram, "2026-03-17 14:00:00", 2 * time.Hour, "2026-03-29 08:30:00", time.Sunday},
	}
	for _, tt := range tests {
		got := tt.cal.AddBusinessTime(at(t, loc, tt.from), tt.d)
		if want := at(t, loc, tt.want); !got.Equal(want) || got.In(loc).Weekday() != tt.wantD {
			t.Errorf("%s: AddBusinessTime(%s, %s) = %s, want %s", tt.name, tt.from, tt.d, got.In(loc), want)
		}
	}
}

func TestCalendarAddWorkingDays(t *testing.T) {
	c := riyadh(t)
	ram, err := c.WithSpecial(Special{From: mustDate(t, "2026-02-18"), To: mustDate(t, "2026-03-17"), Ranges: []Range{mustRange(t, "10:00-15:00")}})
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Location()
	tests := []struct {
		name string
		cal  *Calendar
		from string
		n    int
		want string
	}{
		{"Thursday 14:00 + 1 is Sunday 14:00", c, "2026-11-05 14:00:00", 1, "2026-11-08 14:00:00"},
		{"Tuesday night + 1 is Wednesday's close", c, "2026-11-03 21:05:00", 1, "2026-11-04 14:30:00"},
		{"07:29 + 1 is that day's close", c, "2026-11-04 07:29:00", 1, "2026-11-04 14:30:00"},
		{"07:30 + 1 is that day's close", c, "2026-11-04 07:30:00", 1, "2026-11-04 14:30:00"},
		{"07:31 + 1 is 07:31 next day", c, "2026-11-04 07:31:00", 1, "2026-11-05 07:31:00"},
		{"14:30 + 1 is the next day's close", c, "2026-11-04 14:30:00", 1, "2026-11-05 14:30:00"},
		{"14:31 + 1 is the next day's close", c, "2026-11-04 14:31:00", 1, "2026-11-05 14:30:00"},
		{"Friday + 1 is Sunday's close", c, "2026-11-06 10:00:00", 1, "2026-11-08 14:30:00"},
		{"3 days over National Day", c, "2026-09-21 10:00:00", 3, "2026-09-27 10:00:00"},
		{"into Ramadan the point is capped at 15:00", ram, "2026-02-17 14:00:00", 1, "2026-02-18 15:00:00"},
		{"inside Ramadan", ram, "2026-02-22 11:00:00", 1, "2026-02-23 11:00:00"},
		{"a day's end stays the day's end", ram, "2026-02-22 15:00:00", 1, "2026-02-23 15:00:00"},
	}
	for _, tt := range tests {
		got := tt.cal.AddWorkingDays(at(t, loc, tt.from), tt.n)
		if want := at(t, loc, tt.want); !got.Equal(want) {
			t.Errorf("%s: AddWorkingDays(%s, %d) = %s, want %s", tt.name, tt.from, tt.n, got.In(loc), want)
		}
	}
}

func TestCalendarSpecialHours(t *testing.T) {
	c := riyadh(t)
	ram, err := c.WithSpecial(Special{From: mustDate(t, "2026-02-18"), To: mustDate(t, "2026-03-17"), Ranges: []Range{mustRange(t, "10:00-15:00")}})
	if err != nil {
		t.Fatal(err)
	}
	loc := c.Location()
	for _, tt := range []struct {
		at   string
		open bool
	}{
		{"2026-02-22 08:00:00", false}, // regular hours do not apply
		{"2026-02-22 10:00:00", true},
		{"2026-02-22 14:45:00", true},
		{"2026-02-22 15:00:00", false},
		{"2026-02-20 11:00:00", false}, // Friday stays closed
		{"2026-02-17 08:00:00", true},  // before Ramadan
	} {
		if got := ram.IsOpen(at(t, loc, tt.at)); got != tt.open {
			t.Errorf("IsOpen(%s) = %v, want %v", tt.at, got, tt.open)
		}
	}
	if got, want := ram.NextOpening(at(t, loc, "2026-02-22 08:00:00")), at(t, loc, "2026-02-22 10:00:00"); !got.Equal(want) {
		t.Errorf("NextOpening in Ramadan = %s, want %s", got, want)
	}
	if c.IsOpen(at(t, loc, "2026-02-22 08:00:00")) != true {
		t.Error("WithSpecial changed the calendar it was called on")
	}
	if _, err := c.WithSpecial(Special{From: mustDate(t, "2026-02-18"), To: mustDate(t, "2026-03-17"), Ranges: []Range{mustRange(t, "10:00-15:00")}},
		Special{From: mustDate(t, "2026-03-01"), To: mustDate(t, "2026-03-20"), Ranges: []Range{mustRange(t, "09:00-12:00")}}); err == nil {
		t.Error("overlapping special periods accepted")
	}
}
