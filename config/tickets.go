package config

import (
	"fmt"
	"strings"
	"time"
)

// Tickets tunes the ticket workflow, its SLA checks, weekly reports and
// satisfaction surveys. Zero values are the defaults below.
type Tickets struct {
	// FrontDesk is the customer-service unit's department (the bank's id):
	// departments hand tickets back to it, and it closes them. Default
	// customer_service.
	FrontDesk string `yaml:"front_desk"`
	// ReopenWindow: a reply to a ticket closed less than this ago reopens
	// it; a later one opens a new ticket linked to it. Default 7d.
	ReopenWindow Duration `yaml:"reopen_window"`
	// SLACheckEvery is how often tickets' clocks are assessed (at risk at
	// 80 % of the target, breached at 100 %). Default 1m.
	SLACheckEvery Duration `yaml:"sla_check_every"`
	// WeeklyReport is when each department head gets the week's report:
	// a day of the week and a time in the bank's time zone. Default
	// sunday 07:30.
	WeeklyReport WeeklyReport `yaml:"weekly_report"`
	// Survey: the satisfaction link in closing messages.
	Survey Survey `yaml:"survey"`
	// NotifyChannel is the email channel that mails staff (notices,
	// reports); default the first email channel.
	NotifyChannel string `yaml:"notify_channel"`
}

// WeeklyReport is a day and time of the week.
type WeeklyReport struct {
	Day string `yaml:"day"` // sunday … saturday
	At  string `yaml:"at"`  // HH:MM
	// CheckEvery is how often the job looks for a report due (default
	// 5m); the store makes each department's week go out once.
	CheckEvery Duration `yaml:"check_every"`
}

// Survey tunes the satisfaction links.
type Survey struct {
	// ValidFor is how long a link works. Default 14d.
	ValidFor Duration `yaml:"valid_for"`
	// Automatic offers the survey in automatic answers too (conversations
	// answered only automatically). Default true; "false" turns it off.
	Automatic *bool `yaml:"automatic"`
	// KeyFile holds the secret the links are signed with when no secret
	// key (WASL_SECRET_KEY, secret_key_file) is configured, made (0600) on
	// first start; default data_dir/survey-link.key. Replicas must share
	// one: point them at the same file. With a secret key the links' key
	// is derived from it and this file is not used.
	KeyFile string `yaml:"key_file"`
}

// ReportDay is the weekday of the weekly report.
func (w WeeklyReport) ReportDay() time.Weekday {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(w.Day, d.String()) {
			return d
		}
	}
	return time.Sunday
}

// ReportAt is the time of day of the weekly report, since midnight.
func (w WeeklyReport) ReportAt() time.Duration {
	t, err := time.Parse("15:04", w.At)
	if err != nil {
		return 7*time.Hour + 30*time.Minute
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute
}

// AutomaticSurvey reports whether automatic answers carry the survey.
func (s Survey) AutomaticSurvey() bool { return s.Automatic == nil || *s.Automatic }

func (t *Tickets) defaults() {
	if t.FrontDesk == "" {
		t.FrontDesk = "customer_service"
	}
	if t.WeeklyReport.Day == "" {
		t.WeeklyReport.Day = "sunday"
	}
	if t.WeeklyReport.At == "" {
		t.WeeklyReport.At = "07:30"
	}
}

func (t *Tickets) validate() []error {
	var errs []error
	valid := false
	for d := time.Sunday; d <= time.Saturday; d++ {
		valid = valid || strings.EqualFold(t.WeeklyReport.Day, d.String())
	}
	if !valid {
		errs = append(errs, fmt.Errorf("tickets.weekly_report.day %q: want sunday, monday, … saturday", t.WeeklyReport.Day))
	}
	if _, err := time.Parse("15:04", t.WeeklyReport.At); err != nil || len(t.WeeklyReport.At) != 5 {
		errs = append(errs, fmt.Errorf("tickets.weekly_report.at %q: want HH:MM (the bank's time zone)", t.WeeklyReport.At))
	}
	for _, d := range []struct {
		name string
		d    Duration
	}{{"reopen_window", t.ReopenWindow}, {"sla_check_every", t.SLACheckEvery},
		{"weekly_report.check_every", t.WeeklyReport.CheckEvery}, {"survey.valid_for", t.Survey.ValidFor}} {
		if d.d < 0 {
			errs = append(errs, fmt.Errorf("tickets.%s must not be negative", d.name))
		}
	}
	return errs
}
