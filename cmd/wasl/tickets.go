package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/tickets"
)

// ticketWorkers are the ticket side's River workers and periodic jobs:
// SLA checks, weekly reports, staff mail.
type ticketWorkers struct {
	periodic []*river.PeriodicJob
	sla      *tickets.SLAWorker
	report   *tickets.ReportWorker
}

// ticketWorkers registers the ticket side's workers. Their job inserter is
// the River client, made after them (setJobs).
func (a *app) ticketWorkers(workers *river.Workers) *ticketWorkers {
	cal := a.bank.Calendar()
	var deps []string
	for _, d := range a.bank.Departments() {
		deps = append(deps, d.ID)
	}
	bank := a.bank
	names := func(id, lang string) string {
		if d, ok := bank.Department(id); ok {
			return d.Name.In(lang)
		}
		return id
	}
	tw := &ticketWorkers{
		sla: &tickets.SLAWorker{Store: a.store, Flow: tickets.Workflow{Clock: cal}, InboxURL: a.cfg.HTTP.PublicURL, Log: a.log},
		report: &tickets.ReportWorker{Store: a.store, Clock: cal, Departments: deps, Names: names, InboxURL: a.cfg.HTTP.PublicURL, Log: a.log,
			Schedule: tickets.ReportSchedule{Day: a.cfg.Tickets.WeeklyReport.ReportDay(), At: a.cfg.Tickets.WeeklyReport.ReportAt(), Zone: cal.Location()}},
	}
	river.AddWorker(workers, tw.sla)
	river.AddWorker(workers, tw.report)
	river.AddWorker(workers, &router.StaffMailWorker{Store: a.store, Senders: a.registry, Channel: a.notifyChannel, Domain: a.cfg.MailDomain, Log: a.log})
	tw.periodic = tickets.PeriodicJobs(a.cfg.Tickets.SLACheckEvery.D(time.Minute), a.cfg.Tickets.WeeklyReport.CheckEvery.D(5*time.Minute))
	return tw
}

func (tw *ticketWorkers) setJobs(j tickets.JobInserter) {
	tw.sla.Jobs, tw.report.Jobs = j, j
}

// notifyChannel is the email channel staff mail goes out of: the one
// tickets.notify_channel names, else the first stored (the file's come
// first, in their order).
func (a *app) notifyChannel() (int64, bool) {
	a.registry.mu.RLock()
	defer a.registry.mu.RUnlock()
	var id int64
	for _, c := range a.registry.conns {
		if c.kind != message.Email || c.sender == nil {
			continue
		}
		if name := a.cfg.Tickets.NotifyChannel; name != "" {
			if c.name == name {
				return c.id, true
			}
			continue
		}
		if id == 0 || c.id < id {
			id = c.id
		}
	}
	return id, id != 0
}

// surveyKeyFile holds the secret survey links are signed with when no
// secret key is configured, made on first start; replicas share it then.
const surveyKeyFile = "survey-link.key"

// surveyKeyPurpose names the survey links' key among the secret key's
// derived keys.
const surveyKeyPurpose = "survey links"

// surveySigner derives the links' signer from the gateway's secret key
// when one is configured, so every replica holding it verifies the others'
// links. Without one it loads (or makes, 0600) the survey key file at path
// (default the data directory's).
func surveySigner(secret *secrets.Key, path, dataDir string) (*tickets.SurveySigner, error) {
	if secret != nil {
		return tickets.NewSurveySigner(secret.Derive(surveyKeyPurpose))
	}
	if path == "" {
		path = filepath.Join(dataDir, surveyKeyFile)
	}
	dataDir = filepath.Dir(path)
	key, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key = make([]byte, 32)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("survey key: %w", err)
		}
		// O_EXCL: two processes starting at once keep one key.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		switch {
		case errors.Is(err, fs.ErrExist):
			if key, err = os.ReadFile(path); err != nil {
				return nil, fmt.Errorf("survey key: %w", err)
			}
		case err != nil:
			return nil, fmt.Errorf("survey key: %w", err)
		default:
			if _, err := f.Write(key); err != nil {
				f.Close()
				return nil, fmt.Errorf("survey key: %w", err)
			}
			if err := f.Close(); err != nil {
				return nil, fmt.Errorf("survey key: %w", err)
			}
		}
	} else if err != nil {
		return nil, fmt.Errorf("survey key: %w", err)
	}
	return tickets.NewSurveySigner(key)
}
