package inbox

import (
	"context"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// Zone is the bank's time zone (the reports' weeks and days), UTC without
// a calendar.
func (s *Service) Zone() *time.Location {
	if s.Bank() != nil && s.Bank().Calendar() != nil {
		return s.Bank().Calendar().Location()
	}
	return time.UTC
}

// Reports is what the reports page shows for a week: each department's
// weekly report (those p may act for: operators see all, agents their
// departments), and the week's satisfaction per department, agent and
// topic.
type Reports struct {
	Week         tickets.Week
	Departments  []tickets.DepartmentReport
	ByDepartment []tickets.Satisfaction
	ByAgent      []tickets.Satisfaction // keyed by the agent's name
	ByTopic      []tickets.Satisfaction
}

// WeeklyReports computes the reports of week for p.
func (s *Service) WeeklyReports(ctx context.Context, p Principal, week tickets.Week) (Reports, error) {
	var deps []string
	if s.Bank() != nil {
		for _, d := range s.Bank().Departments() {
			deps = append(deps, d.ID)
		}
	}
	all, err := tickets.BuildReports(ctx, s.store, s.flow().Clock, week, deps)
	if err != nil {
		return Reports{}, fmt.Errorf("weekly reports: %w", err)
	}
	out := Reports{Week: week}
	for _, r := range all {
		if canActFor(p, r.Department) {
			out.Departments = append(out.Departments, r)
		}
	}
	surveys, err := s.store.SurveysBetween(ctx, week.Start, week.End)
	if err != nil {
		return Reports{}, err
	}
	var seen []store.SurveyResponse
	for _, r := range surveys {
		if canActFor(p, r.Department) || (p.Operator() && r.Department == "") {
			seen = append(seen, r)
		}
	}
	names, err := s.store.UserNames(ctx)
	if err != nil {
		return Reports{}, err
	}
	out.ByDepartment = tickets.SatisfactionBy(seen, func(r store.SurveyResponse) string { return r.Department })
	out.ByTopic = tickets.SatisfactionBy(seen, func(r store.SurveyResponse) string { return r.Topic })
	out.ByAgent = tickets.SatisfactionBy(seen, func(r store.SurveyResponse) string {
		if r.AgentID == 0 {
			return ""
		}
		return names[r.AgentID]
	})
	return out, nil
}

// ChannelReport is the channel report of [from, to): messages per channel
// per day and a summary per channel (answered automatically, out of scope
// and where they were referred, median working time to the first human
// reply). It covers the whole unit, so any signed-in user may read it.
func (s *Service) ChannelReport(ctx context.Context, from, to time.Time) ([]tickets.ChannelDay, []tickets.ChannelSummary, error) {
	if !from.Before(to) {
		return nil, nil, invalid("the period must end after it starts")
	}
	msgs, err := s.store.ChannelMessages(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	counts, err := s.store.OutboundCounts(ctx, from, to)
	if err != nil {
		return nil, nil, err
	}
	days, sums := tickets.ChannelReport(s.flow().Clock, s.Zone(), msgs, counts)
	return days, sums, nil
}
