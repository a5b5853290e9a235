package replies

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Range is one opening period of a day, as wall-clock offsets from local
// midnight: open at Start, closed again at End. Wall clock rather than
// elapsed time, so 07:30 stays 07:30 on the day the clocks change.
type Range struct {
	Start, End time.Duration
}

func (r Range) String() string {
	return clock(r.Start) + "-" + clock(r.End)
}

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// parseRange reads "07:30-14:30". End may be "24:00"; a range may not run
// past midnight (split it over two days instead).
func parseRange(s string) (Range, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		return Range{}, fmt.Errorf("time range %q: want HH:MM-HH:MM", s)
	}
	start, err := parseClock(strings.TrimSpace(a))
	if err != nil {
		return Range{}, fmt.Errorf("time range %q: %w", s, err)
	}
	end, err := parseClock(strings.TrimSpace(b))
	if err != nil {
		return Range{}, fmt.Errorf("time range %q: %w", s, err)
	}
	if end <= start {
		return Range{}, fmt.Errorf("time range %q: ends before it starts (split ranges that cross midnight over two days)", s)
	}
	return Range{Start: start, End: end}, nil
}

func parseClock(s string) (time.Duration, error) {
	digit := func(b byte) bool { return b >= '0' && b <= '9' }
	if len(s) != 5 || s[2] != ':' || !digit(s[0]) || !digit(s[1]) || !digit(s[3]) || !digit(s[4]) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	if h > 24 || m > 59 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("%q is not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// Date is a calendar day, without time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// DateOf is the calendar day of t in t's own location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// ParseDate reads "2026-12-02".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

func (d Date) addDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 0, 0, 0, 0, time.UTC))
}

func (d Date) weekday() time.Weekday {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC).Weekday()
}

func (d Date) before(o Date) bool {
	if d.Year != o.Year {
		return d.Year < o.Year
	}
	if d.Month != o.Month {
		return d.Month < o.Month
	}
	return d.Day < o.Day
}

// Holiday closes every day from From to To inclusive (To == From for one day).
type Holiday struct {
	From, To Date
	Name     Text
}

func (h Holiday) covers(d Date) bool { return !d.before(h.From) && !h.To.before(d) }

// Calendar answers "are we open?" from a weekly schedule, a time zone and
// holidays. It is immutable and safe for concurrent use.
type Calendar struct {
	loc      *time.Location
	week     [7][]Range // by time.Weekday
	holidays []Holiday  // sorted by From
	special  []Special  // sorted by From, not overlapping
}

// NewCalendar builds a calendar. Days missing from week are closed. Ranges
// of a day must not overlap.
func NewCalendar(loc *time.Location, week map[time.Weekday][]Range, holidays []Holiday) (*Calendar, error) {
	if loc == nil {
		return nil, errors.New("calendar: no time zone")
	}
	c := &Calendar{loc: loc}
	for wd, rs := range week {
		if wd < time.Sunday || wd > time.Saturday {
			return nil, fmt.Errorf("calendar: bad weekday %d", wd)
		}
		rs = append([]Range(nil), rs...)
		if err := checkDay(rs); err != nil {
			return nil, fmt.Errorf("calendar: %s: %w", wd, err)
		}
		c.week[wd] = rs
	}
	for _, h := range holidays {
		if h.To.before(h.From) {
			return nil, fmt.Errorf("calendar: holiday %s ends before it starts", h.From)
		}
	}
	c.holidays = append([]Holiday(nil), holidays...)
	sort.SliceStable(c.holidays, func(i, j int) bool { return c.holidays[i].From.before(c.holidays[j].From) })
	return c, nil
}

// checkDay validates and sorts one day's ranges in place.
func checkDay(rs []Range) error {
	for _, r := range rs {
		if r.Start < 0 || r.End > 24*time.Hour || r.End <= r.Start {
			return fmt.Errorf("bad time range %s", r)
		}
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].Start < rs[j].Start })
	for i := 1; i < len(rs); i++ {
		if rs[i].Start < rs[i-1].End {
			return fmt.Errorf("time ranges %s and %s overlap", rs[i-1], rs[i])
		}
	}
	return nil
}

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return c.loc }

// Holidays returns the holidays, earliest first.
func (c *Calendar) Holidays() []Holiday { return append([]Holiday(nil), c.holidays...) }

// HolidayOn reports the holiday, if any, that closes the local day of t.
func (c *Calendar) HolidayOn(t time.Time) (Holiday, bool) {
	return c.holidayOn(DateOf(t.In(c.loc)))
}

func (c *Calendar) holidayOn(d Date) (Holiday, bool) {
	for _, h := range c.holidays {
		if h.covers(d) {
			return h, true
		}
	}
	return Holiday{}, false
}

func sinceMidnight(t time.Time) time.Duration {
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute +
		time.Duration(t.Second())*time.Second + time.Duration(t.Nanosecond())
}

// IsOpen reports whether t falls in working hours: on a working day that is
// not a holiday, at or after a range's start and before its end.
func (c *Calendar) IsOpen(t time.Time) bool {
	lt := t.In(c.loc)
	now := sinceMidnight(lt)
	for _, r := range c.rangesOn(DateOf(lt)) {
		if r.Start <= now && now < r.End {
			return true
		}
	}
	return false
}

// searchDays bounds NextOpening's walk: long enough to step over any
// realistic run of holidays, short enough to end on a schedule that never opens.
const searchDays = 800

// NextOpening returns t itself when open, else the start of the next opening
// period in the calendar's zone. It returns the zero time when the schedule
// never opens.
func (c *Calendar) NextOpening(t time.Time) time.Time {
	if c.IsOpen(t) {
		return t
	}
	lt := t.In(c.loc)
	today, now := DateOf(lt), sinceMidnight(lt)
	for i := 0; i < searchDays; i++ {
		d := today.addDays(i)
		for _, r := range c.rangesOn(d) {
			if i == 0 && r.Start <= now {
				continue
			}
			at := time.Date(d.Year, d.Month, d.Day, int(r.Start/time.Hour), int(r.Start%time.Hour/time.Minute), 0, 0, c.loc)
			if sinceMidnight(at) != r.Start {
				// The start falls in a DST gap and time.Date picked either
				// side of it; we open at the jump itself, if the range
				// outlasts the gap.
				begin, end := at.ZoneBounds()
				if sinceMidnight(at) > r.Start {
					at = begin
				} else {
					at = end
				}
			}
			if at.After(t) && c.IsOpen(at) {
				return at
			}
		}
	}
	return time.Time{}
}

// Describe words the weekly schedule for a customer, e.g.
// "Sunday–Thursday, 7:30 AM–2:30 PM (Riyadh time)" or
// "من الأحد إلى الخميس، من 7:30 صباحًا حتى 2:30 ظهرًا بتوقيت الرياض".
func (c *Calendar) Describe(lang string) string {
	ar := lang == "ar"
	type group struct {
		from, to time.Weekday
		rs       []Range
	}
	var groups []group
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		rs := c.week[wd]
		if len(rs) == 0 {
			continue
		}
		if n := len(groups); n > 0 && groups[n-1].to == wd-1 && sameRanges(groups[n-1].rs, rs) {
			groups[n-1].to = wd
			continue
		}
		groups = append(groups, group{wd, wd, rs})
	}
	if len(groups) == 0 {
		if ar {
			return "مغلق"
		}
		return "closed"
	}
	parts := make([]string, len(groups))
	for i, g := range groups {
		var days string
		switch {
		case g.from == g.to && ar:
			days = arabicDay(g.from)
		case g.from == g.to:
			days = g.from.String()
		case ar:
			days = "من " + arabicDay(g.from) + " إلى " + arabicDay(g.to)
		default:
			days = g.from.String() + "–" + g.to.String()
		}
		spans := make([]string, len(g.rs))
		for j, r := range g.rs {
			if ar {
				spans[j] = "من " + clockText(r.Start, lang) + " حتى " + clockText(r.End, lang)
			} else {
				spans[j] = clockText(r.Start, lang) + "–" + clockText(r.End, lang)
			}
		}
		if ar {
			parts[i] = days + "، " + strings.Join(spans, " و")
		} else {
			parts[i] = days + ", " + strings.Join(spans, " and ")
		}
	}
	if ar {
		return strings.Join(parts, "؛ ") + " " + c.zoneText(lang)
	}
	return strings.Join(parts, "; ") + " " + c.zoneText(lang)
}

func sameRanges(a, b []Range) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// when words a moment for a customer: "Sunday 6 December at 7:30 AM (Riyadh
// time)" / "الأحد 6 ديسمبر الساعة 7:30 صباحًا بتوقيت الرياض".
func (c *Calendar) when(t time.Time, lang string) string {
	lt := t.In(c.loc)
	at := sinceMidnight(lt).Truncate(time.Minute)
	if lang == "ar" {
		return fmt.Sprintf("%s %d %s الساعة %s %s", arabicDay(lt.Weekday()), lt.Day(), arabicMonth(lt.Month()),
			clockText(at, lang), c.zoneText(lang))
	}
	return fmt.Sprintf("%s %d %s at %s %s", lt.Weekday(), lt.Day(), lt.Month(), clockText(at, lang), c.zoneText(lang))
}

// clockText is a 12-hour clock: "7:30 AM", "2:30 PM"; in Arabic with the
// part of the day, "7:30 صباحًا", "2:30 ظهرًا".
func clockText(d time.Duration, lang string) string {
	h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
	h12 := h % 12
	if h12 == 0 {
		h12 = 12
	}
	if lang == "ar" {
		if h == 0 || h == 24 {
			if m == 0 {
				return "منتصف الليل"
			}
		}
		var part string
		switch {
		case h < 12:
			part = "صباحًا"
		case h < 15:
			part = "ظهرًا"
		case h < 18:
			part = "عصرًا"
		default:
			part = "مساءً"
		}
		return fmt.Sprintf("%d:%02d %s", h12, m, part)
	}
	if h == 24 {
		return "midnight"
	}
	ampm := "AM"
	if h >= 12 {
		ampm = "PM"
	}
	return fmt.Sprintf("%d:%02d %s", h12, m, ampm)
}

// zoneText names the zone by its city: "(Riyadh time)" / "بتوقيت الرياض".
func (c *Calendar) zoneText(lang string) string {
	name := c.loc.String()
	if name == "UTC" || name == "" {
		if lang == "ar" {
			return "بالتوقيت العالمي (UTC)"
		}
		return "(UTC)"
	}
	city := name[strings.LastIndex(name, "/")+1:]
	city = strings.ReplaceAll(city, "_", " ")
	if lang == "ar" {
		if a := arabicCity(name); a != "" {
			city = a
		}
		return "بتوقيت " + city
	}
	return "(" + city + " time)"
}

func arabicDay(d time.Weekday) string {
	switch d {
	case time.Sunday:
		return "الأحد"
	case time.Monday:
		return "الاثنين"
	case time.Tuesday:
		return "الثلاثاء"
	case time.Wednesday:
		return "الأربعاء"
	case time.Thursday:
		return "الخميس"
	case time.Friday:
		return "الجمعة"
	default:
		return "السبت"
	}
}

// arabicMonth uses the month names common in the Gulf for the Gregorian calendar.
func arabicMonth(m time.Month) string {
	switch m {
	case time.January:
		return "يناير"
	case time.February:
		return "فبراير"
	case time.March:
		return "مارس"
	case time.April:
		return "أبريل"
	case time.May:
		return "مايو"
	case time.June:
		return "يونيو"
	case time.July:
		return "يوليو"
	case time.August:
		return "أغسطس"
	case time.September:
		return "سبتمبر"
	case time.October:
		return "أكتوبر"
	case time.November:
		return "نوفمبر"
	default:
		return "ديسمبر"
	}
}

// arabicCity knows the zones an Arabic-speaking operator is likely to use;
// others keep their Latin city name.
func arabicCity(zone string) string {
	switch zone {
	case "Asia/Riyadh":
		return "الرياض"
	case "Asia/Dubai":
		return "دبي"
	case "Asia/Kuwait":
		return "الكويت"
	case "Asia/Qatar":
		return "قطر"
	case "Asia/Bahrain":
		return "البحرين"
	case "Asia/Muscat":
		return "مسقط"
	case "Asia/Amman":
		return "عمّان"
	case "Asia/Baghdad":
		return "بغداد"
	case "Africa/Cairo":
		return "القاهرة"
	case "Europe/London":
		return "لندن"
	case "America/New_York":
		return "نيويورك"
	}
	return ""
}

// Special changes the opening times of every working day from From to To
// inclusive (Ramadan hours, a summer timetable): on those days the working
// days of the week open at Ranges instead. Days the week keeps closed stay
// closed, and holidays still close a day.
type Special struct {
	From, To Date
	Name     Text
	Ranges   []Range
}

func (s Special) covers(d Date) bool { return !d.before(s.From) && !s.To.before(d) }

// WithSpecial returns a copy of c with special opening times added. Periods
// may not overlap each other.
func (c *Calendar) WithSpecial(periods ...Special) (*Calendar, error) {
	out := *c
	out.special = append(append([]Special(nil), c.special...), periods...)
	for i := range out.special {
		p := &out.special[i]
		if p.To.before(p.From) {
			return nil, fmt.Errorf("calendar: special hours from %s end before they start", p.From)
		}
		p.Ranges = append([]Range(nil), p.Ranges...)
		if len(p.Ranges) == 0 {
			return nil, fmt.Errorf("calendar: special hours from %s have no opening times (a closed period is a holiday)", p.From)
		}
		if err := checkDay(p.Ranges); err != nil {
			return nil, fmt.Errorf("calendar: special hours from %s: %w", p.From, err)
		}
	}
	sort.SliceStable(out.special, func(i, j int) bool { return out.special[i].From.before(out.special[j].From) })
	for i := 1; i < len(out.special); i++ {
		if !out.special[i-1].To.before(out.special[i].From) {
			return nil, fmt.Errorf("calendar: special hours from %s and %s overlap", out.special[i-1].From, out.special[i].From)
		}
	}
	return &out, nil
}

// Special returns the periods of special opening times, earliest first.
func (c *Calendar) Special() []Special { return append([]Special(nil), c.special...) }

// rangesOn is what day d opens: nothing on a holiday or a day the week
// keeps closed, a special period's times when one covers d, else the
// week's.
func (c *Calendar) rangesOn(d Date) []Range {
	if _, hol := c.holidayOn(d); hol {
		return nil
	}
	week := c.week[d.weekday()]
	if len(week) == 0 {
		return nil
	}
	for _, s := range c.special {
		if s.covers(d) {
			return s.Ranges
		}
	}
	return week
}

// spans are day d's opening periods as instants, in order.
func (c *Calendar) spans(d Date) [][2]time.Time {
	rs := c.rangesOn(d)
	out := make([][2]time.Time, 0, len(rs))
	for _, r := range rs {
		start := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, c.loc).Add(r.Start)
		end := time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, c.loc).Add(r.End)
		out = append(out, [2]time.Time{start, end})
	}
	return out
}

// dayLength is the working time of day d.
func (c *Calendar) dayLength(d Date) time.Duration {
	var n time.Duration
	for _, s := range c.spans(d) {
		n += s[1].Sub(s[0])
	}
	return n
}

// BusinessTime is the working time between from and to: how much of it
// falls in opening hours. Zero when to is not after from.
func (c *Calendar) BusinessTime(from, to time.Time) time.Duration {
	if !to.After(from) {
		return 0
	}
	var n time.Duration
	last := DateOf(to.In(c.loc))
	for d := DateOf(from.In(c.loc)); !last.before(d); d = d.addDays(1) {
		for _, s := range c.spans(d) {
			a, b := s[0], s[1]
			if a.Before(from) {
				a = from
			}
			if b.After(to) {
				b = to
			}
			if b.After(a) {
				n += b.Sub(a)
			}
		}
	}
	return n
}

// AddBusinessTime is the instant d of working time after t: t itself for
// zero, and an instant in (or at the end of) an opening period otherwise —
// 4 working hours from Thursday 14:00 is Sunday 11:00. The zero time when
// the schedule never opens again.
func (c *Calendar) AddBusinessTime(t time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return t
	}
	day := DateOf(t.In(c.loc))
	// idle counts the days in a row without opening hours: a schedule that
	// never opens again ends the walk.
	for idle := 0; idle < searchDays; day = day.addDays(1) {
		spans := c.spans(day)
		if len(spans) == 0 {
			idle++
			continue
		}
		idle = 0
		for _, s := range spans {
			a, b := s[0], s[1]
			if !b.After(t) {
				continue
			}
			if a.Before(t) {
				a = t
			}
			left := b.Sub(a)
			if d <= left {
				return a.Add(d)
			}
			d -= left
		}
	}
	return time.Time{}
}

// AddWorkingDays is the instant n working days after t, at the same point
// of the working day: Thursday 14:00 plus one working day is Sunday 14:00.
// A moment outside opening hours counts as the end of the working day
// before it, so a request on Tuesday night or at Wednesday's opening is
// due at the end of Wednesday with one working day. When the target day is
// shorter (Ramadan hours), the point is capped at its close.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	if n <= 0 {
		return t
	}
	lt := t.In(c.loc)
	day := DateOf(lt)
	var offset time.Duration
	endOfDay := false
	if spans := c.spans(day); len(spans) > 0 && t.After(spans[0][0]) {
		offset = c.BusinessTime(spans[0][0], t)
		endOfDay = offset >= c.dayLength(day)
	} else {
		endOfDay = true // the end of the working day before
		day = c.workingDayBefore(day)
		if day == (Date{}) {
			return time.Time{}
		}
	}
	for i := 0; i < n; i++ {
		if day = c.workingDayAfter(day); day == (Date{}) {
			return time.Time{}
		}
	}
	length := c.dayLength(day)
	if endOfDay || offset > length {
		offset = length
	}
	spans := c.spans(day)
	return c.AddBusinessTime(spans[0][0], offset)
}

// workingDayAfter is the next day with opening hours after d; the zero
// Date when there is none within reach.
func (c *Calendar) workingDayAfter(d Date) Date {
	for i := 1; i <= searchDays; i++ {
		if next := d.addDays(i); len(c.rangesOn(next)) > 0 {
			return next
		}
	}
	return Date{}
}

func (c *Calendar) workingDayBefore(d Date) Date {
	for i := 1; i <= searchDays; i++ {
		if prev := d.addDays(-i); len(c.rangesOn(prev)) > 0 {
			return prev
		}
	}
	return Date{}
}
