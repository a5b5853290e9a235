package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const channelCols = `ch.id, ch.name, ch.kind, ch.config, ch.secret, ch.enabled, ch.source, ch.revision, ch.deleted_at,
	ch.action, ch.action_seq, ch.created_at, ch.updated_at`

func scanChannel(r rowScanner) (Channel, error) {
	var c Channel
	err := r.Scan(&c.ID, &c.Name, &c.Kind, jsonCol{&c.Config}, &c.Secret, &c.Enabled, &c.Source, &c.Revision,
		nullTimeCol{&c.DeletedAt}, &c.Action, &c.ActionSeq, timeCol{&c.CreatedAt}, timeCol{&c.UpdatedAt})
	return c, err
}

// ErrNameTaken: a channel of the other source (file or UI) has the name.
var ErrNameTaken = errors.New("channel name taken")

// UpsertChannel creates the channel named c.Name or updates its kind,
// config and enabled flag, and sets c.ID and c.CreatedAt: the channels of
// the config file, written at every start. The secret is replaced only when
// c.Secret is non-nil, so settings can be edited without handling
// credentials. A channel of that name added in the web UI is left alone
// (ErrNameTaken).
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
		err := tx.tx.QueryRowContext(ctx, `INSERT INTO channels (name, kind, config, secret, enabled, source, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'config', $6, $6)
			ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, config = excluded.config,
				secret = COALESCE(excluded.secret, channels.secret), enabled = excluded.enabled,
				updated_at = excluded.updated_at
			WHERE channels.source = 'config'
			RETURNING id, created_at`,
			c.Name, string(c.Kind), config, secret, c.Enabled, at).Scan(&c.ID, timeCol{&c.CreatedAt})
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("channel %q of the config file: a channel added in the web UI has that name (rename one of them): %w", c.Name, ErrNameTaken)
		}
		if err != nil {
			return fmt.Errorf("upsert channel %q: %w", c.Name, err)
		}
		c.Source = SourceConfig
		return nil
	})
}

// Channel reads a channel by id.
func (s *Store) Channel(ctx context.Context, id int64) (Channel, error) {
	return channelWhere(ctx, s.db, "ch.id = $1", id)
}

func channelWhere(ctx context.Context, q queryer, where string, arg any) (Channel, error) {
	c, err := scanChannel(q.QueryRowContext(ctx, `SELECT `+channelCols+` FROM channels ch WHERE `+where, arg))
	if err != nil {
		return Channel{}, notFound(err, fmt.Sprintf("channel %v", arg))
	}
	return c, nil
}

// ChannelByName reads a channel by its unique name.
func (s *Store) ChannelByName(ctx context.Context, name string) (Channel, error) {
	return channelWhere(ctx, s.db, "ch.name = $1", name)
}

// Channels lists all channels by name, deleted ones too (their
// conversations still name them).
func (s *Store) Channels(ctx context.Context) ([]Channel, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+channelCols+` FROM channels ch ORDER BY ch.name`)
	if err != nil {
		return nil, fmt.Errorf("channels: %w", err)
	}
	return collect(rows, scanChannel, "channels")
}

// CreateChannel adds a channel from the web UI (source ui, revision 1) and
// sets c.ID. seal, when not nil, makes the channel's encrypted secret from
// its id, which it is bound to; it runs in the same transaction. A name
// already used, by the file or the UI, is ErrDuplicate.
func (tx *Tx) CreateChannel(ctx context.Context, c *Channel, seal func(id int64) ([]byte, error)) error {
	if c.Name == "" || !c.Kind.Valid() {
		return fmt.Errorf("create channel %q: a name and a known kind (%q) are required", c.Name, c.Kind)
	}
	config, err := rawJSON("config", c.Config)
	if err != nil {
		return fmt.Errorf("create channel %q: %w", c.Name, err)
	}
	if config == nil {
		config = "{}"
	}
	at := now()
	err = tx.tx.QueryRowContext(ctx, `INSERT INTO channels (name, kind, config, enabled, source, revision, created_at, updated_at)
		VALUES ($1, $2, $3, $4, 'ui', 1, $5, $5) ON CONFLICT (name) DO NOTHING RETURNING id`,
		c.Name, string(c.Kind), config, c.Enabled, tx.s.dbTime(at)).Scan(&c.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("create channel %q: %w", c.Name, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create channel %q: %w", c.Name, err)
	}
	c.Source, c.Revision, c.CreatedAt, c.UpdatedAt = SourceUI, 1, at, at
	if seal == nil {
		return nil
	}
	if c.Secret, err = seal(c.ID); err != nil {
		return err
	}
	return tx.SetChannelSecret(ctx, c.ID, c.Secret)
}

// SetChannelSecret replaces a channel's encrypted secret (nil: none).
func (tx *Tx) SetChannelSecret(ctx context.Context, id int64, secret []byte) error {
	var v any
	if secret != nil {
		v = secret
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE channels SET secret = $1 WHERE id = $2`, v, id)
	return affectedOne(res, err, fmt.Sprintf("set secret of channel %d", id))
}

// uiChannel bumps a UI channel's revision with the change in set (SQL
// assignments on $1…, args after); a channel from the file, or deleted, is
// ErrNotFound or ErrConflict.
func (tx *Tx) changeUIChannel(ctx context.Context, id int64, what, set string, args ...any) error {
	n := len(args)
	res, err := tx.tx.ExecContext(ctx, `UPDATE channels SET `+set+`, revision = revision + 1, updated_at = $`+fmt.Sprint(n+1)+`
		WHERE id = $`+fmt.Sprint(n+2)+` AND source = 'ui' AND deleted_at IS NULL`, append(args, tx.s.dbTime(now()), id)...)
	if err := affectedOne(res, err, fmt.Sprintf("%s channel %d", what, id)); err != nil {
		if errors.Is(err, ErrNotFound) {
			if c, cerr := tx.Channel(ctx, id); cerr == nil && (c.Source != SourceUI || c.DeletedAt != nil) {
				return fmt.Errorf("%s channel %q: it is %s: %w", what, c.Name, map[bool]string{true: "deleted", false: "from the config file"}[c.DeletedAt != nil], ErrReadOnly)
			}
		}
		return err
	}
	return nil
}

// ErrReadOnly: the channel comes from the config file, or was deleted; the
// UI cannot change it.
var ErrReadOnly = errors.New("read-only")

// UpdateChannel saves a UI channel's name, config and enabled flag, and its
// secret when secret is not nil, and moves its revision. A name already
// used is ErrDuplicate.
func (tx *Tx) UpdateChannel(ctx context.Context, c Channel, secret []byte) error {
	config, err := rawJSON("config", c.Config)
	if err != nil {
		return fmt.Errorf("update channel %d: %w", c.ID, err)
	}
	if config == nil {
		config = "{}"
	}
	var sec any // NULL keeps it
	if secret != nil {
		sec = secret
	}
	err = tx.changeUIChannel(ctx, c.ID, "update", `name = $1, config = $2, enabled = $3, secret = COALESCE($4, secret)`,
		c.Name, config, c.Enabled, sec)
	if isUnique(err) {
		return fmt.Errorf("update channel %d: name %q: %w", c.ID, c.Name, ErrDuplicate)
	}
	return err
}

// SetChannelEnabled starts (true) or stops a UI channel's connectors.
func (tx *Tx) SetChannelEnabled(ctx context.Context, id int64, enabled bool) error {
	return tx.changeUIChannel(ctx, id, "enable/disable", `enabled = $1`, enabled)
}

// DeleteChannel removes a UI channel from service and forgets its
// credentials, keeping the row: its conversations and messages stay, and
// still name it. Its name is freed (the row is renamed "name~id").
func (tx *Tx) DeleteChannel(ctx context.Context, id int64) error {
	return tx.changeUIChannel(ctx, id, "delete", `enabled = $1, secret = NULL, deleted_at = $2, name = name || '~' || CAST(id AS TEXT)`,
		false, tx.s.dbTime(now()))
}

// RequestChannelAction asks whoever drives the channel (the replica that
// holds its lease) to do action (pair, logout): it sees ActionSeq move.
func (tx *Tx) RequestChannelAction(ctx context.Context, id int64, action string) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE channels SET action = $1, action_seq = action_seq + 1 WHERE id = $2 AND deleted_at IS NULL`, action, id)
	return affectedOne(res, err, fmt.Sprintf("request %s of channel %d", action, id))
}

// RotateSecrets re-encrypts every stored channel secret in one
// transaction: reseal gets each channel's id and secret and returns the new
// secret. Any error rolls everything back. It reports how many were
// re-encrypted.
func (s *Store) RotateSecrets(ctx context.Context, reseal func(id int64, name string, secret []byte) ([]byte, error)) (int, error) {
	n := 0
	err := s.InTx(ctx, func(tx *Tx) error {
		q := `SELECT id, name, secret FROM channels WHERE secret IS NOT NULL ORDER BY id`
		if s.dialect == Postgres {
			q += ` FOR UPDATE`
		}
		rows, err := tx.tx.QueryContext(ctx, q)
		if err != nil {
			return fmt.Errorf("rotate secrets: %w", err)
		}
		type row struct {
			id     int64
			name   string
			secret []byte
		}
		all, err := collect(rows, func(r rowScanner) (row, error) {
			var x row
			return x, r.Scan(&x.id, &x.name, &x.secret)
		}, "rotate secrets")
		if err != nil {
			return err
		}
		for _, x := range all {
			sec, err := reseal(x.id, x.name, x.secret)
			if err != nil {
				return fmt.Errorf("channel %q: %w", x.name, err)
			}
			if err := tx.SetChannelSecret(ctx, x.id, sec); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ChannelStatus is what a channel's connector last reported, as JSON, and
// which replica reported it when.
type ChannelStatus struct {
	ChannelID int64
	Replica   string
	Status    []byte
	UpdatedAt time.Time
}

// PutChannelStatus records a connector's status.
func (s *Store) PutChannelStatus(ctx context.Context, st ChannelStatus) error {
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = now()
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO channel_status (channel_id, replica, status, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (channel_id) DO UPDATE SET replica = excluded.replica, status = excluded.status, updated_at = excluded.updated_at`,
		st.ChannelID, st.Replica, string(st.Status), s.dbTime(st.UpdatedAt))
	if err != nil {
		return fmt.Errorf("put status of channel %d: %w", st.ChannelID, err)
	}
	return nil
}

// ChannelStatuses is every channel's last reported status, by channel id.
func (s *Store) ChannelStatuses(ctx context.Context) (map[int64]ChannelStatus, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT channel_id, replica, status, updated_at FROM channel_status`)
	if err != nil {
		return nil, fmt.Errorf("channel statuses: %w", err)
	}
	list, err := collect(rows, func(r rowScanner) (ChannelStatus, error) {
		var st ChannelStatus
		var body string
		err := r.Scan(&st.ChannelID, &st.Replica, &body, timeCol{&st.UpdatedAt})
		st.Status = []byte(body)
		return st, err
	}, "channel statuses")
	if err != nil {
		return nil, err
	}
	out := make(map[int64]ChannelStatus, len(list))
	for _, st := range list {
		out[st.ChannelID] = st
	}
	return out, nil
}

// ChannelActivity is a channel's traffic as the operator page shows it
// (ChannelSendStatuses says how its sends fare).
type ChannelActivity struct {
	In, Out int64 // messages received and replies written since the time asked
	// LastIn is when the newest message arrived (for Twilio channels, the
	// last webhook that carried one).
	LastIn *time.Time
}

// ChannelActivity counts a channel's messages in and replies out since
// since, and finds when its last message came.
func (s *Store) ChannelActivity(ctx context.Context, id int64, since time.Time) (ChannelActivity, error) {
	var a ChannelActivity
	err := s.db.QueryRowContext(ctx, `SELECT
			(SELECT count(*) FROM messages WHERE channel_id = $1 AND created_at >= $2),
			(SELECT count(*) FROM outbound_messages WHERE channel_id = $1 AND created_at >= $2),
			(SELECT max(created_at) FROM messages WHERE channel_id = $1)`,
		id, s.dbTime(since)).Scan(&a.In, &a.Out, nullTimeCol{&a.LastIn})
	if err != nil {
		return a, fmt.Errorf("activity of channel %d: %w", id, err)
	}
	return a, nil
}
