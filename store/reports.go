package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// ReportTicket is a ticket as the reports read it.
type ReportTicket struct {
	Ticket
	// AssigneeID is the conversation's assignee now.
	AssigneeID int64
	// Breached lists the clocks that breached ("first_response",
	// "resolution") and when, for the report's week.
	Breaches []SLABreach
}

// SLABreach is a clock that ran out.
type SLABreach struct {
	Clock string
	At    time.Time
}

// ReportTickets reads what a report over [from, to) needs: every ticket
// not closed, and those closed in the period, with the SLA breaches
// recorded in it. department "" is every department.
func (s *Store) ReportTickets(ctx context.Context, from, to time.Time, department string) ([]ReportTicket, error) {
	var out []ReportTicket
	err := s.readTx(ctx, func(q *sql.Tx) error {
		args := []any{s.dbTime(from), s.dbTime(to)}
		where := `(t.status <> 'closed' OR (t.closed_at >= $1 AND t.closed_at < $2))`
		if department != "" {
			args = append(args, department)
			where += ` AND t.department = $3`
		}
		rows, err := q.QueryContext(ctx, `SELECT `+ticketCols+`, COALESCE(c.assignee_id, 0) FROM tickets t
			LEFT JOIN conversations c ON c.id = t.conversation_id WHERE `+where+` ORDER BY t.id`, args...)
		if err != nil {
			return fmt.Errorf("report tickets: %w", err)
		}
		out, err = collect(rows, func(r rowScanner) (ReportTicket, error) {
			var rt ReportTicket
			err := r.Scan(append(ticketDest(&rt.Ticket), &rt.AssigneeID)...)
			return rt, err
		}, "report tickets")
		if err != nil {
			return err
		}
		idx := make(map[int64]int, len(out))
		for i, t := range out {
			idx[t.ID] = i
		}
		rows, err = q.QueryContext(ctx, `SELECT n.ticket_id, n.clock, n.created_at FROM sla_notices n
			WHERE n.state = 'breached' AND n.created_at >= $1 AND n.created_at < $2 ORDER BY n.created_at`, s.dbTime(from), s.dbTime(to))
		if err != nil {
			return fmt.Errorf("report breaches: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var b SLABreach
			if err := rows.Scan(&id, &b.Clock, timeCol{&b.At}); err != nil {
				return fmt.Errorf("report breaches: %w", err)
			}
			if i, ok := idx[id]; ok {
				out[i].Breaches = append(out[i].Breaches, b)
			}
		}
		return rows.Err()
	})
	return out, err
}

// FirstHumanReplies maps each of the tickets to the time of the first
// reply by a person on its conversation after it opened (staff replies,
// not automatic ones).
func (s *Store) FirstHumanReplies(ctx context.Context, ticketIDs []int64) (map[int64]time.Time, error) {
	out := map[int64]time.Time{}
	if len(ticketIDs) == 0 {
		return out, nil
	}
	args := make([]any, len(ticketIDs))
	for i, id := range ticketIDs {
		args[i] = id
	}
	rows, err := s.db.QueryContext(ctx, `SELECT t.id, min(o.created_at) FROM tickets t
		JOIN outbound_messages o ON o.conversation_id = t.conversation_id AND o.auto = FALSE AND o.created_at >= t.created_at
		WHERE t.id IN (`+placeholders(1, len(args))+`) GROUP BY t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("first human replies: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var at time.Time
		var raw any
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("first human replies: %w", err)
		}
		if err := (timeCol{&at}).Scan(raw); err != nil {
			return nil, err
		}
		out[id] = at
	}
	return out, rows.Err()
}

// ChannelMessage is one inbound message as the channel report reads it.
type ChannelMessage struct {
	ID             int64
	ConversationID int64
	Channel        message.Kind
	ChannelName    string
	Scope, Topic   string
	At             time.Time
	AutoReplied    bool // an automatic reply answered it
	// FirstHumanReply is the conversation's first staff reply after the
	// message, when this is the conversation's first message; zero if none.
	FirstHumanReply time.Time
	FirstOfConv     bool
}

// ChannelMessages reads the inbound messages of [from, to) for the
// channel report, quarantined ones left out.
func (s *Store) ChannelMessages(ctx context.Context, from, to time.Time) ([]ChannelMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT m.id, COALESCE(m.conversation_id, 0), ch.kind, ch.name, m.scope, m.topic, m.created_at,
		EXISTS (SELECT 1 FROM outbound_messages o WHERE o.in_reply_to_message_id = m.id AND o.auto = TRUE),
		NOT EXISTS (SELECT 1 FROM messages p WHERE p.conversation_id = m.conversation_id AND p.id < m.id),
		(SELECT min(o.created_at) FROM outbound_messages o WHERE o.conversation_id = m.conversation_id AND o.auto = FALSE AND o.created_at >= m.created_at)
		FROM messages m JOIN channels ch ON ch.id = m.channel_id
		WHERE m.quarantined = FALSE AND m.created_at >= $1 AND m.created_at < $2 ORDER BY m.created_at, m.id`, s.dbTime(from), s.dbTime(to))
	if err != nil {
		return nil, fmt.Errorf("channel messages: %w", err)
	}
	return collect(rows, func(r rowScanner) (ChannelMessage, error) {
		var m ChannelMessage
		var first any
		if err := r.Scan(&m.ID, &m.ConversationID, &m.Channel, &m.ChannelName, &m.Scope, &m.Topic, timeCol{&m.At}, &m.AutoReplied, &m.FirstOfConv, &first); err != nil {
			return m, err
		}
		return m, (timeCol{&m.FirstHumanReply}).Scan(first)
	}, "channel messages")
}

// OutboundCounts counts the replies created in [from, to) per channel
// kind, automatic and by staff.
func (s *Store) OutboundCounts(ctx context.Context, from, to time.Time) (map[message.Kind][2]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ch.kind, o.auto, count(*) FROM outbound_messages o JOIN channels ch ON ch.id = o.channel_id
		WHERE o.created_at >= $1 AND o.created_at < $2 GROUP BY ch.kind, o.auto`, s.dbTime(from), s.dbTime(to))
	if err != nil {
		return nil, fmt.Errorf("outbound counts: %w", err)
	}
	defer rows.Close()
	out := map[message.Kind][2]int{}
	for rows.Next() {
		var k message.Kind
		var auto bool
		var n int
		if err := rows.Scan(&k, &auto, &n); err != nil {
			return nil, fmt.Errorf("outbound counts: %w", err)
		}
		c := out[k]
		if auto {
			c[0] += n
		} else {
			c[1] += n
		}
		out[k] = c
	}
	return out, rows.Err()
}

// WeeklyReportRow is one department's report for one week, once taken.
type WeeklyReportRow struct {
	Department  string
	WeekStart   string // YYYY-MM-DD
	StaffMailID int64
	Recipient   string
	Numbers     string // JSON
	CreatedAt   time.Time
}

// TakeWeeklyReport claims the (department, week) report in tx: false when
// another run or replica took it already, and then nothing is written.
// The caller queues the report's mail in the same transaction and sets
// its id with SetWeeklyReportMail.
func (tx *Tx) TakeWeeklyReport(ctx context.Context, r WeeklyReportRow) (bool, error) {
	if r.CreatedAt.IsZero() {
		r.CreatedAt = now()
	}
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO weekly_reports (department, week_start, recipient, numbers, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`, r.Department, r.WeekStart, r.Recipient, r.Numbers, tx.s.dbTime(r.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("take weekly report %s %s: %w", r.Department, r.WeekStart, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// SetWeeklyReportMail links a taken report to its mail.
func (tx *Tx) SetWeeklyReportMail(ctx context.Context, department, weekStart string, mailID int64) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE weekly_reports SET staff_mail_id = $1 WHERE department = $2 AND week_start = $3`, mailID, department, weekStart)
	return affectedOne(res, err, fmt.Sprintf("weekly report %s %s", department, weekStart))
}

// WeeklyReports lists the reports taken for a week.
func (s *Store) WeeklyReports(ctx context.Context, weekStart string) ([]WeeklyReportRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT department, week_start, COALESCE(staff_mail_id, 0), recipient, numbers, created_at
		FROM weekly_reports WHERE week_start = $1 ORDER BY department`, weekStart)
	if err != nil {
		return nil, fmt.Errorf("weekly reports: %w", err)
	}
	return collect(rows, func(r rowScanner) (WeeklyReportRow, error) {
		var w WeeklyReportRow
		err := r.Scan(&w.Department, &w.WeekStart, &w.StaffMailID, &w.Recipient, &w.Numbers, timeCol{&w.CreatedAt})
		return w, err
	}, "weekly reports")
}

// UserNames maps user ids to names, for the reports' per-agent lines.
func (s *Store) UserNames(ctx context.Context) (map[int64]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name FROM users`)
	if err != nil {
		return nil, fmt.Errorf("user names: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var n string
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("user names: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}
