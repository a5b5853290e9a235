package email

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
)

// MailboxStatus is where one mailbox's sync stands, for the operator page.
type MailboxStatus struct {
	Mailbox   string    `json:"mailbox"`
	Connected bool      `json:"connected"`
	Idle      bool      `json:"idle"`                // IDLE; false: polling
	LastSync  time.Time `json:"last_sync,omitzero"`  // the last sync that completed
	Fetched   int64     `json:"fetched"`             // messages ingested since the source started
	SyncDone  int       `json:"sync_done,omitempty"` // progress of a sync in course (a backfill): SyncDone of SyncTotal
	SyncTotal int       `json:"sync_total,omitempty"`
	Error     string    `json:"error,omitempty"` // why the last session ended; cleared by the next good sync
	ErrorAt   time.Time `json:"error_at,omitzero"`
}

// imapStatus keeps every mailbox's status; the sync updates it.
type imapStatus struct {
	mu sync.Mutex
	mb map[string]*MailboxStatus
}

func (st *imapStatus) update(mailbox string, f func(m *MailboxStatus)) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.mb == nil {
		st.mb = map[string]*MailboxStatus{}
	}
	m := st.mb[mailbox]
	if m == nil {
		m = &MailboxStatus{Mailbox: mailbox}
		st.mb[mailbox] = m
	}
	f(m)
}

// Status reports each mailbox's sync, in the configured order.
func (s *IMAPSource) Status() []MailboxStatus {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	out := make([]MailboxStatus, 0, len(s.cfg.Mailboxes))
	for _, name := range s.cfg.Mailboxes {
		if m := s.status.mb[name]; m != nil {
			out = append(out, *m)
		} else {
			out = append(out, MailboxStatus{Mailbox: name})
		}
	}
	return out
}

func (s *IMAPSource) sessionFailed(mailbox string, err error) {
	s.status.update(mailbox, func(m *MailboxStatus) {
		m.Connected, m.SyncDone, m.SyncTotal = false, 0, 0
		m.Error, m.ErrorAt = clipText(err.Error(), maxErrorText), s.now()
	})
}

func (s *IMAPSource) synced(mailbox string, idle bool) {
	s.status.update(mailbox, func(m *MailboxStatus) {
		m.Connected, m.Idle, m.LastSync = true, idle, s.now()
		m.SyncDone, m.SyncTotal, m.Error, m.ErrorAt = 0, 0, "", time.Time{}
	})
}

func (s *IMAPSource) syncProgress(mailbox string, done, total int) {
	s.status.update(mailbox, func(m *MailboxStatus) { m.SyncDone, m.SyncTotal = done, total })
}

func (s *IMAPSource) ingested(mailbox string) {
	s.status.update(mailbox, func(m *MailboxStatus) { m.Fetched++; m.SyncDone++ })
}

// Check logs in and opens every mailbox read-only, then logs out: what
// "test connection" does. Nothing is fetched or marked. The error carries
// the server's own answer.
func (s *IMAPSource) Check(ctx context.Context) error {
	sess, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer sess.close()
	var errs []error
	for _, mb := range s.cfg.Mailboxes {
		if _, err := sess.c.Select(mb, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			errs = append(errs, fmt.Errorf("examine %q: %w", mb, ctxErr(ctx, err)))
		}
	}
	return errors.Join(errs...)
}
