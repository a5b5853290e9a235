package inbox

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/store"
)

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not an argon2id PHC string with our parameters", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	tests := []struct {
		hash, pw string
		ok       bool
		err      bool
	}{
		{h, "correct horse battery", true, false},
		{h, "correct horse batterY", false, false},
		{h, "", false, false},
		{"$2a$10$bcrypt", "x", false, true},
		{"$argon2id$v=18$m=1,t=1,p=1$c2FsdA$a2V5", "x", false, true},
		{"$argon2id$v=19$m=x$c2FsdA$a2V5", "x", false, true},
		{"", "x", false, true},
	}
	for _, tt := range tests {
		ok, err := VerifyPassword(tt.hash, tt.pw)
		if ok != tt.ok || (err != nil) != tt.err {
			t.Errorf("VerifyPassword(%q, %q) = %v, %v", tt.hash, tt.pw, ok, err)
		}
	}
	if _, err := HashPassword("short"); !errors.Is(err, ErrWeakPassword) {
		t.Errorf("short password: %v, want ErrWeakPassword", err)
	}
	if pw := GeneratePassword(); len(pw) != 20 || strings.ContainsAny(pw, "0O1lI") {
		t.Errorf("generated password %q", pw)
	}
}

// authFixture is a store with one agent and an Auth on a clock the test
// moves.
type authFixture struct {
	st   *store.Store
	auth *Auth
	user store.User
	now  time.Time
}

const agentPassword = "agent password 123"

func newAuthFixture(t *testing.T) *authFixture {
	t.Helper()
	f := &authFixture{st: newStore(t), now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}
	hash, err := HashPassword(agentPassword)
	if err != nil {
		t.Fatal(err)
	}
	f.user = store.User{Email: "agent@uni.example", Name: "Agent", Role: store.RoleAgent, Active: true, PasswordHash: hash}
	if err := f.st.CreateUser(t.Context(), &f.user); err != nil {
		t.Fatal(err)
	}
	f.auth, err = NewAuth(f.st, AuthConfig{APIToken: testToken, Secure: true, Now: func() time.Time { return f.now }}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *authFixture) request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if token != "" {
		r.AddCookie(&http.Cookie{Name: SessionCookie, Value: token})
	}
	return r
}

func (f *authFixture) signedIn(t *testing.T, token string) bool {
	t.Helper()
	_, ok, err := f.auth.FromSession(f.request(token))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestSignIn(t *testing.T) {
	f := newAuthFixture(t)
	ctx := t.Context()

	// Unknown email, wrong password and a good one.
	_, _, errUnknown := f.auth.SignIn(ctx, "nobody@uni.example", agentPassword, "10.0.0.1", "ua", "")
	_, _, errWrong := f.auth.SignIn(ctx, "agent@uni.example", "wrong password!!", "10.0.0.1", "ua", "")
	if !errors.Is(errUnknown, ErrBadCredentials) || !errors.Is(errWrong, ErrBadCredentials) || errUnknown.Error() != errWrong.Error() {
		t.Errorf("unknown email: %v; wrong password: %v; want the same ErrBadCredentials", errUnknown, errWrong)
	}
	tok1, u, err := f.auth.SignIn(ctx, "Agent@Uni.Example", agentPassword, "10.0.0.1", "ua", "")
	if err != nil || u.ID != f.user.ID {
		t.Fatalf("good sign-in: %v %+v", err, u)
	}
	if !f.signedIn(t, tok1) {
		t.Fatal("new session does not work")
	}
	// Signing in again from the same browser rotates the id.
	tok2, _, err := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.0.0.1", "ua", tok1)
	if err != nil || tok2 == tok1 {
		t.Fatalf("second sign-in: %v, same token %v", err, tok2 == tok1)
	}
	if f.signedIn(t, tok1) {
		t.Error("the old session id still works after rotation")
	}
	// The cookie.
	rec := httptest.NewRecorder()
	f.auth.SetCookie(rec, tok2)
	c := rec.Result().Cookies()[0]
	if c.Name != SessionCookie || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.MaxAge <= 0 {
		t.Errorf("cookie %+v: want HttpOnly, Secure, SameSite=Lax, a max age", c)
	}
	// Idle expiry: 8 hours without a request.
	f.now = f.now.Add(9 * time.Hour)
	if f.signedIn(t, tok2) {
		t.Error("session works after 9 idle hours")
	}
	// Absolute expiry: active every few hours, still ends after 7 days.
	tok3, _, _ := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.0.0.1", "ua", "")
	start := f.now
	for elapsed := 4 * time.Hour; elapsed < 7*24*time.Hour; elapsed += 4 * time.Hour {
		f.now = start.Add(elapsed)
		if !f.signedIn(t, tok3) {
			t.Fatalf("an active session ended after %s", elapsed)
		}
	}
	f.now = start.Add(7*24*time.Hour + time.Minute)
	if f.signedIn(t, tok3) {
		t.Error("session works past its absolute age")
	}
	// Sign-out revokes.
	tok4, _, _ := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.0.0.1", "ua", "")
	rec = httptest.NewRecorder()
	if err := f.auth.SignOut(rec, f.request(tok4)); err != nil {
		t.Fatal(err)
	}
	if f.signedIn(t, tok4) {
		t.Error("session works after sign-out")
	}
	// A disabled user's session stops at once.
	tok5, _, _ := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.0.0.1", "ua", "")
	if err := f.st.SetUserActive(ctx, f.user.ID, false); err != nil {
		t.Fatal(err)
	}
	if f.signedIn(t, tok5) {
		t.Error("a disabled user's session still works")
	}
	if _, _, err := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.0.0.2", "ua", ""); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("disabled user signs in: %v", err)
	}
}

func TestSignInThrottle(t *testing.T) {
	f := newAuthFixture(t)
	ctx := t.Context()
	// Five failures lock the account, from any address, even for the right
	// password, and for unknown accounts alike.
	for i := range 5 {
		if _, _, err := f.auth.SignIn(ctx, "agent@uni.example", "wrong password!!", "10.0.0.1", "ua", ""); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("failure %d: %v", i+1, err)
		}
		f.now = f.now.Add(time.Second)
	}
	if _, _, err := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.9.9.9", "ua", ""); !errors.Is(err, ErrThrottled) {
		t.Errorf("right password after 5 failures: %v, want ErrThrottled", err)
	}
	for range 5 {
		_, _, _ = f.auth.SignIn(ctx, "ghost@uni.example", "x-wrong-password", "10.0.0.3", "ua", "")
	}
	if _, _, err := f.auth.SignIn(ctx, "ghost@uni.example", "x-wrong-password", "10.0.0.3", "ua", ""); !errors.Is(err, ErrThrottled) {
		t.Errorf("unknown account after 5 failures: %v, want ErrThrottled (the same as a real one)", err)
	}
	// 15 minutes later the lock is gone.
	f.now = f.now.Add(16 * time.Minute)
	if _, _, err := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.9.9.9", "ua", ""); err != nil {
		t.Errorf("after the lock ran out: %v", err)
	}
	// One address guessing many accounts is locked after 20 failures.
	for i := range 20 {
		_, _, _ = f.auth.SignIn(ctx, "user"+string(rune('a'+i))+"@uni.example", "x-wrong-password", "10.6.6.6", "ua", "")
	}
	if _, _, err := f.auth.SignIn(ctx, "agent@uni.example", agentPassword, "10.6.6.6", "ua", ""); !errors.Is(err, ErrThrottled) {
		t.Errorf("address after 20 failures: %v, want ErrThrottled", err)
	}
}

func TestBearerTokens(t *testing.T) {
	f := newAuthFixture(t)
	ctx := t.Context()
	tok, _, err := f.auth.NewAPIToken(ctx, f.user.ID, "script")
	if err != nil {
		t.Fatal(err)
	}
	if n := count(t, f.st, `SELECT count(*) FROM api_tokens WHERE token_hash = $1`, tok); n != 0 {
		t.Error("the token is stored in clear")
	}
	tests := []struct {
		name, header string
		ok, system   bool
	}{
		{"deployment token", "Bearer " + testToken, true, true},
		{"personal token", "Bearer " + tok, true, false},
		{"personal token, lower-case scheme", "bearer " + tok, true, false},
		{"wrong personal token", "Bearer " + tok + "x", false, false},
		{"no header", "", false, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/conversations", nil)
		if tt.header != "" {
			r.Header.Set("Authorization", tt.header)
		}
		p, ok, err := f.auth.FromBearer(r)
		if err != nil || ok != tt.ok || p.System != tt.system || (ok && !tt.system && p.User.ID != f.user.ID) {
			t.Errorf("%s: %+v %v %v", tt.name, p, ok, err)
		}
	}
	if err := f.st.SetUserActive(ctx, f.user.ID, false); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	if _, ok, _ := f.auth.FromBearer(r); ok {
		t.Error("a disabled user's token still works")
	}
}

// A POST from another site is refused before any handler runs; the same
// POST from our own pages, and from clients that are not browsers, gets
// through.
func TestMuxRefusesCrossOrigin(t *testing.T) {
	mux, err := NewMux("https://inbox.uni.example")
	if err != nil {
		t.Fatal(err)
	}
	mux.HandleFunc("POST /conversations/1/reply", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"another site (Sec-Fetch-Site)", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"another site (Origin only)", map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"same origin", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://127.0.0.1"}, http.StatusNoContent},
		{"the public URL behind a proxy", map[string]string{"Origin": "https://inbox.uni.example"}, http.StatusNoContent},
		{"not a browser", nil, http.StatusNoContent},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1/conversations/1/reply", nil)
		for k, v := range tt.header {
			r.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, r)
		if rec.Code != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, rec.Code, tt.want)
		}
	}
	if got := mux.Patterns(); len(got) != 1 || got[0] != "POST /conversations/1/reply" {
		t.Errorf("Patterns = %v", got)
	}
}

func count(t *testing.T, st *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := st.DB().QueryRowContext(t.Context(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
