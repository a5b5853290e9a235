package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
)

// Change is one entry of the change feed: something happened to a
// conversation (a message in, a reply out or its delivery, a ticket event,
// an assignment…). Triggers write the feed, whoever made the change; live
// pages read it from the id they last saw.
type Change struct {
	ID             int64  `json:"id"`
	ConversationID int64  `json:"conversation_id"`
	Kind           string `json:"kind"`
	// Who may see it, as the conversation stands now.
	Department string `json:"-"`
	AssigneeID int64  `json:"-"`
}

// Changes lists changes after afterID, oldest first.
func (s *Store) Changes(ctx context.Context, afterID int64, limitN int) ([]Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT ch.id, ch.conversation_id, ch.kind, COALESCE(c.department, ''), COALESCE(c.assignee_id, 0)
		FROM changes ch LEFT JOIN conversations c ON c.id = ch.conversation_id
		WHERE ch.id > $1 ORDER BY ch.id LIMIT $2`, afterID, limit(limitN))
	if err != nil {
		return nil, fmt.Errorf("changes: %w", err)
	}
	return collect(rows, func(r rowScanner) (Change, error) {
		var c Change
		return c, r.Scan(&c.ID, &c.ConversationID, &c.Kind, &c.Department, &c.AssigneeID)
	}, "changes")
}

// LastChangeID is the newest change's id (0 when there is none): where a
// new listener starts.
func (s *Store) LastChangeID(ctx context.Context) (int64, error) {
	var id int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(max(id), 0) FROM changes`).Scan(&id); err != nil {
		return 0, fmt.Errorf("last change: %w", err)
	}
	return id, nil
}

// PruneChanges deletes changes older than before; live pages only ever
// need the last few seconds.
func (s *Store) PruneChanges(ctx context.Context, before time.Time) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(ctx, `DELETE FROM changes WHERE created_at < $1`, s.dbTime(before)); err != nil {
			return fmt.Errorf("prune changes: %w", err)
		}
		return nil
	})
}

// ErrNoListen says the database cannot push changes (SQLite): poll.
var ErrNoListen = errors.New("this database cannot notify listeners; poll instead")

// ListenChanges calls wake whenever a transaction that wrote changes
// commits, on any replica (PostgreSQL LISTEN wasl_changes on a connection
// of its own), until ctx ends or the connection fails. SQLite returns
// ErrNoListen at once.
func (s *Store) ListenChanges(ctx context.Context, wake func()) error {
	if s.dialect != Postgres {
		return ErrNoListen
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: unexpected driver connection %T", dc)
		}
		c := pc.Conn()
		if _, err := c.Exec(ctx, "LISTEN wasl_changes"); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		// The connection goes back to the pool afterwards; stop listening
		// on it first (a fresh context: ctx is likely done by then).
		defer func() {
			uctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = c.Exec(uctx, "UNLISTEN *")
		}()
		wake() // anything committed before LISTEN took effect
		for {
			if _, err := c.WaitForNotification(ctx); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("listen: %w", err)
			}
			wake()
		}
	})
}
