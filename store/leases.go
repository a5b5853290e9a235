package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Leases let several gateway replicas on one database agree on which of
// them drives a connector that must run once (an IMAP account, a WhatsApp
// linked device). A lease is a row: who holds it and until when. Its holder
// renews it well before it expires; anyone may take it once it has expired,
// so a holder that died without a word (kill -9, a lost host) is replaced
// after one TTL. A holder that cannot renew in time must stop on its own:
// the store cannot reach into another process.
//
// On PostgreSQL expiry is judged by the database server's clock, so the
// replicas' clocks need not agree; on SQLite, one machine's file, by the
// clock of the process that asks.

// LeaseHolder is who asks for a lease.
type LeaseHolder struct {
	// Replica names the holder's data directory. Only one process at a
	// time may use one (the caller locks it), so a process may take over
	// a lease its replica holds without waiting for it to expire: the
	// holder can only be an earlier process of the same replica, now dead.
	Replica string
	// Process names this process of the replica; renewals and releases
	// must come from the process that acquired.
	Process string
}

func (h LeaseHolder) valid() error {
	if h.Replica == "" || h.Process == "" {
		return errors.New("lease holder needs a replica and a process")
	}
	return nil
}

// Lease is one lease row.
type Lease struct {
	Name       string    `json:"name"`
	Replica    string    `json:"replica"`
	Holder     string    `json:"holder"`
	AcquiredAt time.Time `json:"acquired_at"`
	RenewedAt  time.Time `json:"renewed_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// leaseClock is the SQL for "now" and "now + ttl", where ttl travels in
// microseconds as parameter $ttl, and the arguments that go with them:
// PostgreSQL's now() (one clock for every replica), or the caller's time on
// SQLite, in its text format.
func (s *Store) leaseClock(ttlParam int, ttl time.Duration) (nowSQL, expirySQL string, args []any) {
	if s.dialect == Postgres {
		return "now()", fmt.Sprintf("now() + $%d * interval '1 microsecond'", ttlParam), []any{ttl.Microseconds()}
	}
	t := now()
	return fmt.Sprintf("$%d", ttlParam), fmt.Sprintf("$%d", ttlParam+1), []any{s.dbTime(t), s.dbTime(t.Add(ttl))}
}

// AcquireLease takes the lease called name for ttl if nobody holds it, it
// has expired, or h's replica already holds it (see LeaseHolder.Replica),
// and reports whether h holds it now. A lease taken over this way is
// acquired anew; asking again for one h holds renews it.
func (s *Store) AcquireLease(ctx context.Context, name string, h LeaseHolder, ttl time.Duration) (bool, error) {
	if err := h.valid(); err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("acquire lease %q: ttl %v must be positive", name, ttl)
	}
	nowSQL, expirySQL, clock := s.leaseClock(4, ttl)
	var holder string
	err := s.InTx(ctx, func(tx *Tx) error {
		return tx.tx.QueryRowContext(ctx, `INSERT INTO leases (name, replica, holder, acquired_at, renewed_at, expires_at)
			VALUES ($1, $2, $3, `+nowSQL+`, `+nowSQL+`, `+expirySQL+`)
			ON CONFLICT (name) DO UPDATE SET replica = excluded.replica, holder = excluded.holder,
				acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END,
				renewed_at = excluded.renewed_at, expires_at = excluded.expires_at
			WHERE leases.expires_at <= excluded.renewed_at OR leases.replica = excluded.replica
			RETURNING holder`,
			append([]any{name, h.Replica, h.Process}, clock...)...).Scan(&holder)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // held by another replica, not expired
	}
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return holder == h.Process, nil
}

// RenewLease extends the lease h holds for another ttl from now. It reports
// false when h no longer holds it: it expired (and may have been taken by
// another), or another process of the replica took it over.
func (s *Store) RenewLease(ctx context.Context, name string, h LeaseHolder, ttl time.Duration) (bool, error) {
	if err := h.valid(); err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	if ttl <= 0 {
		return false, fmt.Errorf("renew lease %q: ttl %v must be positive", name, ttl)
	}
	nowSQL, expirySQL, clock := s.leaseClock(3, ttl)
	var n int64
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE leases SET renewed_at = `+nowSQL+`, expires_at = `+expirySQL+`
			WHERE name = $1 AND holder = $2 AND expires_at > `+nowSQL,
			append([]any{name, h.Process}, clock...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("renew lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up the lease if h holds it, so that another replica
// may take it at once instead of after it expires. Releasing a lease h
// does not hold is a no-op.
func (s *Store) ReleaseLease(ctx context.Context, name string, h LeaseHolder) error {
	err := s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, h.Process)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}

// Leases lists the lease rows by name, expired ones included: who holds
// what, for operators and tests.
func (s *Store) Leases(ctx context.Context) ([]Lease, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, replica, holder, acquired_at, renewed_at, expires_at FROM leases ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("leases: %w", err)
	}
	return collect(rows, func(r rowScanner) (Lease, error) {
		var l Lease
		err := r.Scan(&l.Name, &l.Replica, &l.Holder, timeCol{&l.AcquiredAt}, timeCol{&l.RenewedAt}, timeCol{&l.ExpiresAt})
		return l, err
	}, "leases")
}
