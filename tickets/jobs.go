package tickets

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/store"
)

// The periodic jobs run once across replicas: River's elected leader
// inserts them (PeriodicJobs), and whatever River does — a job run twice,
// a leader that changed, a restart — their effects are idempotent in the
// store: an SLA notice per ticket, clock and state (sla_notices), a weekly
// report per department and week (weekly_reports), a staff mail per key.

// SLACheckArgs is the periodic job that marks tickets at risk and breached.
type SLACheckArgs struct{}

// Kind names the job for River.
func (SLACheckArgs) Kind() string { return "sla_check" }

// WeeklyReportArgs is the periodic job that sends the weekly reports that
// are due.
type WeeklyReportArgs struct{}

// Kind names the job for River.
func (WeeklyReportArgs) Kind() string { return "weekly_report" }

// PeriodicJobs are the ticket jobs to register in River's config
// (PeriodicJobs): the SLA check every slaEvery and the weekly report's
// check every reportEvery, both also at start-up.
func PeriodicJobs(slaEvery, reportEvery time.Duration) []*river.PeriodicJob {
	return []*river.PeriodicJob{
		river.NewPeriodicJob(river.PeriodicInterval(slaEvery),
			func() (river.JobArgs, *river.InsertOpts) { return SLACheckArgs{}, nil },
			&river.PeriodicJobOpts{ID: "sla_check", RunOnStart: true}),
		river.NewPeriodicJob(river.PeriodicInterval(reportEvery),
			func() (river.JobArgs, *river.InsertOpts) { return WeeklyReportArgs{}, nil },
			&river.PeriodicJobOpts{ID: "weekly_report", RunOnStart: true}),
	}
}

// Names words departments for staff, in a language ("ar" or "en").
type Names func(department, lang string) string

// SLAWorker marks the tickets whose clocks reached at risk or breached,
// once per ticket, clock and state: a ticket event, and a mail to the
// assignee and to the department's head.
type SLAWorker struct {
	river.WorkerDefaults[SLACheckArgs]
	Store    *store.Store
	Flow     Workflow
	Jobs     JobInserter
	InboxURL string
	Now      func() time.Time
	Log      *slog.Logger
}

// Work assesses every ticket on the clock.
func (w *SLAWorker) Work(ctx context.Context, _ *river.Job[SLACheckArgs]) error {
	_, err := w.Check(ctx)
	return err
}

// Check assesses every ticket on the clock now and returns how many new
// states it recorded.
func (w *SLAWorker) Check(ctx context.Context) (int, error) {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	ts, err := w.Store.TicketsOnTheClock(ctx, 5000)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range ts {
		for _, cs := range w.Flow.Assess(t.Ticket, now) {
			if cs.State == SLAOnTrack {
				continue
			}
			recorded := false
			err := w.Store.InTx(ctx, func(tx *store.Tx) error {
				var err error
				if recorded, err = tx.RecordSLANotice(ctx, t.ID, cs.Clock, cs.State, now); err != nil || !recorded {
					return err
				}
				if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventSLA, Actor: "system",
					Note: cs.Clock + " " + cs.State, CreatedAt: now}); err != nil {
					return err
				}
				return w.notify(ctx, tx, t, cs, now)
			})
			if err != nil {
				return n, fmt.Errorf("SLA notice for ticket %s: %w", t.Ref, err)
			}
			if recorded {
				n++
			}
		}
	}
	return n, nil
}

// notify mails the assignee and the department head (once each).
func (w *SLAWorker) notify(ctx context.Context, tx *store.Tx, t store.ClockedTicket, cs ClockState, now time.Time) error {
	ids := []int64{t.AssigneeID}
	if head, ok, err := tx.DepartmentHead(ctx, t.Department); err != nil {
		return err
	} else if ok && head.ID != t.AssigneeID {
		ids = append(ids, head.ID)
	}
	due := t.SLADueAt
	if cs.Clock == ClockFirstResponse {
		due = t.FirstResponseDueAt
	}
	for _, id := range ids {
		if id == 0 {
			continue
		}
		email, lang, active, err := tx.UserEmail(ctx, id)
		if err != nil {
			return err
		}
		if !active {
			continue
		}
		when := ""
		if due != nil {
			when = due.Format(time.RFC3339)
			if loc := w.zone(); loc != nil {
				when = due.In(loc).Format("2006-01-02 15:04")
			}
		}
		subject, body := SLANotice(lang, w.InboxURL, t.Ticket, cs.Clock, cs.State, when)
		if _, err := QueueMail(ctx, tx, w.Jobs, &store.StaffMail{Key: fmt.Sprintf("sla:%d:%s:%s:%d", t.ID, cs.Clock, cs.State, id),
			To: email, Subject: subject, Text: body, CreatedAt: now}); err != nil {
			return err
		}
	}
	return nil
}

func (w *SLAWorker) zone() *time.Location {
	if z, ok := w.Flow.Clock.(interface{ Location() *time.Location }); ok {
		return z.Location()
	}
	return nil
}

// ReportSchedule is when the weekly report goes out: a day and time of the
// week in the bank's time zone (default Sunday 07:30).
type ReportSchedule struct {
	Day  time.Weekday
	At   time.Duration // since midnight
	Zone *time.Location
}

// Last is the latest scheduled moment at or before now.
func (s ReportSchedule) Last(now time.Time) time.Time {
	lt := now.In(s.Zone)
	back := (int(lt.Weekday()) - int(s.Day) + 7) % 7
	d := time.Date(lt.Year(), lt.Month(), lt.Day()-back, 0, 0, 0, 0, s.Zone).Add(s.At)
	if d.After(now) {
		d = time.Date(d.Year(), d.Month(), d.Day()-7, 0, 0, 0, 0, s.Zone).Add(s.At)
	}
	return d
}

// ReportWorker sends each department head the weekly report that is due:
// the week before the latest scheduled moment, once per department and
// week whatever runs the job how often.
type ReportWorker struct {
	river.WorkerDefaults[WeeklyReportArgs]
	Store       *store.Store
	Clock       Clock
	Schedule    ReportSchedule
	Departments []string // in the bank's order
	Names       Names
	Jobs        JobInserter
	InboxURL    string
	Now         func() time.Time
	Log         *slog.Logger
}

// Work sends the reports due now.
func (w *ReportWorker) Work(ctx context.Context, _ *river.Job[WeeklyReportArgs]) error {
	_, err := w.Send(ctx)
	return err
}

// Send takes and queues the reports due now; it returns how many mails it
// queued (0 when every department's report of the week was taken).
func (w *ReportWorker) Send(ctx context.Context) (int, error) {
	now := time.Now()
	if w.Now != nil {
		now = w.Now()
	}
	run := w.Schedule.Last(now)
	week := WeekOf(run, w.Schedule.Zone).Previous()
	reports, err := BuildReports(ctx, w.Store, w.Clock, week, w.Departments)
	if err != nil {
		return 0, err
	}
	done, err := w.Store.WeeklyReports(ctx, week.Key())
	if err != nil {
		return 0, err
	}
	taken := map[string]bool{}
	for _, r := range done {
		taken[r.Department] = true
	}
	sent := 0
	for _, r := range reports {
		if taken[r.Department] {
			continue
		}
		head, ok, err := w.Store.DepartmentHead(ctx, r.Department)
		if err != nil {
			return sent, err
		}
		numbers, err := json.Marshal(r)
		if err != nil {
			return sent, err
		}
		row := store.WeeklyReportRow{Department: r.Department, WeekStart: week.Key(), Numbers: string(numbers), CreatedAt: now}
		if ok {
			row.Recipient = head.Email
		}
		err = w.Store.InTx(ctx, func(tx *store.Tx) error {
			took, err := tx.TakeWeeklyReport(ctx, row)
			if err != nil || !took || !ok {
				return err
			}
			lang := head.Language
			name := r.Department
			if w.Names != nil {
				name = w.Names(r.Department, lang)
			}
			subject, text, html, err := ReportMail(lang, name, week, r, w.InboxURL)
			if err != nil {
				return err
			}
			m := store.StaffMail{Key: "weekly:" + r.Department + ":" + week.Key(), To: head.Email, Subject: subject, Text: text, HTML: html, CreatedAt: now}
			queued, err := QueueMail(ctx, tx, w.Jobs, &m)
			if err != nil || !queued {
				return err
			}
			sent++
			return tx.SetWeeklyReportMail(ctx, r.Department, week.Key(), m.ID)
		})
		if err != nil {
			return sent, fmt.Errorf("weekly report of %s for %s: %w", r.Department, week.Key(), err)
		}
	}
	return sent, nil
}

// BuildReports reads the store and computes the departments' reports for
// week (departments in the bank's order, others after).
func BuildReports(ctx context.Context, st *store.Store, c Clock, week Week, departments []string) ([]DepartmentReport, error) {
	ts, err := st.ReportTickets(ctx, week.Start, week.End, "")
	if err != nil {
		return nil, err
	}
	var closed []int64
	for _, t := range ts {
		if t.Status == store.TicketClosed {
			closed = append(closed, t.ID)
		}
	}
	firsts, err := st.FirstHumanReplies(ctx, closed)
	if err != nil {
		return nil, err
	}
	surveys, err := st.SurveysBetween(ctx, week.Start, week.End)
	if err != nil {
		return nil, err
	}
	return Report(c, week, departments, ts, firsts, surveys), nil
}
