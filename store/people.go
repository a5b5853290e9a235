package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// User roles. An agent works the conversations of their departments and
// those assigned to them; an operator sees everything and configures Wasl.
const (
	RoleAgent    = "agent"
	RoleOperator = "operator"
)

// ValidRole reports whether r is a user role.
func ValidRole(r string) bool { return r == RoleAgent || r == RoleOperator }

// User is a member of staff.
type User struct {
	ID          int64    `json:"id"`
	Email       string   `json:"email"`
	Name        string   `json:"name"`
	Role        string   `json:"role"`
	Departments []string `json:"departments"`
	Language    string   `json:"language"`            // ar or en
	TimeZone    string   `json:"time_zone,omitempty"` // IANA name; empty: the bank's
	Active      bool     `json:"active"`
	// PasswordHash is an argon2id PHC string; never marshalled.
	PasswordHash string    `json:"-"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// InDepartment reports whether the user belongs to department d.
func (u User) InDepartment(d string) bool { return slices.Contains(u.Departments, d) }

// Session is a signed-in browser. The store keeps only the SHA-256 of its
// cookie value.
type Session struct {
	TokenHash  string    `json:"-"`
	UserID     int64     `json:"user_id"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ExpiresAt  time.Time `json:"expires_at"` // absolute expiry
	IP         string    `json:"ip,omitempty"`
	UserAgent  string    `json:"user_agent,omitempty"`
}

// APIToken is a personal API token; the store keeps only its SHA-256.
type APIToken struct {
	ID         int64      `json:"id"`
	UserID     int64      `json:"user_id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

const userCols = `u.id, u.email, u.name, u.role, u.language, u.time_zone, u.password_hash, u.active, u.created_at, u.updated_at`

func scanUser(r rowScanner) (User, error) {
	var u User
	err := r.Scan(&u.ID, &u.Email, &u.Name, &u.Role, &u.Language, &u.TimeZone, &u.PasswordHash, &u.Active,
		timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	return u, err
}

func normEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func checkUser(u *User) error {
	u.Email = normEmail(u.Email)
	if u.Email == "" || !strings.Contains(u.Email, "@") {
		return fmt.Errorf("user email %q: want an address", u.Email)
	}
	if strings.TrimSpace(u.Name) == "" {
		return errors.New("user name is required")
	}
	if !ValidRole(u.Role) {
		return fmt.Errorf("user role %q: want agent or operator", u.Role)
	}
	if u.Language == "" {
		u.Language = "ar"
	}
	if u.Language != "ar" && u.Language != "en" {
		return fmt.Errorf("user language %q: want ar or en", u.Language)
	}
	return nil
}

// CreateUser stores u and sets u.ID. An email already taken is
// ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, u *User) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.CreateUser(ctx, u) })
}

// CreateUser is Store.CreateUser inside a transaction.
func (tx *Tx) CreateUser(ctx context.Context, u *User) error {
	if err := checkUser(u); err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if u.PasswordHash == "" {
		return errors.New("create user: password hash is required")
	}
	at := now()
	u.CreatedAt, u.UpdatedAt = at, at
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO users (email, name, role, language, time_zone, password_hash, active, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT DO NOTHING RETURNING id`,
		u.Email, u.Name, u.Role, u.Language, u.TimeZone, u.PasswordHash, u.Active, tx.s.dbTime(at)).Scan(&u.ID)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("create user %s: %w", u.Email, ErrDuplicate)
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", u.Email, err)
	}
	return tx.setDepartments(ctx, u.ID, u.Departments)
}

func (tx *Tx) setDepartments(ctx context.Context, userID int64, deps []string) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM user_departments WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("set departments of user %d: %w", userID, err)
	}
	for _, d := range deps {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO user_departments (user_id, department) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, d); err != nil {
			return fmt.Errorf("set departments of user %d: %w", userID, err)
		}
	}
	return nil
}

// UpdateUser saves u's name, role, language, time zone and departments.
func (s *Store) UpdateUser(ctx context.Context, u User) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.UpdateUser(ctx, u) })
}

// UpdateUser is Store.UpdateUser inside a transaction.
func (tx *Tx) UpdateUser(ctx context.Context, u User) error {
	if err := checkUser(&u); err != nil {
		return fmt.Errorf("update user: %w", err)
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE users SET name = $1, role = $2, language = $3, time_zone = $4, updated_at = $5 WHERE id = $6`,
		u.Name, u.Role, u.Language, u.TimeZone, tx.s.dbTime(now()), u.ID)
	if err := affectedOne(res, err, fmt.Sprintf("update user %d", u.ID)); err != nil {
		return err
	}
	return tx.setDepartments(ctx, u.ID, u.Departments)
}

func userDepartments(ctx context.Context, q queryer, id int64) ([]string, error) {
	rows, err := q.QueryContext(ctx, `SELECT department FROM user_departments WHERE user_id = $1 ORDER BY department`, id)
	if err != nil {
		return nil, fmt.Errorf("departments of user %d: %w", id, err)
	}
	deps, err := collect(rows, func(r rowScanner) (string, error) {
		var d string
		return d, r.Scan(&d)
	}, "user departments")
	if deps == nil {
		deps = []string{}
	}
	return deps, err
}

func (s *Store) userWhere(ctx context.Context, where string, arg any) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users u WHERE `+where, arg))
	if err != nil {
		return User{}, notFound(err, fmt.Sprintf("user %v", arg))
	}
	u.Departments, err = userDepartments(ctx, s.db, u.ID)
	return u, err
}

// UserByID reads a user.
func (s *Store) UserByID(ctx context.Context, id int64) (User, error) {
	return s.userWhere(ctx, "u.id = $1", id)
}

// UserByEmail reads a user by email address (case-insensitive).
func (s *Store) UserByEmail(ctx context.Context, email string) (User, error) {
	return s.userWhere(ctx, "u.email = $1", normEmail(email))
}

// Users lists every user by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+userCols+` FROM users u ORDER BY u.name, u.id`)
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	users, err := collect(rows, scanUser, "users")
	if err != nil {
		return nil, err
	}
	for i := range users {
		if users[i].Departments, err = userDepartments(ctx, s.db, users[i].ID); err != nil {
			return nil, err
		}
	}
	return users, nil
}

// SetUserPassword replaces a user's password hash and signs the user out
// everywhere: whoever knew the old password loses the session it gave.
func (s *Store) SetUserPassword(ctx context.Context, id int64, hash string) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.SetUserPassword(ctx, id, hash) })
}

// SetUserPassword is Store.SetUserPassword inside a transaction.
func (tx *Tx) SetUserPassword(ctx context.Context, id int64, hash string) error {
	if hash == "" {
		return errors.New("set password: hash is required")
	}
	res, err := tx.tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, hash, tx.s.dbTime(now()), id)
	if err := affectedOne(res, err, fmt.Sprintf("set password of user %d", id)); err != nil {
		return err
	}
	return tx.DeleteUserSessions(ctx, id)
}

// SetUserActive enables or disables a user. Disabling deletes the user's
// sessions in the same transaction; session and token look-ups also check
// the flag, so nothing the user holds works a moment longer.
func (s *Store) SetUserActive(ctx context.Context, id int64, active bool) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.SetUserActive(ctx, id, active) })
}

// SetUserActive is Store.SetUserActive inside a transaction.
func (tx *Tx) SetUserActive(ctx context.Context, id int64, active bool) error {
	res, err := tx.tx.ExecContext(ctx, `UPDATE users SET active = $1, updated_at = $2 WHERE id = $3`, active, tx.s.dbTime(now()), id)
	if err := affectedOne(res, err, fmt.Sprintf("set active of user %d", id)); err != nil {
		return err
	}
	if !active {
		return tx.DeleteUserSessions(ctx, id)
	}
	return nil
}

// DeleteUserSessions signs a user out everywhere.
func (tx *Tx) DeleteUserSessions(ctx context.Context, userID int64) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID); err != nil {
		return fmt.Errorf("revoke sessions of user %d: %w", userID, err)
	}
	return nil
}

// CreateSession stores a new session. A non-empty replace names a session
// (by token hash) the same browser held before, deleted in the same
// transaction: the session id is rotated at sign-in.
func (s *Store) CreateSession(ctx context.Context, sess Session, replace string) error {
	if sess.TokenHash == "" || sess.UserID == 0 || sess.ExpiresAt.IsZero() {
		return errors.New("create session: token hash, user and expiry are required")
	}
	if sess.CreatedAt.IsZero() {
		sess.CreatedAt = now()
	}
	if sess.LastSeenAt.IsZero() {
		sess.LastSeenAt = sess.CreatedAt
	}
	return s.InTx(ctx, func(tx *Tx) error {
		if replace != "" {
			if _, err := tx.tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, replace); err != nil {
				return fmt.Errorf("rotate session: %w", err)
			}
		}
		_, err := tx.tx.ExecContext(ctx, `INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, expires_at, ip, user_agent)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, sess.TokenHash, sess.UserID, s.dbTime(sess.CreatedAt), s.dbTime(sess.LastSeenAt),
			s.dbTime(sess.ExpiresAt), sess.IP, sess.UserAgent)
		if err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
}

// SessionUser finds the live session with this token hash and its user:
// not past its absolute expiry, seen at or after idleCutoff, and held by an
// active user. Anything else is ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, tokenHash string, at, idleCutoff time.Time) (Session, User, error) {
	var sess Session
	row := s.db.QueryRowContext(ctx, `SELECT s.token_hash, s.user_id, s.created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, `+userCols+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > $2 AND s.last_seen_at >= $3 AND u.active = TRUE`,
		tokenHash, s.dbTime(at), s.dbTime(idleCutoff))
	var u User
	err := row.Scan(&sess.TokenHash, &sess.UserID, timeCol{&sess.CreatedAt}, timeCol{&sess.LastSeenAt}, timeCol{&sess.ExpiresAt},
		&sess.IP, &sess.UserAgent,
		&u.ID, &u.Email, &u.Name, &u.Role, &u.Language, &u.TimeZone, &u.PasswordHash, &u.Active, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return Session{}, User{}, notFound(err, "session")
	}
	u.Departments, err = userDepartments(ctx, s.db, u.ID)
	return sess, u, err
}

// TouchSession records activity on a session (idle expiry counts from it).
func (s *Store) TouchSession(ctx context.Context, tokenHash string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE token_hash = $2`, s.dbTime(at), tokenHash)
	if err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

// DeleteSession signs a session out.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = $1`, tokenHash)
		return err
	})
}

// DeleteUserSessions signs a user out everywhere.
func (s *Store) DeleteUserSessions(ctx context.Context, userID int64) error {
	return s.InTx(ctx, func(tx *Tx) error { return tx.DeleteUserSessions(ctx, userID) })
}

// DeleteExpiredSessions removes sessions past their absolute expiry or
// idle since before idleCutoff, and says how many went.
func (s *Store) DeleteExpiredSessions(ctx context.Context, at, idleCutoff time.Time) (int64, error) {
	var n int64
	err := s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at < $2`, s.dbTime(at), s.dbTime(idleCutoff))
		if err != nil {
			return fmt.Errorf("delete expired sessions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CreateAPIToken stores a personal API token by its hash and sets t.ID.
func (s *Store) CreateAPIToken(ctx context.Context, t *APIToken, hash string) error {
	if t.UserID == 0 || hash == "" {
		return errors.New("create api token: user and hash are required")
	}
	t.CreatedAt = now()
	return s.InTx(ctx, func(tx *Tx) error {
		err := tx.tx.QueryRowContext(ctx, `INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
			t.UserID, t.Name, hash, s.dbTime(t.CreatedAt)).Scan(&t.ID)
		if err != nil {
			return fmt.Errorf("create api token: %w", err)
		}
		return nil
	})
}

// APITokenUser finds the unrevoked token with this hash and its active
// user; anything else is ErrNotFound.
func (s *Store) APITokenUser(ctx context.Context, hash string) (APIToken, User, error) {
	var t APIToken
	var u User
	err := s.db.QueryRowContext(ctx, `SELECT t.id, t.user_id, t.name, t.created_at, t.last_used_at, t.revoked_at, `+userCols+`
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.active = TRUE`, hash).
		Scan(&t.ID, &t.UserID, &t.Name, timeCol{&t.CreatedAt}, nullTimeCol{&t.LastUsedAt}, nullTimeCol{&t.RevokedAt},
			&u.ID, &u.Email, &u.Name, &u.Role, &u.Language, &u.TimeZone, &u.PasswordHash, &u.Active, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	if err != nil {
		return APIToken{}, User{}, notFound(err, "api token")
	}
	u.Departments, err = userDepartments(ctx, s.db, u.ID)
	return t, u, err
}

// TouchAPIToken records when a token was last used.
func (s *Store) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, s.dbTime(at), id)
	if err != nil {
		return fmt.Errorf("touch api token: %w", err)
	}
	return nil
}

// APITokens lists a user's tokens, newest first.
func (s *Store) APITokens(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, user_id, name, created_at, last_used_at, revoked_at FROM api_tokens
		WHERE user_id = $1 ORDER BY id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("api tokens: %w", err)
	}
	return collect(rows, func(r rowScanner) (APIToken, error) {
		var t APIToken
		err := r.Scan(&t.ID, &t.UserID, &t.Name, timeCol{&t.CreatedAt}, nullTimeCol{&t.LastUsedAt}, nullTimeCol{&t.RevokedAt})
		return t, err
	}, "api tokens")
}

// RevokeAPIToken revokes one of a user's tokens.
func (s *Store) RevokeAPIToken(ctx context.Context, userID, id int64) error {
	return s.InTx(ctx, func(tx *Tx) error {
		res, err := tx.tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`,
			s.dbTime(now()), id, userID)
		return affectedOne(res, err, fmt.Sprintf("revoke api token %d", id))
	})
}

// LoginLockedUntil is the latest lock on any of keys still in force at
// at; zero when none is.
func (s *Store) LoginLockedUntil(ctx context.Context, at time.Time, keys ...string) (time.Time, error) {
	var until time.Time
	for _, k := range keys {
		var t time.Time
		err := s.db.QueryRowContext(ctx, `SELECT locked_until FROM login_throttle WHERE key = $1 AND locked_until > $2`,
			k, s.dbTime(at)).Scan(timeCol{&t})
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return time.Time{}, fmt.Errorf("login throttle: %w", err)
		}
		if t.After(until) {
			until = t
		}
	}
	return until, nil
}

// RecordLoginFailure counts a failed sign-in against each key. Failures
// count within window; the max-th locks the key for lockFor. It returns
// the lock now in force, zero when none.
func (s *Store) RecordLoginFailure(ctx context.Context, at time.Time, window time.Duration, max int, lockFor time.Duration, keys ...string) (time.Time, error) {
	var until time.Time
	err := s.InTx(ctx, func(tx *Tx) error {
		for _, k := range keys {
			var failures int
			var start time.Time
			var locked *time.Time
			err := tx.tx.QueryRowContext(ctx, `SELECT failures, window_start, locked_until FROM login_throttle WHERE key = $1`, k).
				Scan(&failures, timeCol{&start}, nullTimeCol{&locked})
			switch {
			case errors.Is(err, sql.ErrNoRows):
				failures, start = 0, at
			case err != nil:
				return fmt.Errorf("login throttle: %w", err)
			}
			if at.Sub(start) > window || (locked != nil && !locked.After(at)) {
				// The window passed, or a lock ran out: count afresh.
				failures, start, locked = 0, at, nil
			}
			failures++
			if failures >= max && locked == nil {
				l := at.Add(lockFor)
				locked = &l
			}
			if locked != nil && locked.After(until) {
				until = *locked
			}
			_, err = tx.tx.ExecContext(ctx, `INSERT INTO login_throttle (key, failures, window_start, locked_until) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, window_start = excluded.window_start, locked_until = excluded.locked_until`,
				k, failures, s.dbTime(start), s.dbTimePtr(locked))
			if err != nil {
				return fmt.Errorf("login throttle: %w", err)
			}
		}
		return nil
	})
	return until, err
}

// ClearLoginFailures forgets failures on a key after a good sign-in.
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	return s.InTx(ctx, func(tx *Tx) error {
		_, err := tx.tx.ExecContext(ctx, `DELETE FROM login_throttle WHERE key = $1`, key)
		return err
	})
}
