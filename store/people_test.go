package store

import (
	"errors"
	"slices"
	"testing"
	"time"
)

func newUser(t *testing.T, s *Store, email, role string, deps ...string) User {
	t.Helper()
	u := User{Email: email, Name: "User " + email, Role: role, Departments: deps, Language: "ar", Active: true, PasswordHash: "$argon2id$test"}
	if err := s.CreateUser(t.Context(), &u); err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func TestUsers(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		u := newUser(t, s, "  Agent@Uni.Example ", RoleAgent, "classrooms", "maintenance_center")
		if u.Email != "agent@uni.example" {
			t.Errorf("email = %q, want it trimmed and lower-cased", u.Email)
		}
		dup := User{Email: "AGENT@uni.example", Name: "x", Role: RoleAgent, PasswordHash: "h"}
		if err := s.CreateUser(ctx, &dup); !errors.Is(err, ErrDuplicate) {
			t.Errorf("second user with the same email: %v, want ErrDuplicate", err)
		}
		for _, bad := range []User{
			{Email: "no-at", Name: "x", Role: RoleAgent, PasswordHash: "h"},
			{Email: "a@b", Name: "x", Role: "admin", PasswordHash: "h"},
			{Email: "a@b", Name: "", Role: RoleAgent, PasswordHash: "h"},
			{Email: "a@b", Name: "x", Role: RoleAgent, PasswordHash: "h", Language: "fr"},
			{Email: "a@b", Name: "x", Role: RoleAgent},
		} {
			if err := s.CreateUser(ctx, &bad); err == nil {
				t.Errorf("CreateUser(%+v) succeeded", bad)
			}
		}
		got, err := s.UserByEmail(ctx, "AGENT@UNI.EXAMPLE")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != u.ID || !slices.Equal(got.Departments, []string{"classrooms", "maintenance_center"}) || !got.Active {
			t.Errorf("UserByEmail = %+v", got)
		}
		got.Departments = []string{"video_broadcast"}
		got.Role, got.Language = RoleOperator, "en"
		if err := s.UpdateUser(ctx, got); err != nil {
			t.Fatal(err)
		}
		got, _ = s.UserByID(ctx, u.ID)
		if got.Role != RoleOperator || got.Language != "en" || !slices.Equal(got.Departments, []string{"video_broadcast"}) {
			t.Errorf("after update: %+v", got)
		}
		if _, err := s.UserByID(ctx, 999); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing user: %v", err)
		}
		all, err := s.Users(ctx)
		if err != nil || len(all) != 1 {
			t.Errorf("Users = %v, %v", all, err)
		}
	})
}

func TestSessions(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		u := newUser(t, s, "a@uni.example", RoleAgent)
		t0 := now()
		sess := Session{TokenHash: "h1", UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(24 * time.Hour), IP: "127.0.0.1"}
		if err := s.CreateSession(ctx, sess, ""); err != nil {
			t.Fatal(err)
		}
		if _, got, err := s.SessionUser(ctx, "h1", t0.Add(time.Minute), t0.Add(-time.Hour)); err != nil || got.ID != u.ID {
			t.Fatalf("live session: %v %+v", err, got)
		}
		// Idle: last seen before the cutoff.
		if _, _, err := s.SessionUser(ctx, "h1", t0.Add(time.Minute), t0.Add(time.Second)); !errors.Is(err, ErrNotFound) {
			t.Errorf("idle session: %v, want ErrNotFound", err)
		}
		// Touch moves the idle clock.
		if err := s.TouchSession(ctx, "h1", t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionUser(ctx, "h1", t0.Add(time.Hour), t0.Add(time.Minute)); err != nil {
			t.Errorf("touched session: %v", err)
		}
		// Absolute expiry.
		if _, _, err := s.SessionUser(ctx, "h1", t0.Add(25*time.Hour), t0); !errors.Is(err, ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		// Rotation: the new session replaces the old one.
		if err := s.CreateSession(ctx, Session{TokenHash: "h2", UserID: u.ID, ExpiresAt: t0.Add(time.Hour)}, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionUser(ctx, "h1", t0, t0.Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("replaced session still works: %v", err)
		}
		// Disabling the user ends every session at once.
		if err := s.SetUserActive(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.SessionUser(ctx, "h2", t0, t0.Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
			t.Errorf("session of a disabled user: %v", err)
		}
		if n := count(t, s, `SELECT count(*) FROM sessions`); n != 0 {
			t.Errorf("sessions left after disabling: %d", n)
		}
		// A password change signs out too.
		if err := s.SetUserActive(ctx, u.ID, true); err != nil {
			t.Fatal(err)
		}
		_ = s.CreateSession(ctx, Session{TokenHash: "h3", UserID: u.ID, ExpiresAt: t0.Add(time.Hour)}, "")
		if err := s.SetUserPassword(ctx, u.ID, "$argon2id$new"); err != nil {
			t.Fatal(err)
		}
		if n := count(t, s, `SELECT count(*) FROM sessions`); n != 0 {
			t.Errorf("sessions left after a password change: %d", n)
		}
		_ = s.CreateSession(ctx, Session{TokenHash: "old", UserID: u.ID, CreatedAt: t0, LastSeenAt: t0, ExpiresAt: t0.Add(time.Hour)}, "")
		if n, err := s.DeleteExpiredSessions(ctx, t0.Add(2*time.Hour), t0); err != nil || n != 1 {
			t.Errorf("DeleteExpiredSessions = %d, %v", n, err)
		}
	})
}

func TestAPITokens(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		u := newUser(t, s, "a@uni.example", RoleOperator)
		tok := APIToken{UserID: u.ID, Name: "ci"}
		if err := s.CreateAPIToken(ctx, &tok, "th"); err != nil {
			t.Fatal(err)
		}
		if _, got, err := s.APITokenUser(ctx, "th"); err != nil || got.ID != u.ID {
			t.Fatalf("APITokenUser: %v %+v", err, got)
		}
		if _, _, err := s.APITokenUser(ctx, "other"); !errors.Is(err, ErrNotFound) {
			t.Errorf("unknown token: %v", err)
		}
		if err := s.SetUserActive(ctx, u.ID, false); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.APITokenUser(ctx, "th"); !errors.Is(err, ErrNotFound) {
			t.Errorf("token of a disabled user: %v", err)
		}
		_ = s.SetUserActive(ctx, u.ID, true)
		if err := s.RevokeAPIToken(ctx, u.ID, tok.ID); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.APITokenUser(ctx, "th"); !errors.Is(err, ErrNotFound) {
			t.Errorf("revoked token: %v", err)
		}
		list, err := s.APITokens(ctx, u.ID)
		if err != nil || len(list) != 1 || list[0].RevokedAt == nil {
			t.Errorf("APITokens = %+v, %v", list, err)
		}
	})
}

func TestLoginThrottle(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		ctx := t.Context()
		t0 := now()
		const window, lockFor, max = 15 * time.Minute, 15 * time.Minute, 5
		for i := 1; i <= max; i++ {
			until, err := s.RecordLoginFailure(ctx, t0.Add(time.Duration(i)*time.Second), window, max, lockFor, "email:a@b", "ip:1.2.3.4")
			if err != nil {
				t.Fatal(err)
			}
			if locked := !until.IsZero(); locked != (i == max) {
				t.Fatalf("failure %d: locked until %v", i, until)
			}
		}
		at := t0.Add(time.Minute)
		if until, _ := s.LoginLockedUntil(ctx, at, "email:a@b"); until.IsZero() {
			t.Error("account not locked after 5 failures")
		}
		if until, _ := s.LoginLockedUntil(ctx, at, "ip:1.2.3.4"); until.IsZero() {
			t.Error("IP not locked after 5 failures")
		}
		if until, _ := s.LoginLockedUntil(ctx, at, "email:other@b"); !until.IsZero() {
			t.Error("another account is locked")
		}
		if until, _ := s.LoginLockedUntil(ctx, t0.Add(20*time.Minute), "email:a@b"); !until.IsZero() {
			t.Error("lock did not run out")
		}
		// After the lock runs out, one failure does not lock again.
		if until, _ := s.RecordLoginFailure(ctx, t0.Add(20*time.Minute), window, max, lockFor, "email:a@b"); !until.IsZero() {
			t.Error("locked again at the first failure after the lock")
		}
		if err := s.ClearLoginFailures(ctx, "email:a@b"); err != nil {
			t.Fatal(err)
		}
	})
}
