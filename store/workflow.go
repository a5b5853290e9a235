package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Ticket event kinds of the workflow.
const (
	// EventHandback: the department recorded the outcome and handed the
	// ticket back to the front desk with the reply for the customer.
	EventHandback = "handback"
	// EventSLA: a clock reached at risk or breached.
	EventSLA = "sla"
	// EventSurvey: the customer answered the satisfaction survey.
	EventSurvey = "survey"
	// EventLinked: a ticket opened as the follow-up of this one (or this
	// one of another).
	EventLinked = "linked"
	// EventSupply: the ticket was on a supply list sent to a department.
	EventSupply = "supply"
)

// Waiting reasons of a pending ticket.
const (
	WaitingOnCustomer = "customer" // the SLA clock stops
	WaitingOnSupply   = "supply"   // it does not
)

// lockTicket reads a ticket for change: on PostgreSQL the row stays locked
// to the end of the transaction, so a check made on what it read holds
// when the write lands. SQLite's writers are serialized already.
func (tx *Tx) lockTicket(ctx context.Context, id int64) (Ticket, error) {
	lock := ""
	if tx.s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.id = $1`+lock, id))
	if err != nil {
		return Ticket{}, notFound(err, fmt.Sprintf("ticket %d", id))
	}
	return t, nil
}

// TicketForUpdate reads a ticket and holds it (PostgreSQL: the row lock)
// for the rest of the transaction.
func (tx *Tx) TicketForUpdate(ctx context.Context, id int64) (Ticket, error) {
	return tx.lockTicket(ctx, id)
}

// MoveTicket moves a ticket to status to, once check accepts the move from
// the status it holds under the lock (the rules are package tickets'; the
// store cannot import it). A refused move writes nothing and returns
// check's error. It records a "status" event and returns the ticket as it
// was before the move.
func (tx *Tx) MoveTicket(ctx context.Context, id int64, to, actor, note string, at time.Time, check func(from string) error) (Ticket, error) {
	if !ValidTicketStatus(to) {
		return Ticket{}, fmt.Errorf("move ticket %d: unknown status %q", id, to)
	}
	if check == nil {
		return Ticket{}, fmt.Errorf("move ticket %d: no rule to check the move against", id)
	}
	t, err := tx.lockTicket(ctx, id)
	if err != nil {
		return Ticket{}, err
	}
	if err := check(t.Status); err != nil {
		return t, err
	}
	if at.IsZero() {
		at = now()
	}
	var closedAt any
	if to == TicketClosed {
		closedAt = tx.s.dbTime(at)
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET status = $1, updated_at = $2, closed_at = $3 WHERE id = $4`,
		to, tx.s.dbTime(at), closedAt, id); err != nil {
		return t, fmt.Errorf("move ticket %d: %w", id, err)
	}
	return t, tx.AddTicketEvent(ctx, &TicketEvent{
		TicketID: id, Kind: EventStatus, Actor: actor, FromStatus: t.Status, ToStatus: to, Note: note, CreatedAt: at,
	})
}

// TicketClock is what the SLA arithmetic writes back on a ticket.
type TicketClock struct {
	SLADueAt           *time.Time
	FirstResponseDueAt *time.Time
	PausedSeconds      int64
	PendingSince       *time.Time
	WaitingOn          string
}

// SetTicketClock writes a ticket's SLA clock fields.
func (tx *Tx) SetTicketClock(ctx context.Context, id int64, c TicketClock) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET sla_due_at = $1, first_response_due_at = $2, paused_seconds = $3,
		pending_since = $4, waiting_on = $5 WHERE id = $6`,
		tx.s.dbTimePtr(c.SLADueAt), tx.s.dbTimePtr(c.FirstResponseDueAt), c.PausedSeconds, tx.s.dbTimePtr(c.PendingSince), c.WaitingOn, id)
	return affectedOne(res, err, fmt.Sprintf("set clock of ticket %d", id))
}

// SetFirstResponse records the first answer by a person, if none is
// recorded yet; it reports whether this was the first.
func (tx *Tx) SetFirstResponse(ctx context.Context, ticketID int64, at time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET first_response_at = $1 WHERE id = $2 AND first_response_at IS NULL`,
		tx.s.dbTime(at), ticketID)
	if err != nil {
		return false, fmt.Errorf("first response of ticket %d: %w", ticketID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// Handback is what a department reports when it hands a ticket back.
type Handback struct {
	Outcome, Reason, Date string
	Department            string // the department that did the work
	Reply                 string // for the customer, sent by the front desk
}

// SetHandback records a department's outcome and reply on a ticket.
func (tx *Tx) SetHandback(ctx context.Context, ticketID int64, h Handback) error {
	if h.Outcome != OutcomeDone && h.Outcome != OutcomeNotDone {
		return fmt.Errorf("hand back ticket %d: outcome %q: want done or not_done", ticketID, h.Outcome)
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET outcome = $1, outcome_reason = $2, outcome_date = $3,
		resolved_department = $4, handback_reply = $5 WHERE id = $6`, h.Outcome, h.Reason, h.Date, h.Department, h.Reply, ticketID)
	return affectedOne(res, err, fmt.Sprintf("hand back ticket %d", ticketID))
}

// SetWorkedBy records who did a ticket's work (0 leaves it as it is).
func (tx *Tx) SetWorkedBy(ctx context.Context, ticketID, userID int64) error {
	if userID == 0 {
		return nil
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET worked_by = $1 WHERE id = $2`, userID, ticketID)
	return affectedOne(res, err, fmt.Sprintf("set worker of ticket %d", ticketID))
}

// ClearOutcome forgets how a ticket ended, when it is reopened.
func (tx *Tx) ClearOutcome(ctx context.Context, ticketID int64) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET outcome = '', outcome_reason = '', outcome_date = '', handback_reply = '' WHERE id = $1`, ticketID)
	return affectedOne(res, err, fmt.Sprintf("clear outcome of ticket %d", ticketID))
}

// LastMoveInto is the status a ticket was in before its latest move into
// status to ("" when it never moved there).
func (tx *Tx) LastMoveInto(ctx context.Context, ticketID int64, to string) (string, error) {
	var from string
	err := tx.tx.QueryRowContext(ctx, `SELECT from_status FROM ticket_events WHERE ticket_id = $1 AND kind = 'status' AND to_status = $2
		ORDER BY id DESC LIMIT 1`, ticketID, to).Scan(&from)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("last move of ticket %d into %s: %w", ticketID, to, err)
	}
	return from, nil
}

// DepartmentHead is the active head of a department; false when it has
// none.
func (s *Store) DepartmentHead(ctx context.Context, department string) (User, bool, error) {
	return departmentHead(ctx, s.db, department)
}

// DepartmentHead reads the department's head inside a transaction.
func (tx *Tx) DepartmentHead(ctx context.Context, department string) (User, bool, error) {
	return departmentHead(ctx, tx.tx, department)
}

func departmentHead(ctx context.Context, q queryer, department string) (User, bool, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT u.id FROM user_departments d JOIN users u ON u.id = d.user_id
		WHERE d.department = $1 AND d.head = TRUE AND u.active = TRUE`, department).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("head of %s: %w", department, err)
	}
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE u.id = $1`, id))
	if err != nil {
		return User{}, false, fmt.Errorf("head of %s: %w", department, err)
	}
	u.Departments, err = userDepartments(ctx, q, id)
	return u, err == nil, err
}

// SetDepartmentHead makes a user the head of one of their departments
// (head false: no longer). A department has at most one head: the former
// one steps down.
func (s *Store) SetDepartmentHead(ctx context.Context, userID int64, department string, head bool) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if head {
			return tx.SetDepartmentHead(ctx, department, userID)
		}
		res, err := tx.tx.ExecContext(ctx, `UPDATE user_departments SET head = FALSE WHERE user_id = $1 AND department = $2`, userID, department)
		return affectedOne(res, err, fmt.Sprintf("set head of %s (user %d is not in it?)", department, userID))
	})
}

// HeadOf lists the departments a user heads.
func (s *Store) HeadOf(ctx context.Context, userID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT department FROM user_departments WHERE user_id = $1 AND head = TRUE ORDER BY department`, userID)
	if err != nil {
		return nil, fmt.Errorf("departments headed by %d: %w", userID, err)
	}
	return collect(rows, func(r rowScanner) (string, error) {
		var d string
		return d, r.Scan(&d)
	}, "departments headed")
}

// RecordSLANotice marks that a ticket's clock reached state; it reports
// false when that was recorded already (by an earlier run or another
// replica), so each notice goes out once.
func (tx *Tx) RecordSLANotice(ctx context.Context, ticketID int64, clock, state string, at time.Time) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO sla_notices (ticket_id, clock, state, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT DO NOTHING`, ticketID, clock, state, tx.s.dbTime(at))
	if err != nil {
		return false, fmt.Errorf("record SLA notice for ticket %d: %w", ticketID, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SLANotices lists the states a ticket's clocks reached ("clock:state").
func (s *Store) SLANotices(ctx context.Context, ticketID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT clock || ':' || state FROM sla_notices WHERE ticket_id = $1 ORDER BY created_at, clock, state`, ticketID)
	if err != nil {
		return nil, fmt.Errorf("SLA notices of ticket %d: %w", ticketID, err)
	}
	return collect(rows, func(r rowScanner) (string, error) {
		var v string
		return v, r.Scan(&v)
	}, "SLA notices")
}

// ClockedTicket is a ticket the SLA check looks at, with who to tell.
type ClockedTicket struct {
	Ticket
	AssigneeID int64
}

// TicketsOnTheClock lists the tickets whose SLA clocks still run: not
// closed, not pending on the customer, with a target. The SLA check
// assesses each.
func (s *Store) TicketsOnTheClock(ctx context.Context, limitN int) ([]ClockedTicket, error) {
	if limitN <= 0 {
		limitN = 1000
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+ticketCols+`, COALESCE(c.assignee_id, 0) FROM tickets t
		LEFT JOIN conversations c ON c.id = t.conversation_id
		WHERE t.status <> 'closed' AND t.pending_since IS NULL AND (t.sla_target <> '' OR t.first_response_target <> '')
		ORDER BY t.id LIMIT $1`, limitN)
	if err != nil {
		return nil, fmt.Errorf("tickets on the clock: %w", err)
	}
	return collect(rows, func(r rowScanner) (ClockedTicket, error) {
		var c ClockedTicket
		err := r.Scan(append(ticketDest(&c.Ticket), &c.AssigneeID)...)
		return c, err
	}, "tickets on the clock")
}

// StaffMail is a mail to a member of staff (an SLA notice, a weekly
// report), sent through the notification channel by its own job. Key
// makes it once: a second mail with the same key is not stored.
type StaffMail struct {
	ID        int64      `json:"id"`
	Key       string     `json:"key"`
	To        string     `json:"to"`
	Subject   string     `json:"subject"`
	Text      string     `json:"text"`
	HTML      string     `json:"html,omitempty"`
	State     string     `json:"state"`
	Error     string     `json:"error,omitempty"`
	Attempts  int        `json:"attempts"`
	CreatedAt time.Time  `json:"created_at"`
	SentAt    *time.Time `json:"sent_at,omitempty"`
}

// Staff mail states.
const (
	MailQueued  = "queued"
	MailSending = "sending"
	MailSent    = "sent"
	MailFailed  = "failed"
)

const staffMailCols = `id, key, to_addr, subject, body_text, body_html, state, error, attempts, created_at, sent_at`

func scanStaffMail(r rowScanner) (StaffMail, error) {
	var m StaffMail
	err := r.Scan(&m.ID, &m.Key, &m.To, &m.Subject, &m.Text, &m.HTML, &m.State, &m.Error, &m.Attempts, timeCol{&m.CreatedAt}, nullTimeCol{&m.SentAt})
	return m, err
}

// QueueStaffMail stores m (queued) and sets m.ID; false when a mail with
// its key exists already, and then nothing is written. The caller inserts
// the send job in the same transaction.
func (tx *Tx) QueueStaffMail(ctx context.Context, m *StaffMail) (bool, error) {
	if m.Key == "" || m.To == "" {
		return false, fmt.Errorf("queue staff mail: key and recipient are required (%q, %q)", m.Key, m.To)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	m.State = MailQueued
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO staff_mails (key, to_addr, subject, body_text, body_html, state, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (key) DO NOTHING RETURNING id`,
		m.Key, m.To, m.Subject, m.Text, m.HTML, m.State, tx.s.dbTime(m.CreatedAt)).Scan(&m.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("queue staff mail %s: %w", m.Key, err)
	}
	return true, nil
}

// ClaimStaffMail takes a queued (or interrupted) mail for sending; false
// when it was sent or failed for good already.
func (s *Store) ClaimStaffMail(ctx context.Context, id int64) (StaffMail, bool, error) {
	var m StaffMail
	var claimed bool
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE staff_mails SET state = 'sending', attempts = attempts + 1
			WHERE id = $1 AND state IN ('queued', 'sending')`, id)
		if err != nil {
			return fmt.Errorf("claim staff mail %d: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		claimed = n == 1
		m, err = scanStaffMail(tx.tx.QueryRowContext(ctx, `SELECT `+staffMailCols+` FROM staff_mails WHERE id = $1`, id))
		if err != nil {
			// notFound wraps whatever it is given, nil too.
			return notFound(err, fmt.Sprintf("staff mail %d", id))
		}
		return nil
	})
	if err != nil {
		return StaffMail{}, false, err
	}
	return m, claimed, nil
}

// MarkStaffMail records how a send ended: sent, failed, or queued again
// for a retry, with the error.
func (s *Store) MarkStaffMail(ctx context.Context, id int64, state, errText string) error {
	var sent any
	if state == MailSent {
		sent = s.dbTime(now())
	}
	res, err := s.db.ExecContext(ctx, `UPDATE staff_mails SET state = $1, error = $2, sent_at = COALESCE($3, sent_at) WHERE id = $4`,
		state, errText, sent, id)
	return affectedOne(res, err, fmt.Sprintf("mark staff mail %d", id))
}

// StaffMails lists staff mails, newest first, optionally those whose key
// starts with prefix.
func (s *Store) StaffMails(ctx context.Context, prefix string) ([]StaffMail, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+staffMailCols+` FROM staff_mails WHERE substr(key, 1, length($1)) = $1 ORDER BY id DESC LIMIT 500`, prefix)
	if err != nil {
		return nil, fmt.Errorf("staff mails: %w", err)
	}
	return collect(rows, scanStaffMail, "staff mails")
}

// RecentlyClosedTicket is the contact's newest ticket on the channel closed
// at or after since, the one an SMS or WhatsApp reply answers when the
// conversation has no open ticket.
func (tx *Tx) RecentlyClosedTicket(ctx context.Context, contactID, channelID int64, since time.Time) (Ticket, bool, error) {
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t JOIN conversations c ON c.id = t.conversation_id
		WHERE c.contact_id = $1 AND c.channel_id = $2 AND t.status = 'closed' AND t.closed_at >= $3
		ORDER BY t.closed_at DESC, t.id DESC LIMIT 1`, contactID, channelID, tx.s.dbTime(since)))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("recently closed ticket of contact %d: %w", contactID, err)
	}
	return t, true, nil
}

// UserEmail is a user's address and language, for a notice to them.
func (tx *Tx) UserEmail(ctx context.Context, id int64) (email, language string, active bool, err error) {
	err = tx.tx.QueryRowContext(ctx, `SELECT email, language, active FROM users WHERE id = $1`, id).Scan(&email, &language, &active)
	if err != nil {
		return "", "", false, notFound(err, fmt.Sprintf("user %d", id))
	}
	return email, language, active, nil
}

// ConversationAssignee is who a conversation is assigned to (0: nobody).
func (tx *Tx) ConversationAssignee(ctx context.Context, id int64) (int64, error) {
	var a sql.NullInt64
	if err := tx.tx.QueryRowContext(ctx, `SELECT assignee_id FROM conversations WHERE id = $1`, id).Scan(&a); err != nil {
		return 0, notFound(err, fmt.Sprintf("conversation %d", id))
	}
	return a.Int64, nil
}

// ReasonUnavailable is the reason of a ticket closed not done because the
// item is not in stock (the catalogue's "لعدم توفر المستلزم"): such tickets
// are listed for their department's head and reopened when supply arrives.
// Staff may add words after it ("item unavailable: projector lamps").
const ReasonUnavailable = "item unavailable"

// SupplyShortages lists the tickets closed not done for want of the item,
// of department ("" for every department), oldest first.
func (s *Store) SupplyShortages(ctx context.Context, department string) ([]Ticket, error) {
	args := []any{OutcomeNotDone, ReasonUnavailable, ReasonUnavailable + ":%"}
	where := ""
	if department != "" {
		args = append(args, department)
		where = ` AND t.department = $4`
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+ticketCols+` FROM tickets t
		WHERE t.status = 'closed' AND t.outcome = $1 AND (t.outcome_reason = $2 OR t.outcome_reason LIKE $3)`+where+`
		ORDER BY t.department, t.closed_at, t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("supply shortages: %w", err)
	}
	return collect(rows, scanTicket, "supply shortages")
}
