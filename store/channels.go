package store

import (
	"context"
	"errors"
	"fmt"
)

const channelCols = `ch.id, ch.name, ch.kind, ch.config, ch.secret, ch.enabled, ch.created_at`

func scanChannel(r rowScanner) (Channel, error) {
	var c Channel
	err := r.Scan(&c.ID, &c.Name, &c.Kind, jsonCol{&c.Config}, &c.Secret, &c.Enabled, timeCol{&c.CreatedAt})
	return c, err
}

// UpsertChannel creates the channel named c.Name or updates its kind,
// config and enabled flag, and sets c.ID and c.CreatedAt. The secret is
// replaced only when c.Secret is non-nil, so settings can be edited
// without handling credentials.
func (s *Store) UpsertChannel(ctx context.Context, c *Channel) error {
	if c.Name == "" {
		return errors.New("upsert channel: name is required")
	}
	if !c.Kind.Valid() {
		return fmt.Errorf("upsert channel %q: unknown kind %q", c.Name, c.Kind)
	}
	config, err := rawJSON("config", c.Config)
	if err != nil {
		return fmt.Errorf("upsert channel %q: %w", c.Name, err)
	}
	if config == nil {
		config = "{}"
	}
	var secret any // NULL keeps the stored secret
	if c.Secret != nil {
		secret = c.Secret
	}
	at := s.dbTime(now())
	return s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `INSERT INTO channels (name, kind, config, secret, enabled, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $6)
			ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config,
				secret = COALESCE(excluded.secret, channels.secret), enabled = excluded.enabled,
				updated_at = excluded.updated_at
			RETURNING id, created_at`,
			c.Name, string(c.Kind), config, secret, c.Enabled, at).Scan(&c.ID, timeCol{&c.CreatedAt})
		if err != nil {
			return fmt.Errorf("upsert channel %q: %w", c.Name, err)
		}
		return nil
	})
}

// Channel reads a channel by id.
func (s *Store) Channel(ctx context.Context, id int64) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelCols+` FROM channels ch WHERE ch.id = $1`, id))
	if err != nil {
		return Channel{}, notFound(err, fmt.Sprintf("channel %d", id))
	}
	return c, nil
}

// ChannelByName reads a channel by its unique name.
func (s *Store) ChannelByName(ctx context.Context, name string) (Channel, error) {
	c, err := scanChannel(s.db.QueryRowContext(ctx, `SELECT `+channelCols+` FROM channels ch WHERE ch.name = $1`, name))
	if err != nil {
		return Channel{}, notFound(err, fmt.Sprintf("channel %q", name))
	}
	return c, nil
}

// Channels lists all channels by name.
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelCols+` FROM channels ch ORDER BY ch.name`)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	return collect(rows, scanChannel, "channels")
}
