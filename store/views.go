package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// readTx runs fn in a read-only transaction, so a page assembled from
// several queries comes from one snapshot. On SQLite a read-only
// transaction is a deferred BEGIN and takes no write lock.
func (s *Store) readTx(ctx context.Context, fn func(q *sql.Tx) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if s.dialect == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to lose
	return fn(tx)
}

// Contact reads a contact and its identities.
func (s *Store) Contact(ctx context.Context, id int64) (Contact, error) {
	var c Contact
	err := s.readTx(ctx, func(q *sql.Tx) error {
		var err error
		c, err = contactByID(ctx, q, id)
		return err
	})
	return c, err
}

func contactByID(ctx context.Context, q queryer, id int64) (Contact, error) {
	var c Contact
	err := q.QueryRowContext(ctx, `SELECT id, display_name, language, auto_reply_muted_until, created_at FROM contacts WHERE id = $1`, id).
		Scan(&c.ID, &c.DisplayName, &c.Language, nullTimeCol{&c.AutoReplyMutedUntil}, timeCol{&c.CreatedAt})
	if err != nil {
		return Contact{}, notFound(err, fmt.Sprintf("contact %d", id))
	}
	c.Identities, err = contactIdentities(ctx, q, id)
	return c, err
}

// ListConversations lists conversations, most recent activity first.
func (s *Store) ListConversations(ctx context.Context, f ConversationFilter) ([]ConversationSummary, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where = append(where, "c.status = "+arg(f.Status))
	}
	if f.ChannelID != 0 {
		where = append(where, "c.channel_id = "+arg(f.ChannelID))
	}
	if f.BeforeID != 0 {
		// Keyset paging on (last_message_at, id), the sort order.
		b := arg(f.BeforeID)
		at := `(SELECT last_message_at FROM conversations WHERE id = ` + b + `)`
		where = append(where, `(c.last_message_at < `+at+` OR (c.last_message_at = `+at+` AND c.id < `+b+`))`)
	}
	q := `SELECT ` + conversationCols + `,
		ct.display_name, ch.name, ch.kind,
		COALESCE((SELECT substr(m.body_text, 1, 200) FROM messages m WHERE m.conversation_id = c.id ORDER BY m.id DESC LIMIT 1), ''),
		(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id),
		COALESCE((SELECT t.ref FROM tickets t WHERE t.conversation_id = c.id ORDER BY t.id DESC LIMIT 1), ''),
		COALESCE((SELECT t.status FROM tickets t WHERE t.conversation_id = c.id ORDER BY t.id DESC LIMIT 1), '')
		FROM conversations c
		JOIN contacts ct ON ct.id = c.contact_id
		JOIN channels ch ON ch.id = c.channel_id`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY c.last_message_at DESC, c.id DESC LIMIT " + arg(limit(f.Limit))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list conversations: %w", err)
	}
	return collect(rows, func(r rowScanner) (ConversationSummary, error) {
		var c ConversationSummary
		err := r.Scan(append(conversationDest(&c.Conversation),
			&c.ContactName, &c.ChannelName, &c.ChannelKind, &c.LastText, &c.Messages, &c.TicketRef, &c.TicketStatus)...)
		return c, err
	}, "list conversations")
}

const conversationCols = `c.id, c.contact_id, c.channel_id, c.subject, c.status, c.cites_foreign_ticket,
	c.topic, c.scope, c.language, c.department, c.last_message_at, c.created_at`

// conversationDest is where a row of conversationCols goes.
func conversationDest(c *Conversation) []any {
	return []any{&c.ID, &c.ContactID, &c.ChannelID, &c.Subject, &c.Status, &c.CitesForeignTicket,
		&c.Topic, &c.Scope, &c.Language, &c.Department, timeCol{&c.LastMessageAt}, timeCol{&c.CreatedAt}}
}

func scanConversation(r rowScanner) (Conversation, error) {
	var c Conversation
	err := r.Scan(conversationDest(&c)...)
	return c, err
}

// Conversation reads a conversation with its contact, channel, all its
// messages (with attachments), replies and tickets, oldest first. The API
// reads pages instead (ConversationPage).
func (s *Store) Conversation(ctx context.Context, id int64) (ConversationDetail, error) {
	return s.conversation(ctx, id, MessagePage{}, false)
}

// ConversationPage is Conversation with one page of messages (see
// MessagePage), and of the replies only those written in the time the page
// covers: from its oldest message (when older pages exist) to the message
// after it (when newer ones exist). Paging back through a conversation
// shows each message and each reply once.
func (s *Store) ConversationPage(ctx context.Context, id int64, p MessagePage) (ConversationDetail, error) {
	return s.conversation(ctx, id, p, true)
}

func (s *Store) conversation(ctx context.Context, id int64, p MessagePage, paged bool) (ConversationDetail, error) {
	var d ConversationDetail
	err := s.readTx(ctx, func(q *sql.Tx) error {
		var err error
		d.Conversation, err = scanConversation(q.QueryRowContext(ctx, `SELECT `+conversationCols+` FROM conversations c WHERE c.id = $1`, id))
		if err != nil {
			return notFound(err, fmt.Sprintf("conversation %d", id))
		}
		if d.Contact, err = contactByID(ctx, q, d.Conversation.ContactID); err != nil {
			return err
		}
		d.Channel, err = scanChannel(q.QueryRowContext(ctx, `SELECT `+channelCols+` FROM channels ch WHERE ch.id = $1`, d.Conversation.ChannelID))
		if err != nil {
			return notFound(err, fmt.Sprintf("channel %d", d.Conversation.ChannelID))
		}
		d.Channel.Secret = nil // a view never needs it

		// The page's messages (or all of them), and the time span its
		// replies fall in.
		msgWhere, msgArgs := `m.conversation_id = $1`, []any{id}
		var from, until time.Time // created_at bounds of the replies; zero is open
		if paged {
			var ids []any
			if ids, from, until, d.NextBefore, err = s.messagePage(ctx, q, id, p); err != nil {
				return err
			}
			msgWhere, msgArgs = `m.id IN (`+placeholders(1, len(ids))+`)`, ids
		}
		if len(msgArgs) > 0 {
			rows, err := q.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE `+msgWhere+` ORDER BY m.created_at, m.id`, msgArgs...)
			if err != nil {
				return fmt.Errorf("conversation %d messages: %w", id, err)
			}
			if d.Messages, err = collect(rows, scanMessage, "conversation messages"); err != nil {
				return err
			}
			rows, err = q.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments a JOIN messages m ON m.id = a.message_id
				WHERE `+msgWhere+` ORDER BY a.id`, msgArgs...)
			if err != nil {
				return fmt.Errorf("conversation %d attachments: %w", id, err)
			}
			atts, err := collect(rows, scanAttachment, "conversation attachments")
			if err != nil {
				return err
			}
			byMsg := make(map[int64][]Attachment)
			for _, a := range atts {
				byMsg[a.MessageID] = append(byMsg[a.MessageID], a)
			}
			for i := range d.Messages {
				d.Messages[i].Attachments = byMsg[d.Messages[i].ID]
			}
		}

		oq := `SELECT ` + outboundCols + outboundFrom + ` WHERE o.conversation_id = $1`
		args := []any{id}
		if !from.IsZero() {
			args = append(args, s.dbTime(from))
			oq += fmt.Sprintf(` AND o.created_at >= $%d`, len(args))
		}
		if !until.IsZero() {
			args = append(args, s.dbTime(until))
			oq += fmt.Sprintf(` AND o.created_at < $%d`, len(args))
		}
		rows, err := q.QueryContext(ctx, oq+` ORDER BY o.created_at, o.id`, args...)
		if err != nil {
			return fmt.Errorf("conversation %d outbound: %w", id, err)
		}
		if d.Outbound, err = collect(rows, scanOutbound, "conversation outbound"); err != nil {
			return err
		}
		rows, err = q.QueryContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.conversation_id = $1 ORDER BY t.id`, id)
		if err != nil {
			return fmt.Errorf("conversation %d tickets: %w", id, err)
		}
		d.Tickets, err = collect(rows, scanTicket, "conversation tickets")
		return err
	})
	if err != nil {
		return ConversationDetail{}, err
	}
	// Empty lists, not null, for the JSON API.
	if d.Messages == nil {
		d.Messages = []Message{}
	}
	if d.Outbound == nil {
		d.Outbound = []Outbound{}
	}
	if d.Tickets == nil {
		d.Tickets = []Ticket{}
	}
	return d, nil
}

// messagePage picks the ids of one page of a conversation's messages
// (newest first, keyset on created_at and id like the conversation list)
// by their sizes alone, so a page of large mails is never read whole only
// to be cut. It returns the created_at bounds of the page's replies and the
// BeforeID of the older page, 0 when there is none.
func (s *Store) messagePage(ctx context.Context, q *sql.Tx, convID int64, p MessagePage) (ids []any, from, until time.Time, next int64, err error) {
	n := limit(p.Limit)
	args := []any{convID}
	where := `m.conversation_id = $1`
	if p.BeforeID != 0 {
		args = append(args, p.BeforeID)
		err := q.QueryRowContext(ctx, `SELECT created_at FROM messages WHERE id = $2 AND conversation_id = $1`, args...).Scan(timeCol{&until})
		if err != nil {
			return nil, from, until, 0, notFound(err, fmt.Sprintf("message %d in conversation %d", p.BeforeID, convID))
		}
		where += ` AND (m.created_at < $3 OR (m.created_at = $3 AND m.id < $2))`
		args = append(args, s.dbTime(until))
	}
	args = append(args, n+1) // one more says whether an older page exists
	rows, err := q.QueryContext(ctx, `SELECT m.id, m.created_at, length(m.body_text) + length(m.body_html) FROM messages m
		WHERE `+where+` ORDER BY m.created_at DESC, m.id DESC LIMIT $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return nil, from, until, 0, fmt.Errorf("conversation %d page: %w", convID, err)
	}
	type sized struct {
		id    int64
		at    time.Time
		bytes int64
	}
	list, err := collect(rows, func(r rowScanner) (sized, error) {
		var m sized
		err := r.Scan(&m.id, timeCol{&m.at}, &m.bytes)
		return m, err
	}, "conversation page")
	if err != nil {
		return nil, from, until, 0, err
	}
	var total int64
	for i, m := range list {
		if i == n || (i > 0 && total+m.bytes > pageBodyBytes) {
			last := list[i-1]
			return ids, last.at, until, last.id, nil
		}
		total += m.bytes
		ids = append(ids, m.id)
	}
	return ids, time.Time{}, until, 0, nil
}

// ListTickets lists tickets, newest first.
func (s *Store) ListTickets(ctx context.Context, f TicketFilter) ([]Ticket, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		where = append(where, "t.status = "+arg(f.Status))
	}
	if f.Department != "" {
		where = append(where, "t.department = "+arg(f.Department))
	}
	if f.BeforeID != 0 {
		where = append(where, "t.id < "+arg(f.BeforeID))
	}
	q := `SELECT ` + ticketCols + ` FROM tickets t`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY t.id DESC LIMIT " + arg(limit(f.Limit))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	return collect(rows, scanTicket, "list tickets")
}

// Ticket reads a ticket and its history, oldest event first.
func (s *Store) Ticket(ctx context.Context, id int64) (Ticket, []TicketEvent, error) {
	var t Ticket
	var events []TicketEvent
	err := s.readTx(ctx, func(q *sql.Tx) error {
		var err error
		t, err = scanTicket(q.QueryRowContext(ctx, `SELECT `+ticketCols+` FROM tickets t WHERE t.id = $1`, id))
		if err != nil {
			return notFound(err, fmt.Sprintf("ticket %d", id))
		}
		rows, err := q.QueryContext(ctx, `SELECT `+ticketEventCols+` FROM ticket_events e WHERE e.ticket_id = $1 ORDER BY e.id`, id)
		if err != nil {
			return fmt.Errorf("ticket %d events: %w", id, err)
		}
		events, err = collect(rows, scanTicketEvent, "ticket events")
		return err
	})
	if err != nil {
		return Ticket{}, nil, err
	}
	return t, events, nil
}

// Stats counts rows.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	st := Stats{TicketsByStatus: map[string]int64{}, Outbound: map[message.DeliveryState]int64{}, MessagesByChannel: map[message.Kind]int64{}}
	err := s.readTx(ctx, func(q *sql.Tx) error {
		err := q.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM messages),
			(SELECT count(*) FROM messages WHERE quarantined = TRUE),
			(SELECT count(*) FROM conversations),
			(SELECT count(*) FROM contacts),
			(SELECT count(*) FROM tickets)`).
			Scan(&st.Messages, &st.Quarantined, &st.Conversations, &st.Contacts, &st.Tickets)
		if err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		if err := countBy(ctx, q, `SELECT status, count(*) FROM tickets GROUP BY status`, st.TicketsByStatus); err != nil {
			return err
		}
		if err := countBy(ctx, q, `SELECT ch.kind, CAST(sum(x.n) AS BIGINT) FROM
			(SELECT channel_id, count(*) AS n FROM messages GROUP BY channel_id) x JOIN channels ch ON ch.id = x.channel_id GROUP BY ch.kind`, st.MessagesByChannel); err != nil {
			return err
		}
		return countBy(ctx, q, `SELECT state, count(*) FROM outbound_messages GROUP BY state`, st.Outbound)
	})
	return st, err
}

func countBy[K ~string](ctx context.Context, q queryer, query string, into map[K]int64) error {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k K
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			return fmt.Errorf("stats: %w", err)
		}
		into[k] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	return nil
}

// Message reads one message with its attachments.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	var m Message
	err := s.readTx(ctx, func(q *sql.Tx) error {
		var err error
		m, err = scanMessage(q.QueryRowContext(ctx, `SELECT `+messageCols+` FROM messages m WHERE m.id = $1`, id))
		if err != nil {
			return notFound(err, fmt.Sprintf("message %d", id))
		}
		rows, err := q.QueryContext(ctx, `SELECT `+attachmentCols+` FROM attachments a WHERE a.message_id = $1 ORDER BY a.id`, id)
		if err != nil {
			return fmt.Errorf("message %d attachments: %w", id, err)
		}
		m.Attachments, err = collect(rows, scanAttachment, "message attachments")
		return err
	})
	return m, err
}

// ListQuarantined lists quarantined messages, newest first, paged by id
// (beforeID 0 for the first page). Their raw bytes are the blob RawSHA256.
func (s *Store) ListQuarantined(ctx context.Context, limitN int, beforeID int64) ([]Message, error) {
	q := `SELECT ` + messageCols + ` FROM messages m WHERE m.quarantined = TRUE`
	args := []any{limit(limitN)}
	if beforeID != 0 {
		q += ` AND m.id < $2`
		args = append(args, beforeID)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY m.id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("list quarantined: %w", err)
	}
	return collect(rows, scanMessage, "list quarantined")
}
