package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// rowScanner is a *sql.Row or *sql.Rows.
type rowScanner interface{ Scan(dest ...any) error }

const messageCols = `m.id, m.channel_id, m.external_id, m.conversation_id, m.contact_id,
	m.from_kind, m.from_value, m.from_name, m.to_addrs, m.subject, m.body_text, m.body_html,
	m.header_message_id, m.in_reply_to, m.refs, m.flags, m.quarantined, m.quarantine_reason,
	m.raw_sha256, m.language, m.scope, m.topic, m.confidence, m.decision,
	m.sent_at, m.received_at, m.created_at, m.text_truncated, m.html_truncated, m.fields`

func scanMessage(r rowScanner) (Message, error) {
	var m Message
	var flags string
	err := r.Scan(&m.ID, &m.ChannelID, &m.ExternalID, idCol{&m.ConversationID}, idCol{&m.ContactID},
		&m.From.Kind, &m.From.Value, &m.From.Name, listCol{&m.To}, &m.Subject, &m.Text, &m.HTML,
		&m.HeaderMessageID, &m.InReplyTo, listCol{&m.References}, &flags, &m.Quarantined, &m.QuarantineReason,
		&m.RawSHA256, &m.Language, &m.Scope, &m.Topic, &m.Confidence, jsonCol{&m.Decision},
		timeCol{&m.SentAt}, timeCol{&m.ReceivedAt}, timeCol{&m.CreatedAt}, &m.TextTruncated, &m.HTMLTruncated, fieldsCol{&m.Fields})
	if err != nil {
		return m, err
	}
	if flags != "" {
		if err := json.Unmarshal([]byte(flags), &m.Flags); err != nil {
			return m, fmt.Errorf("message %d flags: %w", m.ID, err)
		}
	}
	return m, nil
}

// LookupMessage finds a message by the channel's own id: the dedupe key.
func (tx *Tx) LookupMessage(ctx context.Context, channelID int64, externalID string) (id, conversationID int64, found bool, err error) {
	err = tx.tx.QueryRowContext(ctx,
		`SELECT id, conversation_id FROM messages WHERE channel_id = $1 AND external_id = $2`,
		tx.s.planEach(channelID, externalID)...).Scan(&id, idCol{&conversationID})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("lookup message: %w", err)
	}
	return id, conversationID, true, nil
}

// MessageKey is a message's dedupe key: its channel and the channel's own
// id for it.
type MessageKey struct {
	ChannelID  int64
	ExternalID string
}

// MessageRef names a stored message and its conversation.
type MessageRef struct{ ID, ConversationID int64 }

// LookupMessages is LookupMessage for many keys: the ones stored, by key.
// One statement on PostgreSQL, where each would be a round trip; one
// look-up a key on SQLite, where a statement costs no round trip.
func (tx *Tx) LookupMessages(ctx context.Context, keys []MessageKey) (map[MessageKey]MessageRef, error) {
	found := make(map[MessageKey]MessageRef)
	if tx.s.dialect != Postgres {
		for _, k := range keys {
			id, conv, ok, err := tx.LookupMessage(ctx, k.ChannelID, k.ExternalID)
			if err != nil {
				return nil, err
			}
			if ok {
				found[k] = MessageRef{ID: id, ConversationID: conv}
			}
		}
		return found, nil
	}
	channels := make([]int64, len(keys))
	ids := make([]string, len(keys))
	for i, k := range keys {
		channels[i], ids[i] = k.ChannelID, k.ExternalID
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT m.channel_id, m.external_id, m.id, m.conversation_id
		FROM unnest($1::bigint[], $2::text[]) AS k(channel_id, external_id)
		JOIN messages m ON m.channel_id = k.channel_id AND m.external_id = k.external_id`, tx.s.planEach(channels, ids)...)
	if err != nil {
		return nil, fmt.Errorf("lookup %d messages: %w", len(keys), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k MessageKey
		var r MessageRef
		if err := rows.Scan(&k.ChannelID, &k.ExternalID, &r.ID, idCol{&r.ConversationID}); err != nil {
			return nil, fmt.Errorf("lookup %d messages: %w", len(keys), err)
		}
		found[k] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("lookup %d messages: %w", len(keys), err)
	}
	return found, nil
}

// InsertMessage stores m and sets m.ID (and m.CreatedAt if zero). A message
// already stored under (ChannelID, ExternalID) is ErrDuplicate, and the
// transaction stays usable. Attachments are written with InsertAttachment
// once m.ID is known; m.Attachments must be empty here so none is lost by
// assuming otherwise.
func (tx *Tx) InsertMessage(ctx context.Context, m *Message) error {
	return tx.insertMessage(ctx, nil, nil, m)
}

// InsertMessageInNewConversation is CreateConversation of c and then
// InsertMessage of m in it (m.ConversationID is c's): on PostgreSQL one
// statement, where each is a round trip, and a new customer's first message
// opens a conversation (every mail of a backfill from someone new).
func (tx *Tx) InsertMessageInNewConversation(ctx context.Context, c *Conversation, m *Message) error {
	if tx.s.dialect != Postgres {
		if err := tx.CreateConversation(ctx, c); err != nil {
			return err
		}
		m.ConversationID = c.ID
		return tx.InsertMessage(ctx, m)
	}
	if err := c.prepare(); err != nil {
		return err
	}
	return tx.insertMessage(ctx, c, nil, m)
}

// InsertMessageFromNewContact is CreateContact of m.From (writing in
// language) and then InsertMessageInNewConversation of c and m with that
// contact (c.ContactID and m.ContactID are set): on PostgreSQL one
// statement, where each is a round trip, for the first message of someone
// new (every mail of a backfill from a new sender). If another transaction
// claimed m.From meanwhile (PostgreSQL), nothing of this statement is kept
// and the error is ErrDuplicate: the caller rolls back and tries again,
// when its look-up finds the identity's owner.
func (tx *Tx) InsertMessageFromNewContact(ctx context.Context, language string, c *Conversation, m *Message) (Contact, error) {
	if err := validParty(m.From); err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	if tx.s.dialect != Postgres {
		k, err := tx.CreateContact(ctx, m.From, language)
		if err != nil {
			return Contact{}, err
		}
		c.ContactID, m.ContactID = k.ID, k.ID
		return k, tx.InsertMessageInNewConversation(ctx, c, m)
	}
	k := &Contact{DisplayName: m.From.Name, Language: language, CreatedAt: now()}
	if err := c.prepareFor(false); err != nil {
		return Contact{}, err
	}
	if err := tx.insertMessage(ctx, c, k, m); err != nil {
		return Contact{}, err
	}
	k.Identities = []message.Party{m.From}
	return *k, nil
}

// messageColumns are the columns InsertMessage writes, $1… in this order.
const messageColumns = `channel_id, external_id, conversation_id, contact_id,
		from_kind, from_value, from_name, to_addrs, subject, body_text, body_html,
		header_message_id, in_reply_to, refs, flags, quarantined, quarantine_reason,
		raw_sha256, language, scope, topic, confidence, decision, sent_at, received_at, created_at,
		text_truncated, html_truncated, fields`

// insertMessage inserts m, and before it, in the same statement, the new
// conversation c it goes in when c is not nil, and the new contact k of
// m.From that c and m belong to when k is not nil (PostgreSQL).
func (tx *Tx) insertMessage(ctx context.Context, c *Conversation, k *Contact, m *Message) error {
	if m.ChannelID == 0 || m.ExternalID == "" {
		return errors.New("insert message: channel id and external id are required")
	}
	if len(m.Attachments) > 0 {
		return errors.New("insert message: attachments are written with InsertAttachment, not InsertMessage")
	}
	decision, err := rawJSON("decision", m.Decision)
	if err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	flags, err := json.Marshal(m.Flags)
	if err != nil {
		return fmt.Errorf("insert message: flags: %w", err)
	}
	fields, err := fieldsJSON(m.Fields)
	if err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	if m.CreatedAt.IsZero() {
		m.CreatedAt = now()
	}
	s := tx.s
	args := []any{m.ChannelID, m.ExternalID, nullID(m.ConversationID), nullID(m.ContactID),
		string(m.From.Kind), m.From.Value, m.From.Name, listJSON(m.To), m.Subject, m.Text, m.HTML,
		m.HeaderMessageID, m.InReplyTo, listJSON(m.References), string(flags), m.Quarantined, m.QuarantineReason,
		m.RawSHA256, m.Language, m.Scope, m.Topic, m.Confidence, decision,
		s.dbTime(m.SentAt), s.dbTime(m.ReceivedAt), s.dbTime(m.CreatedAt),
		m.TextTruncated, m.HTMLTruncated, fields}
	// DO NOTHING rather than catching the violation: on PostgreSQL a failed
	// statement would abort the caller's whole transaction.
	q := `INSERT INTO messages (` + messageColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
		$27, $28, $29)
		ON CONFLICT DO NOTHING
		RETURNING id, conversation_id`
	switch {
	case k != nil:
		// Contact, identity, conversation and message: the CTEs' rows. An
		// identity another transaction took leaves i empty; a duplicate
		// message returns no row. Either way the caller rolls back.
		q = `WITH k AS (INSERT INTO contacts (display_name, language, created_at) VALUES ($30, $31, $32) RETURNING id),
		i AS (INSERT INTO contact_identities (kind, value, contact_id, name, created_at)
			SELECT $5, $6, id, $7, $32 FROM k ON CONFLICT DO NOTHING RETURNING 1),
		c AS (INSERT INTO conversations (` + conversationInsertCols + `)
			SELECT id, $33, $34, $35, $36, $37, $38, $39, $40, $41, $42 FROM k RETURNING id)
		INSERT INTO messages (` + messageColumns + `)
		VALUES ($1, $2, coalesce($3::bigint, (SELECT id FROM c)), coalesce($4::bigint, (SELECT id FROM k)), $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
		$27, $28, $29)
		ON CONFLICT DO NOTHING
		RETURNING id, conversation_id, contact_id, EXISTS (SELECT 1 FROM i)`
		args[2], args[3] = nil, nil // NULL: the CTEs' ids
		args = append(args, k.DisplayName, k.Language, s.dbTime(k.CreatedAt))
		args = append(args, c.insertArgs(s)[1:]...) // contact_id is k's
	case c != nil:
		// The conversation is the CTE's row; a duplicate message leaves it
		// behind, but the caller then rolls back (ErrDuplicate).
		q = `WITH c AS (INSERT INTO conversations (` + conversationInsertCols + `)
			VALUES ($30, $31, $32, $33, $34, $35, $36, $37, $38, $39, $40) RETURNING id)
		INSERT INTO messages (` + messageColumns + `)
		VALUES ($1, $2, coalesce($3::bigint, (SELECT id FROM c)), $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
		$27, $28, $29)
		ON CONFLICT DO NOTHING
		RETURNING id, conversation_id`
		args[2] = nil // $3 NULL: the conversation is c's
		args = append(args, c.insertArgs(s)...)
	}
	var conv, contact sql.NullInt64
	var identity bool
	dest := []any{&m.ID, &conv}
	if k != nil {
		dest = append(dest, &contact, &identity)
	}
	err = tx.tx.QueryRowContext(ctx, q, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("insert message %d/%s: %w", m.ChannelID, m.ExternalID, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("insert message: %w", err)
	}
	if k != nil && !identity {
		return fmt.Errorf("insert message %d/%s: %s %s became another contact's meanwhile: %w", m.ChannelID, m.ExternalID, m.From.Kind, m.From.Value, ErrDuplicate)
	}
	if c != nil {
		c.ID, m.ConversationID = conv.Int64, conv.Int64
	}
	if k != nil {
		k.ID, c.ContactID, m.ContactID = contact.Int64, contact.Int64, contact.Int64
	}
	return tx.indexMessage(ctx, m)
}

// SetMessageClassification records what the classifier and router made of
// a message.
func (tx *Tx) SetMessageClassification(ctx context.Context, messageID int64, language, scope, topic string, confidence float64, decision json.RawMessage) error {
	d, err := rawJSON("decision", decision)
	if err != nil {
		return fmt.Errorf("set classification: %w", err)
	}
	res, err := tx.tx.ExecContext(ctx,
		`UPDATE messages SET language = $1, scope = $2, topic = $3, confidence = $4, decision = $5 WHERE id = $6`,
		language, scope, topic, confidence, d, messageID)
	return affectedOne(res, err, fmt.Sprintf("set classification of message %d", messageID))
}

// affected is how many rows the statement that gave res, err changed.
func affected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// affectedOne turns "no row changed" into ErrNotFound.
func affectedOne(res sql.Result, err error, what string) error {
	n, err := affected(res, err)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

func validParty(p message.Party) error {
	if p.Kind == "" || p.Value == "" {
		return fmt.Errorf("identity %q/%q: kind and value are required", p.Kind, p.Value)
	}
	return nil
}

// FindOrCreateContact returns the contact who owns identity p, creating
// contact and identity if nobody does. A name in p fills an empty display
// name.
func (tx *Tx) FindOrCreateContact(ctx context.Context, p message.Party) (Contact, error) {
	if err := validParty(p); err != nil {
		return Contact{}, fmt.Errorf("find or create contact: %w", err)
	}
	// Two tries: on PostgreSQL another transaction can claim the identity
	// between our look-up and our insert; the second look-up then sees it.
	for range 2 {
		c, found, err := tx.ContactByIdentity(ctx, p)
		if err != nil {
			return Contact{}, err
		}
		if found {
			if c.DisplayName == "" && p.Name != "" {
				if err := tx.SetContactName(ctx, c.ID, p.Name); err != nil {
					return Contact{}, err
				}
				c.DisplayName = p.Name
			}
			c.Identities, err = contactIdentities(ctx, tx.tx, c.ID)
			return c, err
		}
		c, created, err := tx.createContact(ctx, p, "")
		if err != nil || created {
			return c, err
		}
	}
	return Contact{}, fmt.Errorf("find or create contact %s/%s: identity keeps changing owner", p.Kind, p.Value)
}

// CreateContact makes a contact of identity p, writing in language (may
// be ""), for a caller that found p unowned in this transaction: two
// statements, where FindOrCreateContact would look p up again first. If
// another transaction claimed p meanwhile (PostgreSQL), p's owner is
// returned, as FindOrCreateContact gives it.
func (tx *Tx) CreateContact(ctx context.Context, p message.Party, language string) (Contact, error) {
	if err := validParty(p); err != nil {
		return Contact{}, fmt.Errorf("create contact: %w", err)
	}
	c, created, err := tx.createContact(ctx, p, language)
	if err != nil || created {
		return c, err
	}
	return tx.FindOrCreateContact(ctx, p)
}

// createContact inserts a contact owning p, unless another contact got p
// first: then nothing is kept and created is false.
func (tx *Tx) createContact(ctx context.Context, p message.Party, language string) (c Contact, created bool, err error) {
	c = Contact{DisplayName: p.Name, Language: language, CreatedAt: now()}
	var inserted bool
	if tx.s.dialect == Postgres {
		// One round trip for both rows: a backfill makes a contact a mail.
		if err := tx.tx.QueryRowContext(ctx, `WITH c AS (
				INSERT INTO contacts (display_name, language, created_at) VALUES ($1, $2, $3) RETURNING id),
			i AS (INSERT INTO contact_identities (kind, value, contact_id, name, created_at)
				SELECT $4, $5, id, $6, $3 FROM c ON CONFLICT DO NOTHING RETURNING 1)
			SELECT id, EXISTS (SELECT 1 FROM i) FROM c`,
			c.DisplayName, c.Language, tx.s.dbTime(c.CreatedAt), string(p.Kind), p.Value, p.Name).Scan(&c.ID, &inserted); err != nil {
			return Contact{}, false, fmt.Errorf("create contact: %w", err)
		}
	} else {
		if err := tx.tx.QueryRowContext(ctx,
			`INSERT INTO contacts (display_name, language, created_at) VALUES ($1, $2, $3) RETURNING id`,
			c.DisplayName, c.Language, tx.s.dbTime(c.CreatedAt)).Scan(&c.ID); err != nil {
			return Contact{}, false, fmt.Errorf("create contact: %w", err)
		}
		var err error
		if inserted, err = tx.insertIdentity(ctx, c.ID, p); err != nil {
			return Contact{}, false, err
		}
	}
	if inserted {
		c.Identities = []message.Party{p}
		return c, true, nil
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM contacts WHERE id = $1`, c.ID); err != nil {
		return Contact{}, false, fmt.Errorf("drop contact that lost a race: %w", err)
	}
	return Contact{}, false, nil
}

// SetContactName names a contact that had no name.
func (tx *Tx) SetContactName(ctx context.Context, contactID int64, name string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET display_name = $1 WHERE id = $2`, name, contactID)
	return affectedOne(res, err, fmt.Sprintf("set name of contact %d", contactID))
}

// ContactByIdentity finds the contact who owns identity p, without creating
// one: the pipeline reads before it writes. Identities are not filled in.
func (tx *Tx) ContactByIdentity(ctx context.Context, p message.Party) (Contact, bool, error) {
	var c Contact
	err := tx.tx.QueryRowContext(ctx, `SELECT c.id, c.display_name, c.language, c.auto_reply_muted_until, c.created_at
		FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
		WHERE i.kind = $1 AND i.value = $2`, string(p.Kind), p.Value).
		Scan(&c.ID, &c.DisplayName, &c.Language, nullTimeCol{&c.AutoReplyMutedUntil}, timeCol{&c.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("look up contact by identity: %w", err)
	}
	return c, true, nil
}

// IdentityKey is an identity as contact_identities keys it.
type IdentityKey struct {
	Kind  message.IdentityKind
	Value string
}

// ContactsByIdentity is ContactByIdentity for many identities: the contacts
// found, by identity. One statement on PostgreSQL, where each look-up
// would be a round trip; one look-up an identity on SQLite.
func (tx *Tx) ContactsByIdentity(ctx context.Context, ids []IdentityKey) (map[IdentityKey]Contact, error) {
	found := make(map[IdentityKey]Contact)
	if tx.s.dialect != Postgres {
		for _, k := range ids {
			c, ok, err := tx.ContactByIdentity(ctx, message.Party{Kind: k.Kind, Value: k.Value})
			if err != nil {
				return nil, err
			}
			if ok {
				found[k] = c
			}
		}
		return found, nil
	}
	kinds := make([]string, len(ids))
	values := make([]string, len(ids))
	for i, k := range ids {
		kinds[i], values[i] = string(k.Kind), k.Value
	}
	rows, err := tx.tx.QueryContext(ctx, `SELECT i.kind, i.value, c.id, c.display_name, c.language, c.auto_reply_muted_until, c.created_at
		FROM unnest($1::text[], $2::text[]) AS k(kind, value)
		JOIN contact_identities i ON i.kind = k.kind AND i.value = k.value
		JOIN contacts c ON c.id = i.contact_id`, tx.s.planEach(kinds, values)...)
	if err != nil {
		return nil, fmt.Errorf("look up %d contacts by identity: %w", len(ids), err)
	}
	defer rows.Close()
	for rows.Next() {
		var k IdentityKey
		var c Contact
		if err := rows.Scan(&k.Kind, &k.Value, &c.ID, &c.DisplayName, &c.Language, nullTimeCol{&c.AutoReplyMutedUntil}, timeCol{&c.CreatedAt}); err != nil {
			return nil, fmt.Errorf("look up %d contacts by identity: %w", len(ids), err)
		}
		found[k] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up %d contacts by identity: %w", len(ids), err)
	}
	return found, nil
}

// insertIdentity adds p to a contact unless some contact already has it.
func (tx *Tx) insertIdentity(ctx context.Context, contactID int64, p message.Party) (bool, error) {
	res, err := tx.tx.ExecContext(ctx, `INSERT INTO contact_identities (kind, value, contact_id, name, created_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		string(p.Kind), p.Value, contactID, p.Name, tx.s.dbTime(now()))
	if err != nil {
		return false, fmt.Errorf("add identity: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("add identity: %w", err)
	}
	return n == 1, nil
}

// AddIdentity links another identity to a contact. Adding one the contact
// already has is a no-op; one that belongs to another contact is
// ErrDuplicate.
func (tx *Tx) AddIdentity(ctx context.Context, contactID int64, p message.Party) error {
	if err := validParty(p); err != nil {
		return fmt.Errorf("add identity: %w", err)
	}
	if _, err := tx.insertIdentity(ctx, contactID, p); err != nil {
		return err
	}
	var owner int64
	if err := tx.tx.QueryRowContext(ctx, `SELECT contact_id FROM contact_identities WHERE kind = $1 AND value = $2`,
		string(p.Kind), p.Value).Scan(&owner); err != nil {
		return fmt.Errorf("add identity: %w", err)
	}
	if owner != contactID {
		return fmt.Errorf("add identity %s/%s to contact %d: it belongs to contact %d: %w", p.Kind, p.Value, contactID, owner, ErrDuplicate)
	}
	return nil
}

// SetContactAutoReplyMute silences automatic replies to the contact until
// until; nil lifts the mute.
func (tx *Tx) SetContactAutoReplyMute(ctx context.Context, contactID int64, until *time.Time) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET auto_reply_muted_until = $1 WHERE id = $2`, tx.s.dbTimePtr(until), contactID)
	return affectedOne(res, err, fmt.Sprintf("set auto-reply mute of contact %d", contactID))
}

// SetContactLanguage records the language a contact writes in.
func (tx *Tx) SetContactLanguage(ctx context.Context, contactID int64, language string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE contacts SET language = $1 WHERE id = $2`, language, contactID)
	return affectedOne(res, err, fmt.Sprintf("set language of contact %d", contactID))
}

func contactIdentities(ctx context.Context, q queryer, contactID int64) ([]message.Party, error) {
	rows, err := q.QueryContext(ctx, `SELECT kind, value, name FROM contact_identities
		WHERE contact_id = $1 ORDER BY created_at, kind, value`, contactID)
	if err != nil {
		return nil, fmt.Errorf("contact identities: %w", err)
	}
	defer rows.Close()
	var ids []message.Party
	for rows.Next() {
		var p message.Party
		if err := rows.Scan(&p.Kind, &p.Value, &p.Name); err != nil {
			return nil, fmt.Errorf("contact identities: %w", err)
		}
		ids = append(ids, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("contact identities: %w", err)
	}
	return ids, nil
}

// maxHeaderIDs bounds the ids looked at; References can be long and its
// newest entries come last.
const maxHeaderIDs = 100

// ConversationByHeaderIDs finds the conversation an email answers: the one
// holding the most recent inbound or outbound message whose Message-ID is
// among ids.
func (tx *Tx) ConversationByHeaderIDs(ctx context.Context, ids []string) (int64, bool, error) {
	seen := make(map[string]bool, len(ids))
	var clean []any
	for i := len(ids) - 1; i >= 0 && len(clean) < maxHeaderIDs; i-- {
		id := strings.Trim(strings.TrimSpace(ids[i]), "<>")
		if id != "" && !seen[id] {
			seen[id] = true
			clean = append(clean, id)
		}
	}
	if len(clean) == 0 {
		return 0, false, nil
	}
	in := placeholders(1, len(clean))
	// "header_message_id <> ''" lets both databases use the partial indexes.
	q := `SELECT conversation_id FROM (
		SELECT conversation_id, created_at, id FROM messages
		WHERE header_message_id <> '' AND header_message_id IN (` + in + `) AND conversation_id IS NOT NULL
		UNION ALL
		SELECT conversation_id, created_at, id FROM outbound_messages
		WHERE header_message_id <> '' AND header_message_id IN (` + in + `)
	) x ORDER BY created_at DESC, id DESC LIMIT 1`
	var conv int64
	err := tx.tx.QueryRowContext(ctx, q, clean...).Scan(&conv)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("conversation by header ids: %w", err)
	}
	return conv, true, nil
}

// OpenConversation finds the contact's latest open conversation on the
// channel with activity at or after since.
func (tx *Tx) OpenConversation(ctx context.Context, contactID, channelID int64, since time.Time) (int64, bool, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `SELECT id FROM conversations
		WHERE contact_id = $1 AND channel_id = $2 AND status = 'open' AND last_message_at >= $3
		ORDER BY last_message_at DESC, id DESC LIMIT 1`,
		contactID, channelID, tx.s.dbTime(since)).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open conversation: %w", err)
	}
	return id, true, nil
}

// CreateConversation stores c and sets c.ID. Status defaults to open and
// the times to now.
func (tx *Tx) CreateConversation(ctx context.Context, c *Conversation) error {
	if err := c.prepare(); err != nil {
		return err
	}
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO conversations (`+conversationInsertCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`, c.insertArgs(tx.s)...).Scan(&c.ID)
	if err != nil {
		return fmt.Errorf("create conversation: %w", err)
	}
	return nil
}

// conversationInsertCols are a new conversation's columns, in the order of
// insertArgs.
const conversationInsertCols = `contact_id, channel_id, subject, status, cites_foreign_ticket, topic, scope, language, department, last_message_at, created_at`

func (c *Conversation) insertArgs(s *Store) []any {
	return []any{c.ContactID, c.ChannelID, c.Subject, c.Status, c.CitesForeignTicket, c.Topic, c.Scope, c.Language, c.Department,
		s.dbTime(c.LastMessageAt), s.dbTime(c.CreatedAt)}
}

// prepare checks a new conversation and fills in its defaults.
func (c *Conversation) prepare() error { return c.prepareFor(true) }

// prepareFor is prepare, for a conversation whose contact is already
// known (withContact) or made in the same statement.
func (c *Conversation) prepareFor(withContact bool) error {
	if (withContact && c.ContactID == 0) || c.ChannelID == 0 {
		return errors.New("create conversation: contact and channel are required")
	}
	if c.Status == "" {
		c.Status = ConversationOpen
	}
	if c.Status != ConversationOpen && c.Status != ConversationClosed {
		return fmt.Errorf("create conversation: unknown status %q", c.Status)
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = now()
	}
	if c.LastMessageAt.IsZero() {
		c.LastMessageAt = c.CreatedAt
	}
	return nil
}

// TouchConversation records activity at at (never moving last_message_at
// back, since messages can arrive out of order) and reopens the
// conversation if it was closed.
func (tx *Tx) TouchConversation(ctx context.Context, id int64, at time.Time) error {
	if at.IsZero() {
		at = now()
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE conversations
		SET last_message_at = CASE WHEN last_message_at < $1 THEN $1 ELSE last_message_at END, status = 'open'
		WHERE id = $2`, tx.s.dbTime(at), id)
	return affectedOne(res, err, fmt.Sprintf("touch conversation %d", id))
}

// SetConversationStatus opens or closes a conversation.
func (tx *Tx) SetConversationStatus(ctx context.Context, id int64, status string) error {
	if status != ConversationOpen && status != ConversationClosed {
		return fmt.Errorf("set conversation status: unknown status %q", status)
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE conversations SET status = $1 WHERE id = $2`, status, id)
	return affectedOne(res, err, fmt.Sprintf("set status of conversation %d", id))
}

const attachmentCols = `a.id, a.message_id, a.filename, a.content_type, a.size, a.sha256, a.url, a.missing_reason, a.created_at`

func scanAttachment(r rowScanner) (Attachment, error) {
	var a Attachment
	err := r.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.URL, &a.MissingReason, timeCol{&a.CreatedAt})
	return a, err
}

// InsertAttachment stores a and sets a.ID. SHA256 names a blob already
// written with PutBlob, or is empty while URL or Descriptor waits to be
// fetched.
func (tx *Tx) InsertAttachment(ctx context.Context, a *Attachment) error {
	if a.MessageID == 0 {
		return errors.New("insert attachment: message id is required")
	}
	if a.SHA256 != "" && !validDigest(a.SHA256) {
		return fmt.Errorf("insert attachment: %q is not a lower-case hex SHA-256", a.SHA256)
	}
	if a.SHA256 == "" && a.URL == "" && len(a.Descriptor) == 0 && a.MissingReason == "" {
		return errors.New("insert attachment: need content (SHA256), a URL or descriptor to fetch it with, or the reason it is missing")
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = now()
	}
	descriptor := a.Descriptor
	if descriptor == nil {
		descriptor = []byte{} // NOT NULL
	}
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO attachments (message_id, filename, content_type, size, sha256, url, descriptor, missing_reason, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id`,
		a.MessageID, a.Filename, a.ContentType, a.Size, a.SHA256, a.URL, descriptor, a.MissingReason, tx.s.dbTime(a.CreatedAt)).Scan(&a.ID)
	if err != nil {
		return fmt.Errorf("insert attachment: %w", err)
	}
	return nil
}

// PendingAttachments lists a message's attachments still to be fetched (a
// URL or descriptor, no content, no reason it is missing), with their
// descriptors.
func (s *Store) PendingAttachments(ctx context.Context, messageID int64) ([]Attachment, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+attachmentCols+`, a.descriptor FROM attachments a
		WHERE a.message_id = $1 AND (a.url <> '' OR length(a.descriptor) > 0) AND a.sha256 = '' AND a.missing_reason = ''
		ORDER BY a.id`, messageID)
	if err != nil {
		return nil, fmt.Errorf("pending attachments: %w", err)
	}
	return collect(rows, func(r rowScanner) (Attachment, error) {
		var a Attachment
		err := r.Scan(&a.ID, &a.MessageID, &a.Filename, &a.ContentType, &a.Size, &a.SHA256, &a.URL, &a.MissingReason, timeCol{&a.CreatedAt}, &a.Descriptor)
		return a, err
	}, "pending attachments")
}

// SetAttachmentContent records a fetched attachment's blob. The descriptor
// has served its purpose and is dropped.
func (s *Store) SetAttachmentContent(ctx context.Context, attachmentID int64, sha256hex string, size int64, contentType string) error {
	if !validDigest(sha256hex) {
		return fmt.Errorf("set attachment content: %q is not a lower-case hex SHA-256", sha256hex)
	}
	return s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE attachments
			SET sha256 = $1, size = $2, content_type = CASE WHEN CAST($3 AS TEXT) = '' THEN content_type ELSE CAST($3 AS TEXT) END,
				descriptor = $4, missing_reason = ''
			WHERE id = $5`, sha256hex, size, contentType, []byte{}, attachmentID)
		return affectedOne(res, err, fmt.Sprintf("set content of attachment %d", attachmentID))
	})
}

// SetAttachmentMissing settles an attachment whose content cannot be had:
// it stays listed, without content, with the reason. The descriptor is
// dropped.
func (s *Store) SetAttachmentMissing(ctx context.Context, attachmentID int64, reason string) error {
	if reason == "" {
		return errors.New("set attachment missing: a reason is required")
	}
	return s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE attachments SET missing_reason = $1, descriptor = $2 WHERE id = $3 AND sha256 = ''`,
			reason, []byte{}, attachmentID)
		return affectedOne(res, err, fmt.Sprintf("set attachment %d missing", attachmentID))
	})
}

// collect scans all rows with scan.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error), what string) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
