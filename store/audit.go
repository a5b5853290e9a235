package store

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// AuditEntry is one change an operator made: to a channel, a user, a
// department or the knowledge bank. Detail names what changed (fields,
// never a secret's value).
type AuditEntry struct {
	ID         int64     `json:"id"`
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`      // e.g. channel.update, user.disable, bank.reload
	TargetKind string    `json:"target_kind"` // channel, user, department, bank
	Target     string    `json:"target"`      // its name, email or id
	Detail     string    `json:"detail,omitempty"`
}

// AddAudit records e in the transaction of the change it describes.
func (tx *Tx) AddAudit(ctx context.Context, e *AuditEntry) error {
	if e.Actor == "" || e.Action == "" || e.TargetKind == "" {
		return fmt.Errorf("audit entry %+v: actor, action and target kind are required", *e)
	}
	if e.At.IsZero() {
		e.At = now()
	}
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO audit_log (at, actor, action, target_kind, target, detail)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		tx.s.dbTime(e.At), e.Actor, e.Action, e.TargetKind, e.Target, e.Detail).Scan(&e.ID)
	if err != nil {
		return fmt.Errorf("audit %s: %w", e.Action, err)
	}
	return nil
}

// Audited runs fn and records e in the same transaction: the change and
// its record commit together or not at all.
func (s *Store) Audited(ctx context.Context, e AuditEntry, fn func(tx *Tx) error) error {
	return s.InTx(ctx, func(tx *Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return tx.AddAudit(ctx, &e)
	})
}

// AuditFilter selects audit entries, newest first.
type AuditFilter struct {
	TargetKind, Target string // either may be empty: any
	BeforeID           int64  // keyset paging: entries older than this id
	Limit              int    // default 50, at most 500
}

// AuditLog lists audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.TargetKind != "" {
		add("target_kind = $%d", f.TargetKind)
	}
	if f.Target != "" {
		add("target = $%d", f.Target)
	}
	if f.BeforeID > 0 {
		add("id < $%d", f.BeforeID)
	}
	q := `SELECT id, at, actor, action, target_kind, target, detail FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, " AND ")
	}
	args = append(args, limit(f.Limit))
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args))
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return collect(rows, func(r rowScanner) (AuditEntry, error) {
		var e AuditEntry
		return e, r.Scan(&e.ID, timeCol{&e.At}, &e.Actor, &e.Action, &e.TargetKind, &e.Target, &e.Detail)
	}, "audit log")
}

// SetDepartmentHead makes a member the department's head (its default
// assignee, whom the ticket workflow assigns new tickets to); userID 0
// leaves the department without one. One model of heads for the operator
// pages and the workflow: user_departments.head (migration 00024).
func (tx *Tx) SetDepartmentHead(ctx context.Context, department string, userID int64) error {
	if strings.TrimSpace(department) == "" {
		return fmt.Errorf("set department head: department is required")
	}
	// The former head steps down first: one head per department (index).
	if _, err := tx.tx.ExecContext(ctx, `UPDATE user_departments SET head = FALSE WHERE department = $1 AND user_id <> $2`, department, userID); err != nil {
		return fmt.Errorf("set head of %s: %w", department, err)
	}
	if userID == 0 {
		return nil
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE user_departments SET head = TRUE WHERE user_id = $1 AND department = $2`, userID, department)
	return affectedOne(res, err, fmt.Sprintf("set head of %s (user %d is not in it?)", department, userID))
}

// DepartmentHeads maps each department that has a head to the head's user
// id.
func (s *Store) DepartmentHeads(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT department, user_id FROM user_departments WHERE head = TRUE`)
	if err != nil {
		return nil, fmt.Errorf("department heads: %w", err)
	}
	type head struct {
		dep string
		id  int64
	}
	list, err := collect(rows, func(r rowScanner) (head, error) {
		var h head
		return h, r.Scan(&h.dep, &h.id)
	}, "department heads")
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(list))
	for _, h := range list {
		out[h.dep] = h.id
	}
	return out, nil
}
