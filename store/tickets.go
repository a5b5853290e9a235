package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

const ticketCols = `t.id, t.ref, t.prefix, t.year, t.number, t.conversation_id, t.contact_id,
	t.topic, t.department, t.status, t.subject, t.sla_due_at, t.created_at, t.updated_at, t.closed_at,
	t.sla_target, t.first_response_target, t.first_response_due_at, t.first_response_at, t.paused_seconds,
	t.pending_since, t.waiting_on, t.outcome, t.outcome_reason, t.outcome_date, t.resolved_department,
	t.handback_reply, t.linked_ticket_id, t.worked_by`

func scanTicket(r rowScanner) (Ticket, error) {
	var t Ticket
	err := r.Scan(ticketDest(&t)...)
	return t, err
}

// ticketDest are the scan destinations of ticketCols, for queries that
// read more columns after them.
func ticketDest(t *Ticket) []any {
	return []any{&t.ID, &t.Ref, &t.Prefix, &t.Year, &t.Number, idCol{&t.ConversationID}, idCol{&t.ContactID},
		&t.Topic, &t.Department, &t.Status, &t.Subject, nullTimeCol{&t.SLADueAt},
		timeCol{&t.CreatedAt}, timeCol{&t.UpdatedAt}, nullTimeCol{&t.ClosedAt},
		&t.SLATarget, &t.FirstResponseTarget, nullTimeCol{&t.FirstResponseDueAt}, nullTimeCol{&t.FirstResponseAt}, &t.PausedSeconds,
		nullTimeCol{&t.PendingSince}, &t.WaitingOn, &t.Outcome, &t.OutcomeReason, &t.OutcomeDate, &t.ResolvedDepartment,
		&t.HandbackReply, idCol{&t.LinkedTicketID}, idCol{&t.WorkedBy}}
}

const ticketEventCols = `e.id, e.ticket_id, e.kind, e.actor, e.from_status, e.to_status, e.note, e.created_at`

func scanTicketEvent(r rowScanner) (TicketEvent, error) {
	var e TicketEvent
	err := r.Scan(&e.ID, &e.TicketID, &e.Kind, &e.Actor, &e.FromStatus, &e.ToStatus, &e.Note, timeCol{&e.CreatedAt})
	return e, err
}

// NextTicketNumber takes the next number of the (prefix, year) series. The
// counter row is updated in the caller's transaction: a rollback returns the
// number, so the series has no gaps, and on PostgreSQL concurrent callers
// queue on the row lock until the holder commits.
func (tx *Tx) NextTicketNumber(ctx context.Context, prefix string, year int) (int64, error) {
	return tx.TakeTicketNumbers(ctx, prefix, year, 1)
}

// TakeTicketNumbers takes the next n numbers of the (prefix, year) series
// at once and says the first of them. As NextTicketNumber, it holds the
// counter row until the commit: a transaction that opens many tickets takes
// their numbers as its last write (the pipeline: CreatePendingTicket, then
// this and NumberTickets).
func (tx *Tx) TakeTicketNumbers(ctx context.Context, prefix string, year, n int) (int64, error) {
	if prefix == "" || year <= 0 || n <= 0 {
		return 0, fmt.Errorf("take ticket numbers: bad series %q/%d or count %d", prefix, year, n)
	}
	var last int64
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO ticket_counters (prefix, year, last_number) VALUES ($1, $2, $3)
		ON CONFLICT (prefix, year) DO UPDATE SET last_number = ticket_counters.last_number + $3
		RETURNING last_number`, prefix, year, n).Scan(&last)
	if err != nil {
		return 0, fmt.Errorf("take %d ticket numbers %s/%d: %w", n, prefix, year, err)
	}
	return last - int64(n) + 1, nil
}

// PeekTicketNumber is the number NextTicketNumber would give now, read
// without touching the counter row: the pipeline renders a reply carrying
// the reference before it takes the number, so the row stays locked only
// from the increment to the commit. Another transaction may take the number
// first (PostgreSQL; SQLite writers are serialized); the caller compares.
func (tx *Tx) PeekTicketNumber(ctx context.Context, prefix string, year int) (int64, error) {
	var last int64
	err := tx.tx.QueryRowContext(ctx, `SELECT last_number FROM ticket_counters WHERE prefix = $1 AND year = $2`, prefix, year).Scan(&last)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("peek ticket number %s/%d: %w", prefix, year, err)
	}
	return last + 1, nil
}

// TicketRef formats a ticket reference: EDU-2026-000123.
func TicketRef(prefix string, year int, number int64) string {
	return fmt.Sprintf("%s-%d-%06d", prefix, year, number)
}

// CreateTicket stores t, sets t.ID and records a "created" event. Ref
// defaults to TicketRef(Prefix, Year, Number), Status to open, the times to
// now. A ref already taken is ErrDuplicate.
func (tx *Tx) CreateTicket(ctx context.Context, t *Ticket) error {
	if t.Prefix == "" || t.Year <= 0 || t.Number <= 0 {
		return fmt.Errorf("create ticket: prefix, year and number are required (got %q/%d/%d)", t.Prefix, t.Year, t.Number)
	}
	if t.Ref == "" {
		t.Ref = TicketRef(t.Prefix, t.Year, t.Number)
	}
	return tx.insertTicket(ctx, t)
}

// CreatePendingTicket is CreateTicket for a ticket whose number the same
// transaction gives it later, with NumberTickets: until then it is stored
// under a placeholder, -key, with a reference that says so. key must be
// unique among the pending tickets of every transaction (the id of the
// message that opens it), so that two transactions' placeholders never meet
// on the unique (prefix, year, number): the counter row is not locked yet.
func (tx *Tx) CreatePendingTicket(ctx context.Context, t *Ticket, key int64) error {
	if t.Prefix == "" || t.Year <= 0 || key <= 0 {
		return fmt.Errorf("create pending ticket: prefix, year and key are required (got %q/%d/%d)", t.Prefix, t.Year, key)
	}
	t.Number, t.Ref = -key, fmt.Sprintf("%s-%d-pending-%d", t.Prefix, t.Year, key)
	return tx.insertTicket(ctx, t)
}

// TicketNumber is the number and reference NumberTickets gives a pending
// ticket.
type TicketNumber struct {
	ID     int64
	Number int64
	Ref    string
}

// NumberTickets gives pending tickets their numbers (taken with
// TakeTicketNumbers in the same transaction) and references.
func (tx *Tx) NumberTickets(ctx context.Context, ns []TicketNumber) error {
	if len(ns) == 0 {
		return nil
	}
	var n int64
	if tx.s.dialect == Postgres {
		ids, numbers, refs := make([]int64, len(ns)), make([]int64, len(ns)), make([]string, len(ns))
		for i, t := range ns {
			ids[i], numbers[i], refs[i] = t.ID, t.Number, t.Ref
		}
		var err error
		n, err = affected(tx.tx.ExecContext(ctx, `UPDATE tickets t SET number = u.number, ref = u.ref
			FROM unnest($1::bigint[], $2::bigint[], $3::text[]) AS u(id, number, ref)
			WHERE t.id = u.id AND t.number < 0`, tx.s.planEach(ids, numbers, refs)...))
		if err != nil {
			return fmt.Errorf("number %d tickets: %w", len(ns), err)
		}
	} else {
		for _, t := range ns {
			k, err := affected(tx.tx.ExecContext(ctx, `UPDATE tickets SET number = $1, ref = $2 WHERE id = $3 AND number < 0`, t.Number, t.Ref, t.ID))
			if err != nil {
				return fmt.Errorf("number ticket %s: %w", t.Ref, err)
			}
			n += k
		}
	}
	if n != int64(len(ns)) {
		return fmt.Errorf("number %d tickets: %d were pending", len(ns), n)
	}
	return nil
}

func (tx *Tx) insertTicket(ctx context.Context, t *Ticket) error {
	if t.Status == "" {
		t.Status = TicketOpen
	}
	if !ValidTicketStatus(t.Status) {
		return fmt.Errorf("create ticket: unknown status %q", t.Status)
	}
	if t.CreatedAt.IsZero() {
		t.CreatedAt = now()
	}
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = t.CreatedAt
	}
	if t.Status == TicketClosed && t.ClosedAt == nil {
		at := t.UpdatedAt
		t.ClosedAt = &at
	}
	s := tx.s
	q := `INSERT INTO tickets (ref, prefix, year, number, conversation_id, contact_id,
		topic, department, status, subject, sla_due_at, created_at, updated_at, closed_at,
		sla_target, first_response_target, first_response_due_at, linked_ticket_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT DO NOTHING RETURNING id`
	if s.dialect == Postgres {
		// Its "created" event in the same statement: one round trip a
		// ticket (SQLite has no INSERT in WITH, and no round trips).
		q = `WITH t AS (` + q + `), e AS (INSERT INTO ticket_events (ticket_id, kind, actor, from_status, to_status, note, created_at)
			SELECT id, '` + EventCreated + `', 'system', '', $9, '', $12 FROM t) SELECT id FROM t`
	}
	err := tx.tx.QueryRowContext(ctx, q,
		t.Ref, t.Prefix, t.Year, t.Number, nullID(t.ConversationID), nullID(t.ContactID),
		t.Topic, t.Department, t.Status, t.Subject, s.dbTimePtr(t.SLADueAt),
		s.dbTime(t.CreatedAt), s.dbTime(t.UpdatedAt), s.dbTimePtr(t.ClosedAt),
		t.SLATarget, t.FirstResponseTarget, s.dbTimePtr(t.FirstResponseDueAt), nullID(t.LinkedTicketID)).Scan(&t.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("create ticket %s: %w", t.Ref, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create ticket %s: %w", t.Ref, err)
	}
	if s.dialect == Postgres {
		return nil
	}
	return tx.AddTicketEvent(ctx, &TicketEvent{
		TicketID: t.ID, Kind: EventCreated, Actor: "system", ToStatus: t.Status, CreatedAt: t.CreatedAt,
	})
}

// TicketByRef finds a ticket by its reference.
func (tx *Tx) TicketByRef(ctx context.Context, ref string) (Ticket, bool, error) {
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.ref = $1`, ref))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket by ref %q: %w", ref, err)
	}
	return t, true, nil
}

// TicketForConversation finds the conversation's newest ticket that is not
// closed.
func (tx *Tx) TicketForConversation(ctx context.Context, conversationID int64) (Ticket, bool, error) {
	t, err := scanTicket(tx.tx.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t
		WHERE t.conversation_id = $1 AND t.status <> 'closed' ORDER BY t.id DESC LIMIT 1`, conversationID))
	if errors.Is(err, sql.ErrNoRows) {
		return Ticket{}, false, nil
	}
	if err != nil {
		return Ticket{}, false, fmt.Errorf("ticket for conversation %d: %w", conversationID, err)
	}
	return t, true, nil
}

// UpdateTicketStatus moves a ticket to status to and records a "status"
// event with the status it came from. Closing sets closed_at; any other
// status clears it.
func (tx *Tx) UpdateTicketStatus(ctx context.Context, ticketID int64, to string, actor, note string) error {
	if !ValidTicketStatus(to) {
		return fmt.Errorf("update ticket %d: unknown status %q", ticketID, to)
	}
	// FOR UPDATE: two concurrent changes must record a true from→to chain.
	// SQLite has no such clause and needs none: its writers are serialized.
	lock := ""
	if tx.s.dialect == Postgres {
		lock = " FOR UPDATE"
	}
	var from string
	err := tx.tx.QueryRowContext(ctx, `SELECT status FROM tickets WHERE id = $1`+lock, ticketID).Scan(&from)
	if err != nil {
		return notFound(err, fmt.Sprintf("update ticket %d", ticketID))
	}
	at := now()
	var closedAt any
	if to == TicketClosed {
		closedAt = tx.s.dbTime(at)
	}
	if _, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET status = $1, updated_at = $2, closed_at = $3 WHERE id = $4`,
		to, tx.s.dbTime(at), closedAt, ticketID); err != nil {
		return fmt.Errorf("update ticket %d: %w", ticketID, err)
	}
	return tx.AddTicketEvent(ctx, &TicketEvent{
		TicketID: ticketID, Kind: EventStatus, Actor: actor, FromStatus: from, ToStatus: to, Note: note, CreatedAt: at,
	})
}

// SetTicketDepartment moves a ticket to another department. It records no
// event: the caller writes the "transfer" event it wants.
func (tx *Tx) SetTicketDepartment(ctx context.Context, ticketID int64, department string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE tickets SET department = $1, updated_at = $2 WHERE id = $3`,
		department, tx.s.dbTime(now()), ticketID)
	return affectedOne(res, err, fmt.Sprintf("set department of ticket %d", ticketID))
}

// AddTicketEvent appends e to its ticket's history and sets e.ID.
func (tx *Tx) AddTicketEvent(ctx context.Context, e *TicketEvent) error {
	switch e.Kind {
	case EventCreated, EventStatus, EventNote, EventTransfer, EventMessage, EventAssign, EventReply, EventSnooze,
		EventHandback, EventSLA, EventSurvey, EventLinked, EventSupply:
	default:
		return fmt.Errorf("add ticket event: unknown kind %q", e.Kind)
	}
	if e.TicketID == 0 {
		return errors.New("add ticket event: ticket id is required")
	}
	if e.CreatedAt.IsZero() {
		e.CreatedAt = now()
	}
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO ticket_events (ticket_id, kind, actor, from_status, to_status, note, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
		e.TicketID, e.Kind, e.Actor, e.FromStatus, e.ToStatus, e.Note, tx.s.dbTime(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("add ticket event: %w", err)
	}
	return nil
}
