package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// fieldsJSON encodes a message's fields for its column.
func fieldsJSON(f []message.Field) (string, error) {
	if len(f) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(f)
	if err != nil {
		return "", fmt.Errorf("fields: %w", err)
	}
	return string(b), nil
}

// fieldsCol scans the fields column; an empty list is nil.
type fieldsCol struct{ f *[]message.Field }

func (c fieldsCol) Scan(v any) error {
	var s sql.NullString
	if err := s.Scan(v); err != nil {
		return err
	}
	*c.f = nil
	if !s.Valid || s.String == "" || s.String == "[]" {
		return nil
	}
	if err := json.Unmarshal([]byte(s.String), c.f); err != nil {
		return fmt.Errorf("scan fields: %w", err)
	}
	return nil
}

// InstanceKey returns the deployment's random key called name, of size
// bytes, making it on first use. Every replica on the database gets the
// same key; a key, once made, never changes.
func (s *Store) InstanceKey(ctx context.Context, name string, size int) ([]byte, error) {
	if name == "" || size < 16 {
		return nil, fmt.Errorf("instance key %q: a name and at least 16 bytes are needed", name)
	}
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("instance key %q: %w", name, err)
	}
	var key []byte
	err := s.InTx(ctx, func(tx *Tx) error {
		// Whoever inserts first wins; everyone reads the winner's.
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO instance_keys (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
			name, fresh, s.dbTime(now())); err != nil {
			return err
		}
		return tx.tx.QueryRowContext(ctx, `SELECT value FROM instance_keys WHERE name = $1`, name).Scan(&key)
	})
	if err != nil {
		return nil, fmt.Errorf("instance key %q: %w", name, err)
	}
	if len(key) != size {
		return nil, fmt.Errorf("instance key %q is %d bytes, want %d", name, len(key), size)
	}
	return key, nil
}

// SubmissionTicket says what a channel's message external id became: the
// reference of the ticket it opened (or joined), "" when none. found is
// false while the message is not stored.
func (s *Store) SubmissionTicket(ctx context.Context, channelID int64, externalID string) (ref, topic string, found bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT m.topic, COALESCE((SELECT t.ref FROM tickets t WHERE t.conversation_id = m.conversation_id ORDER BY t.id LIMIT 1), '')
		FROM messages m WHERE m.channel_id = $1 AND m.external_id = $2`, channelID, externalID).Scan(&topic, &ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("submission ticket: %w", err)
	}
	return ref, topic, true, nil
}

// CountFromIdentities counts the messages a channel stored since from the
// contacts that own any of the identities: a form's per-contact limit,
// which holds across replicas because it is read from the database.
func (s *Store) CountFromIdentities(ctx context.Context, channelID int64, ids []message.Party, since time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var conds []string
	args := []any{channelID, s.dbTime(since)}
	for _, p := range ids {
		args = append(args, string(p.Kind), p.Value)
		conds = append(conds, fmt.Sprintf("(i.kind = $%d AND i.value = $%d)", len(args)-1, len(args)))
	}
	q := `SELECT count(*) FROM messages m WHERE m.channel_id = $1 AND m.created_at >= $2 AND m.contact_id IN
		(SELECT i.contact_id FROM contact_identities i WHERE ` + strings.Join(conds, " OR ") + `)`
	var n int
	if err := s.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count messages from identities: %w", err)
	}
	return n, nil
}

// LastOutboundRoute is the channel and address the conversation's newest
// outbound message went to: where a form's or a call's conversation is
// answered (those channels send nothing themselves).
func (tx *Tx) LastOutboundRoute(ctx context.Context, conversationID int64) (message.Route, bool, error) {
	var r message.Route
	err := tx.tx.QueryRowContext(ctx, `SELECT o.channel_id, ch.kind, o.to_kind, o.to_value, o.to_name FROM outbound_messages o
		JOIN channels ch ON ch.id = o.channel_id WHERE o.conversation_id = $1 ORDER BY o.id DESC LIMIT 1`, conversationID).
		Scan(&r.ChannelID, &r.Channel, &r.To.Kind, &r.To.Value, &r.To.Name)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("last outbound route: %w", err)
	}
	return r, true, nil
}
