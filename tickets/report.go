package tickets

import (
	"slices"
	"sort"
	"time"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// Week is the reporting week: Sunday 00:00 to the next Sunday 00:00 in the
// bank's time zone (the university's week starts on Sunday).
type Week struct {
	Start, End time.Time
}

// WeekOf is the week t falls in, in loc.
func WeekOf(t time.Time, loc *time.Location) Week {
	lt := t.In(loc)
	start := time.Date(lt.Year(), lt.Month(), lt.Day()-int(lt.Weekday()), 0, 0, 0, 0, loc)
	return Week{Start: start, End: time.Date(start.Year(), start.Month(), start.Day()+7, 0, 0, 0, 0, loc)}
}

// Key names the week by its Sunday: 2026-11-01.
func (w Week) Key() string { return w.Start.Format(time.DateOnly) }

// Previous is the week before.
func (w Week) Previous() Week {
	s := w.Start
	return Week{Start: time.Date(s.Year(), s.Month(), s.Day()-7, 0, 0, 0, 0, s.Location()), End: s}
}

// DepartmentReport is one department's weekly report, as the catalogue
// asks for it: its tickets by state now (open / transferred, pending, in
// progress) and their total, then the week's closed tickets with their
// outcome, SLA breaches, median first response and resolution in working
// time, and the average satisfaction.
type DepartmentReport struct {
	Department  string `json:"department"`
	Week        string `json:"week"` // the week's Sunday
	Open        int    `json:"open"`
	Transferred int    `json:"transferred"`
	Pending     int    `json:"pending"`
	InProgress  int    `json:"in_progress"`
	Total       int    `json:"total"` // not closed: the four above

	Closed        int          `json:"closed"` // this week
	ClosedDone    int          `json:"closed_done"`
	ClosedNotDone int          `json:"closed_not_done"`
	ClosedTickets []ClosedLine `json:"closed_tickets"`
	Breaches      int          `json:"sla_breaches"` // clocks breached this week
	// Medians over the week's closed tickets, in working time; zero when
	// none had one.
	MedianFirstResponse time.Duration `json:"median_first_response"`
	MedianResolution    time.Duration `json:"median_resolution"`
	// Satisfaction: the week's survey answers about the department's
	// tickets (0 when none).
	Surveys    int     `json:"surveys"`
	AvgService float64 `json:"avg_service"`
	AvgStaff   float64 `json:"avg_staff"`
}

// ClosedLine is one ticket closed in the week.
type ClosedLine struct {
	Ref      string    `json:"ref"`
	Subject  string    `json:"subject"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Date     string    `json:"date,omitempty"`
	ClosedAt time.Time `json:"closed_at"`
}

// Report computes the departments' reports for week from what the store
// read (ReportTickets over the week, the first human replies of those
// tickets, the week's survey answers). Every department named in
// departments gets a report, even an empty one; others seen in the data
// are added after them.
func Report(c Clock, week Week, departments []string, ts []store.ReportTicket, firstReplies map[int64]time.Time, surveys []store.SurveyResponse) []DepartmentReport {
	by := map[string]*DepartmentReport{}
	order := slices.Clone(departments)
	get := func(d string) *DepartmentReport {
		r, ok := by[d]
		if !ok {
			r = &DepartmentReport{Department: d, Week: week.Key()}
			by[d] = r
			if !slices.Contains(order, d) {
				order = append(order, d)
			}
		}
		return r
	}
	for _, d := range departments {
		get(d)
	}
	firsts, resolutions := map[string][]time.Duration{}, map[string][]time.Duration{}
	for _, t := range ts {
		r := get(t.Department)
		for _, b := range t.Breaches {
			if !b.At.Before(week.Start) && b.At.Before(week.End) {
				r.Breaches++
			}
		}
		switch Status(t.Status) {
		case Open:
			r.Open++
		case Transferred:
			r.Transferred++
		case Pending:
			r.Pending++
		case InProgress:
			r.InProgress++
		case Closed:
			if t.ClosedAt == nil || t.ClosedAt.Before(week.Start) || !t.ClosedAt.Before(week.End) {
				continue
			}
			r.Closed++
			if t.Outcome == store.OutcomeNotDone {
				r.ClosedNotDone++
			} else {
				r.ClosedDone++
			}
			r.ClosedTickets = append(r.ClosedTickets, ClosedLine{Ref: t.Ref, Subject: t.Subject, Outcome: t.Outcome,
				Reason: t.OutcomeReason, Date: t.OutcomeDate, ClosedAt: *t.ClosedAt})
			paused := time.Duration(t.PausedSeconds) * time.Second
			if c != nil {
				resolutions[t.Department] = append(resolutions[t.Department], max(0, c.BusinessTime(t.CreatedAt, *t.ClosedAt)-paused))
				first := firstReplies[t.ID]
				if t.FirstResponseAt != nil && (first.IsZero() || t.FirstResponseAt.Before(first)) {
					first = *t.FirstResponseAt
				}
				if !first.IsZero() {
					firsts[t.Department] = append(firsts[t.Department], c.BusinessTime(t.CreatedAt, first))
				}
			}
		}
	}
	service, staff := map[string][]int{}, map[string][]int{}
	for _, s := range surveys {
		if s.TicketID == 0 || s.CreatedAt.Before(week.Start) || !s.CreatedAt.Before(week.End) {
			continue
		}
		service[s.Department] = append(service[s.Department], s.ServiceRating)
		if s.StaffRating > 0 {
			staff[s.Department] = append(staff[s.Department], s.StaffRating)
		}
	}
	out := make([]DepartmentReport, 0, len(order))
	for _, d := range order {
		r := by[d]
		r.Total = r.Open + r.Transferred + r.Pending + r.InProgress
		r.MedianFirstResponse, r.MedianResolution = Median(firsts[d]), Median(resolutions[d])
		r.Surveys, r.AvgService = len(service[d]), mean(service[d])
		r.AvgStaff = mean(staff[d])
		sort.Slice(r.ClosedTickets, func(i, j int) bool { return r.ClosedTickets[i].ClosedAt.Before(r.ClosedTickets[j].ClosedAt) })
		out = append(out, *r)
	}
	return out
}

// Median of durations; zero for none.
func Median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}

func mean(v []int) float64 {
	if len(v) == 0 {
		return 0
	}
	sum := 0
	for _, x := range v {
		sum += x
	}
	return float64(sum) / float64(len(v))
}

// Satisfaction is the average rating of one group (a department, an
// agent, a topic).
type Satisfaction struct {
	Key        string  `json:"key"`
	Answers    int     `json:"answers"`
	AvgService float64 `json:"avg_service"`
	AvgStaff   float64 `json:"avg_staff"`
}

// SatisfactionBy groups survey answers by key (department, agent, topic),
// the largest groups first.
func SatisfactionBy(surveys []store.SurveyResponse, key func(store.SurveyResponse) string) []Satisfaction {
	service, staff := map[string][]int{}, map[string][]int{}
	var keys []string
	for _, s := range surveys {
		k := key(s)
		if _, ok := service[k]; !ok {
			keys = append(keys, k)
		}
		service[k] = append(service[k], s.ServiceRating)
		if s.StaffRating > 0 {
			staff[k] = append(staff[k], s.StaffRating)
		}
	}
	out := make([]Satisfaction, 0, len(keys))
	for _, k := range keys {
		out = append(out, Satisfaction{Key: k, Answers: len(service[k]), AvgService: mean(service[k]), AvgStaff: mean(staff[k])})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Answers > out[j].Answers })
	return out
}

// ChannelDay is one channel's messages on one day (in the bank's zone).
type ChannelDay struct {
	Day      string       `json:"day"` // YYYY-MM-DD
	Channel  message.Kind `json:"channel"`
	Messages int          `json:"messages"`
}

// ChannelSummary is one channel over a period: messages in, how many were
// answered automatically, how many were out of scope (and referred
// where), replies out, and the median time to the first human reply of a
// conversation, in working time.
type ChannelSummary struct {
	Channel         message.Kind   `json:"channel"`
	Messages        int            `json:"messages"`
	InScope         int            `json:"in_scope"`
	OutOfScope      int            `json:"out_of_scope"`
	AutoAnswered    int            `json:"auto_answered"`
	Referrals       map[string]int `json:"referrals"` // out-of-scope topic → messages
	RepliesAuto     int            `json:"replies_auto"`
	RepliesStaff    int            `json:"replies_staff"`
	MedianFirstHand time.Duration  `json:"median_first_human_reply"`
}

// ChannelReport computes the channel report of the messages read for a
// period: a line per channel and day, and a summary per channel.
func ChannelReport(c Clock, loc *time.Location, msgs []store.ChannelMessage, replies map[message.Kind][2]int) ([]ChannelDay, []ChannelSummary) {
	days := map[[2]string]int{}
	sums := map[message.Kind]*ChannelSummary{}
	firsts := map[message.Kind][]time.Duration{}
	var kinds []message.Kind
	sum := func(k message.Kind) *ChannelSummary {
		s, ok := sums[k]
		if !ok {
			s = &ChannelSummary{Channel: k, Referrals: map[string]int{}}
			sums[k] = s
			kinds = append(kinds, k)
		}
		return s
	}
	for _, m := range msgs {
		days[[2]string{m.At.In(loc).Format(time.DateOnly), string(m.Channel)}]++
		s := sum(m.Channel)
		s.Messages++
		switch m.Scope {
		case "in":
			s.InScope++
		case "out":
			s.OutOfScope++
			if m.Topic != "" {
				s.Referrals[m.Topic]++
			}
		}
		if m.AutoReplied {
			s.AutoAnswered++
		}
		if m.FirstOfConv && !m.FirstHumanReply.IsZero() && c != nil {
			firsts[m.Channel] = append(firsts[m.Channel], c.BusinessTime(m.At, m.FirstHumanReply))
		}
	}
	for k, n := range replies {
		s := sum(k)
		s.RepliesAuto, s.RepliesStaff = n[0], n[1]
	}
	slices.Sort(kinds)
	var outSums []ChannelSummary
	for _, k := range kinds {
		s := sums[k]
		s.MedianFirstHand = Median(firsts[k])
		outSums = append(outSums, *s)
	}
	var outDays []ChannelDay
	for k, n := range days {
		outDays = append(outDays, ChannelDay{Day: k[0], Channel: message.Kind(k[1]), Messages: n})
	}
	sort.Slice(outDays, func(i, j int) bool {
		if outDays[i].Day != outDays[j].Day {
			return outDays[i].Day < outDays[j].Day
		}
		return outDays[i].Channel < outDays[j].Channel
	})
	return outDays, outSums
}
