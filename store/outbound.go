package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/message"
)

const outboundCols = `o.id, o.channel_id, ch.kind, o.conversation_id, o.in_reply_to_message_id, o.ticket_id, o.contact_id,
	o.to_kind, o.to_value, o.to_name, o.subject, o.body_text, o.body_html, o.header_message_id, o.in_reply_to, o.refs,
	o.auto, o.state, o.provider_id, o.error, o.attempts, o.created_at, o.sent_at, o.updated_at`

const outboundFrom = ` FROM outbound_messages o JOIN channels ch ON ch.id = o.channel_id`

func scanOutbound(r rowScanner) (Outbound, error) {
	var o Outbound
	err := r.Scan(&o.ID, &o.ChannelID, &o.Channel, &o.ConversationID, idCol{&o.InReplyToMessageID}, idCol{&o.TicketID}, &o.ContactID,
		&o.To.Kind, &o.To.Value, &o.To.Name, &o.Subject, &o.Text, &o.HTML, &o.HeaderMessageID, &o.InReplyTo, listCol{&o.References},
		&o.Auto, &o.State, &o.ProviderID, &o.Error, &o.Attempts, timeCol{&o.CreatedAt}, nullTimeCol{&o.SentAt}, timeCol{&o.UpdatedAt})
	return o, err
}

// stateRank orders delivery states so a late report cannot move a reply
// backwards; the final states share the top rank, so the first one stands.
func stateRank(s message.DeliveryState) (int, error) {
	switch s {
	case message.StateQueued:
		return 0, nil
	case message.StateSending:
		return 1, nil
	case message.StateSent:
		return 2, nil
	case message.StateDelivered, message.StateUndelivered, message.StateFailed:
		return 3, nil
	}
	return 0, fmt.Errorf("unknown delivery state %q", s)
}

// stateRankSQL is stateRank over the state column.
const stateRankSQL = `(CASE state WHEN 'queued' THEN 0 WHEN 'sending' THEN 1 WHEN 'sent' THEN 2 ELSE 3 END)`

// InsertOutbound stores a reply and sets o.ID. State defaults to queued.
// A HeaderMessageID already used is ErrDuplicate.
func (tx *Tx) InsertOutbound(ctx context.Context, o *Outbound) error {
	if o.ChannelID == 0 || o.ConversationID == 0 || o.ContactID == 0 {
		return errors.New("insert outbound: channel, conversation and contact are required")
	}
	if o.To.Value == "" {
		return errors.New("insert outbound: recipient is required")
	}
	if o.State == "" {
		o.State = message.StateQueued
	}
	if _, err := stateRank(o.State); err != nil {
		return fmt.Errorf("insert outbound: %w", err)
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now()
	}
	if o.UpdatedAt.IsZero() {
		o.UpdatedAt = o.CreatedAt
	}
	s := tx.s
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO outbound_messages (channel_id, conversation_id, in_reply_to_message_id,
		ticket_id, contact_id, to_kind, to_value, to_name, subject, body_text, body_html, header_message_id, in_reply_to,
		refs, auto, state, provider_id, error, attempts, created_at, sent_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
		ON CONFLICT DO NOTHING RETURNING id`,
		o.ChannelID, o.ConversationID, nullID(o.InReplyToMessageID), nullID(o.TicketID), o.ContactID,
		string(o.To.Kind), o.To.Value, o.To.Name, o.Subject, o.Text, o.HTML, o.HeaderMessageID, o.InReplyTo,
		listJSON(o.References), o.Auto, string(o.State), o.ProviderID, o.Error, o.Attempts,
		s.dbTime(o.CreatedAt), s.dbTimePtr(o.SentAt), s.dbTime(o.UpdatedAt)).Scan(&o.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("insert outbound with Message-ID %q: %w", o.HeaderMessageID, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("insert outbound: %w", err)
	}
	return nil
}

// OutboundContent is what a queued outbound message says.
type OutboundContent struct {
	ID                  int64
	Subject, Text, HTML string
}

// SetOutboundContents replaces what queued outbound messages say (the
// pipeline, when the ticket reference they showed changed before the
// commit): one statement on PostgreSQL.
func (tx *Tx) SetOutboundContents(ctx context.Context, cs []OutboundContent) error {
	if len(cs) == 0 {
		return nil
	}
	var n int64
	if tx.s.dialect == Postgres {
		ids := make([]int64, len(cs))
		subjects, texts, htmls := make([]string, len(cs)), make([]string, len(cs)), make([]string, len(cs))
		for i, c := range cs {
			ids[i], subjects[i], texts[i], htmls[i] = c.ID, c.Subject, c.Text, c.HTML
		}
		var err error
		n, err = affected(tx.tx.ExecContext(ctx, `UPDATE outbound_messages o SET subject = u.subject, body_text = u.body_text, body_html = u.body_html
			FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS u(id, subject, body_text, body_html)
			WHERE o.id = u.id AND o.state = 'queued'`, tx.s.planEach(ids, subjects, texts, htmls)...))
		if err != nil {
			return fmt.Errorf("set %d outbound contents: %w", len(cs), err)
		}
	} else {
		for _, c := range cs {
			k, err := affected(tx.tx.ExecContext(ctx, `UPDATE outbound_messages SET subject = $1, body_text = $2, body_html = $3
				WHERE id = $4 AND state = 'queued'`, c.Subject, c.Text, c.HTML, c.ID))
			if err != nil {
				return fmt.Errorf("set outbound %d content: %w", c.ID, err)
			}
			n += k
		}
	}
	if n != int64(len(cs)) {
		return fmt.Errorf("set %d outbound contents: %d were queued", len(cs), n)
	}
	return nil
}

// LastAutoReply is when the contact last got an automatic reply in the
// conversation (in any conversation if conversationID is 0), not counting
// replies that failed.
func (tx *Tx) LastAutoReply(ctx context.Context, contactID, conversationID int64) (time.Time, bool, error) {
	var at time.Time
	err := tx.tx.QueryRowContext(ctx, `SELECT created_at FROM outbound_messages
		WHERE contact_id = $1 AND (CAST($2 AS BIGINT) = 0 OR conversation_id = $2) AND auto = TRUE AND state <> 'failed'
		ORDER BY created_at DESC, id DESC LIMIT 1`, contactID, conversationID).Scan(timeCol{&at})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("last auto reply: %w", err)
	}
	return at, true, nil
}

// CountAutoReplies counts the automatic replies the contact got at or after
// since, in any conversation on any channel, not counting replies that
// failed: the per-contact cap that stops reply loops.
func (tx *Tx) CountAutoReplies(ctx context.Context, contactID int64, since time.Time) (int, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM outbound_messages
		WHERE contact_id = $1 AND auto = TRUE AND state <> 'failed' AND created_at >= $2`,
		contactID, tx.s.dbTime(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count auto replies of contact %d: %w", contactID, err)
	}
	return n, nil
}

// LastAutoReplyDecision is the stored decision of the message the
// contact's latest automatic reply in the conversation answered (not
// counting failed replies); ok is false when there is none. The pipeline
// reads it to tell a customer's answer to "which service?" from a second
// message in the same window.
func (tx *Tx) LastAutoReplyDecision(ctx context.Context, contactID, conversationID int64) (decision []byte, ok bool, err error) {
	var d sql.NullString
	err = tx.tx.QueryRowContext(ctx, `SELECT m.decision FROM outbound_messages o JOIN messages m ON m.id = o.in_reply_to_message_id
		WHERE o.contact_id = $1 AND o.conversation_id = $2 AND o.auto = TRUE AND o.state <> 'failed'
		ORDER BY o.created_at DESC, o.id DESC LIMIT 1`, contactID, conversationID).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("last auto reply decision: %w", err)
	}
	return []byte(d.String), d.Valid, nil
}

// Outbound reads one reply.
func (s *Store) Outbound(ctx context.Context, id int64) (Outbound, error) {
	return outboundByID(ctx, s.db, id)
}

func outboundByID(ctx context.Context, q queryer, id int64) (Outbound, error) {
	o, err := scanOutbound(q.QueryRowContext(ctx, `SELECT `+outboundCols+outboundFrom+` WHERE o.id = $1`, id))
	if err != nil {
		return Outbound{}, notFound(err, fmt.Sprintf("outbound %d", id))
	}
	return o, nil
}

// claimCols are outboundCols as an UPDATE's RETURNING can name them
// (SQLite's RETURNING sees only the updated table, hence the subquery).
const claimCols = `id, channel_id, (SELECT kind FROM channels WHERE channels.id = outbound_messages.channel_id),
	conversation_id, in_reply_to_message_id, ticket_id, contact_id,
	to_kind, to_value, to_name, subject, body_text, body_html, header_message_id, in_reply_to, refs,
	auto, state, provider_id, error, attempts, created_at, sent_at, updated_at`

// ClaimOutbound marks a reply as being sent, counting the attempt, and
// says whether the caller should send it. A reply still queued, or left
// "sending" by an attempt that may have crashed mid-send, is claimed; one
// already sent, delivered, undelivered or failed is not, and the job is a
// no-op.
func (s *Store) ClaimOutbound(ctx context.Context, id int64) (o Outbound, claimed bool, err error) {
	cs, err := s.ClaimOutbounds(ctx, []int64{id})
	if err != nil {
		return Outbound{}, false, err
	}
	return cs[0].Outbound, cs[0].Claimed, cs[0].Err
}

// Claim is what ClaimOutbound says of one reply: the reply, whether it
// was claimed, and ErrNotFound for one that does not exist.
type Claim struct {
	Outbound Outbound
	Claimed  bool
	Err      error
}

// ClaimOutbounds is ClaimOutbound for the replies ids (the claims of send
// workers that started together), a Claim each, in order: one statement
// and one commit claims them all; one not claimed is read on its own.
func (s *Store) ClaimOutbounds(ctx context.Context, ids []int64) ([]Claim, error) {
	claimed := make(map[int64]Outbound, len(ids))
	err := s.oneWrite(ctx, func(q queryer) error {
		set := `WHERE id = ANY($2::bigint[])`
		var list any = ids
		if s.dialect != Postgres {
			set = `WHERE id IN (SELECT value FROM json_each($2))`
			b, err := json.Marshal(ids)
			if err != nil {
				return err
			}
			list = string(b)
		}
		rows, err := q.QueryContext(ctx, `UPDATE outbound_messages SET state = 'sending', attempts = attempts + 1, updated_at = $1
			`+set+` AND state IN ('queued', 'sending') RETURNING `+claimCols, s.planEach(s.dbTime(now()), list)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			o, err := scanOutbound(rows)
			if err != nil {
				return err
			}
			claimed[o.ID] = o
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim %d outbound: %w", len(ids), err)
	}
	cs := make([]Claim, len(ids))
	for i, id := range ids {
		if o, ok := claimed[id]; ok {
			cs[i] = Claim{Outbound: o, Claimed: true}
			continue
		}
		// Not claimable: already final, or no such reply.
		cs[i].Outbound, cs[i].Err = outboundByID(ctx, s.db, id)
	}
	return cs, nil
}

// oneWrite runs a single-statement write: on PostgreSQL as its own
// implicit transaction (no BEGIN and COMMIT round trips), on SQLite in
// InTx, which queues it behind this process's other writers.
func (s *Store) oneWrite(ctx context.Context, fn func(q queryer) error) error {
	if s.writeSem == nil {
		if err := fn(s.db); err != nil {
			return err
		}
		s.committed()
		return nil
	}
	return s.InTx(ctx, func(tx *Tx) error { return fn(tx.tx) })
}

// MarkOutbound records what a send attempt came to. An empty providerID
// keeps the one recorded. Reaching sent or delivered sets sent_at once.
func (s *Store) MarkOutbound(ctx context.Context, id int64, state message.DeliveryState, providerID, errText string) error {
	errs, err := s.MarkOutbounds(ctx, []OutboundMark{{ID: id, State: state, ProviderID: providerID, Error: errText}})
	if err != nil {
		return err
	}
	return errs[0]
}

// OutboundMark is what one send attempt came to.
type OutboundMark struct {
	ID         int64
	State      message.DeliveryState
	ProviderID string
	Error      string
}

// markSet is MarkOutbound's assignments to the reply o ("o." or ""), from
// the outcome's state st, provider id p and error e, at t.
func markSet(o, st, p, e, t string) string {
	return `state = ` + st + `,
		provider_id = CASE WHEN ` + p + ` = '' THEN ` + o + `provider_id ELSE ` + p + ` END,
		error = ` + e + `,
		updated_at = ` + t + `,
		sent_at = CASE WHEN ` + o + `sent_at IS NULL AND ` + st + ` IN ('sent', 'delivered') THEN ` + t + ` ELSE ` + o + `sent_at END`
}

// MarkOutbounds is MarkOutbound for several sends' outcomes (those that
// ended together): on PostgreSQL one statement, on SQLite one transaction.
// errs holds each mark's: ErrNotFound for a reply that does not exist.
func (s *Store) MarkOutbounds(ctx context.Context, ms []OutboundMark) (errs []error, err error) {
	found := make(map[int64]bool, len(ms))
	each := s.dialect != Postgres
	for _, m := range ms {
		if _, err := stateRank(m.State); err != nil {
			return nil, fmt.Errorf("mark outbound %d: %w", m.ID, err)
		}
		if _, twice := found[m.ID]; twice {
			each = true // two outcomes of one reply: in order, one statement each
		}
		found[m.ID] = false
	}
	if each {
		err = s.markEach(ctx, ms, found)
	} else {
		err = s.markAll(ctx, ms, found)
	}
	if err != nil {
		return nil, err
	}
	errs = make([]error, len(ms))
	for i, m := range ms {
		if !found[m.ID] {
			errs[i] = fmt.Errorf("mark outbound %d: %w", m.ID, ErrNotFound)
		}
	}
	return errs, nil
}

// markAll applies ms, one a reply, in one statement (PostgreSQL).
func (s *Store) markAll(ctx context.Context, ms []OutboundMark, found map[int64]bool) error {
	ids, states, providers, errs := make([]int64, len(ms)), make([]string, len(ms)), make([]string, len(ms)), make([]string, len(ms))
	for i, m := range ms {
		ids[i], states[i], providers[i], errs[i] = m.ID, string(m.State), m.ProviderID, m.Error
	}
	err := s.oneWrite(ctx, func(q queryer) error {
		rows, err := q.QueryContext(ctx, `UPDATE outbound_messages o SET `+markSet("o.", "u.state", "u.provider_id", "u.error", "$1")+`
			FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[]) AS u(id, state, provider_id, error)
			WHERE o.id = u.id RETURNING o.id`, s.planEach(s.dbTime(now()), ids, states, providers, errs)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			found[id] = true
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("mark %d outbound: %w", len(ms), err)
	}
	return nil
}

// markEach applies ms in order in one transaction.
func (s *Store) markEach(ctx context.Context, ms []OutboundMark, found map[int64]bool) error {
	return s.InTx(ctx, func(tx *Tx) error {
		for _, m := range ms {
			n, err := affected(tx.tx.ExecContext(ctx, `UPDATE outbound_messages SET `+markSet("", "CAST($1 AS TEXT)", "CAST($2 AS TEXT)", "$3", "$4")+`
				WHERE id = $5`, string(m.State), m.ProviderID, m.Error, s.dbTime(now()), m.ID))
			if err != nil {
				return fmt.Errorf("mark outbound %d: %w", m.ID, err)
			}
			if n > 0 {
				found[m.ID] = true
			}
		}
		return nil
	})
}

// UpdateDeliveryByProvider applies a provider's delivery report to the
// newest reply on the channel with that provider id. It never moves a reply
// backwards: a late "sent" does not undo "delivered". found says whether
// such a reply exists, whether or not the report changed it.
func (s *Store) UpdateDeliveryByProvider(ctx context.Context, channelID int64, providerID string, state message.DeliveryState, errText string) (found bool, err error) {
	rank, err := stateRank(state)
	if err != nil {
		return false, fmt.Errorf("update delivery: %w", err)
	}
	if providerID == "" {
		return false, errors.New("update delivery: provider id is required")
	}
	err = s.InTx(ctx, func(tx *Tx) error {
		var id int64
		err := tx.tx.QueryRowContext(ctx, `SELECT id FROM outbound_messages
			WHERE channel_id = $1 AND provider_id = $2 ORDER BY id DESC LIMIT 1`, channelID, providerID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("update delivery: %w", err)
		}
		found = true
		_, err = tx.tx.ExecContext(ctx, `UPDATE outbound_messages SET
			state = $1,
			error = CASE WHEN CAST($2 AS TEXT) = '' THEN error ELSE CAST($2 AS TEXT) END,
			updated_at = $3,
			sent_at = CASE WHEN sent_at IS NULL AND CAST($1 AS TEXT) IN ('sent', 'delivered') THEN $3 ELSE sent_at END
			WHERE id = $4 AND `+stateRankSQL+` < $5`,
			string(state), errText, s.dbTime(now()), id, rank)
		if err != nil {
			return fmt.Errorf("update delivery of outbound %d: %w", id, err)
		}
		return nil
	})
	return found, err
}

// Cursor is where IMAP sync of a mailbox stands; zeroes if it never ran.
func (s *Store) Cursor(ctx context.Context, channelID int64, mailbox string) (uidValidity, lastUID uint32, err error) {
	var v, l int64
	err = s.db.QueryRowContext(ctx, `SELECT uid_validity, last_uid FROM mailbox_cursors
		WHERE channel_id = $1 AND mailbox = $2`, channelID, mailbox).Scan(&v, &l)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("cursor %d/%s: %w", channelID, mailbox, err)
	}
	return uint32(v), uint32(l), nil
}

// SaveCursor records where IMAP sync of a mailbox stands. The cursor has
// moved on, so any failure RecordIngestFailure counted is cleared.
func (s *Store) SaveCursor(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32) error {
	return s.InTx(ctx, func(tx *Tx) error {
		return tx.SaveCursor(ctx, channelID, mailbox, uidValidity, lastUID)
	})
}

// SaveCursor is Store.SaveCursor inside a transaction: the batch of mail
// that moved the cursor commits with it.
func (tx *Tx) SaveCursor(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32) error {
	_, err := tx.tx.ExecContext(ctx, `INSERT INTO mailbox_cursors (channel_id, mailbox, uid_validity, last_uid, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (channel_id, mailbox) DO UPDATE SET uid_validity = excluded.uid_validity,
			last_uid = excluded.last_uid, updated_at = excluded.updated_at,
			failed_uid = 0, failures = 0, last_error = ''`,
		channelID, mailbox, int64(uidValidity), int64(lastUID), tx.s.dbTime(now()))
	if err != nil {
		return fmt.Errorf("save cursor %d/%s: %w", channelID, mailbox, err)
	}
	return nil
}

// RecordIngestFailure notes that the message at uid, next after a
// mailbox's cursor, could not be ingested, and returns how many times in a
// row that UID has failed, this time included. The count and the last error
// live with the cursor, so they survive reconnects and restarts; a failure
// of another UID starts the count again. The cursor must exist (SaveCursor).
func (s *Store) RecordIngestFailure(ctx context.Context, channelID int64, mailbox string, uid uint32, errText string) (attempts int, err error) {
	err = s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `UPDATE mailbox_cursors SET
				failures = CASE WHEN failed_uid = $3 THEN failures + 1 ELSE 1 END,
				failed_uid = $3, last_error = $4, updated_at = $5
			WHERE channel_id = $1 AND mailbox = $2
			RETURNING failures`,
			channelID, mailbox, int64(uid), errText, s.dbTime(now())).Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record ingest failure %d/%s uid %d: %w (no cursor: save one first)", channelID, mailbox, uid, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("record ingest failure %d/%s uid %d: %w", channelID, mailbox, uid, err)
		}
		return nil
	})
	return attempts, err
}
