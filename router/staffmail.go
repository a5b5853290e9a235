package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// StaffMailWorker sends mail to staff (SLA and reopen notices, weekly
// reports, supply lists) through an email channel's sender. The mail row
// is claimed before the send and marked after, like a reply, so a retried
// job never sends one twice; its Message-ID is fixed by its id.
type StaffMailWorker struct {
	river.WorkerDefaults[tickets.StaffMailArgs]
	Store   *store.Store
	Senders Senders
	// Channel is the email channel staff mail goes out of; false when
	// none is configured (the mail waits, with the reason, for a retry).
	Channel func() (int64, bool)
	// Domain is the right-hand side of the mails' Message-IDs.
	Domain string
	Log    *slog.Logger
}

// Work sends one staff mail.
func (w *StaffMailWorker) Work(ctx context.Context, job *river.Job[tickets.StaffMailArgs]) error {
	m, claimed, err := w.Store.ClaimStaffMail(ctx, job.Args.MailID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(err)
	}
	if err != nil || !claimed {
		return err
	}
	fail := func(err error, permanent bool) error {
		state := store.MailQueued
		if permanent || job.Attempt >= job.MaxAttempts {
			state = store.MailFailed
		}
		if merr := w.Store.MarkStaffMail(context.WithoutCancel(ctx), m.ID, state, err.Error()); merr != nil {
			w.log().ErrorContext(ctx, "record staff mail failure", "mail", m.ID, "err", merr)
		}
		if permanent {
			return river.JobCancel(err)
		}
		return err
	}
	id, ok := int64(0), false
	if w.Channel != nil {
		id, ok = w.Channel()
	}
	var s channels.Sender
	if ok {
		s, ok = w.Senders.Sender(id)
	}
	if !ok {
		return fail(errors.New("no email channel to send staff mail from (configure an email channel with SMTP)"), false)
	}
	domain := w.Domain
	if domain == "" {
		domain = "wasl.invalid"
	}
	_, err = s.Send(ctx, message.Outbound{
		ChannelID: id, Channel: message.Email, To: message.Party{Kind: message.IdentityEmail, Value: m.To},
		Subject: m.Subject, Text: m.Text, HTML: m.HTML, MessageID: fmt.Sprintf("staff.%d@%s", m.ID, domain), Auto: true,
	})
	if err != nil {
		return fail(err, channels.IsPermanent(err))
	}
	if err := w.Store.MarkStaffMail(context.WithoutCancel(ctx), m.ID, store.MailSent, ""); err != nil {
		w.log().ErrorContext(ctx, "staff mail sent but its state could not be saved", "mail", m.ID, "err", err)
	}
	return nil
}

func (w *StaffMailWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}
