package inbox

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// AuthStore is what sign-in, sessions and tokens need of the store.
type AuthStore interface {
	UserByEmail(ctx context.Context, email string) (store.User, error)
	CreateSession(ctx context.Context, sess store.Session, replace string) error
	SessionUser(ctx context.Context, tokenHash string, at, idleCutoff time.Time) (store.Session, store.User, error)
	TouchSession(ctx context.Context, tokenHash string, at time.Time) error
	DeleteSession(ctx context.Context, tokenHash string) error
	APITokenUser(ctx context.Context, hash string) (store.APIToken, store.User, error)
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error
	CreateAPIToken(ctx context.Context, t *store.APIToken, hash string) error
	LoginLockedUntil(ctx context.Context, at time.Time, keys ...string) (time.Time, error)
	RecordLoginFailure(ctx context.Context, at time.Time, window time.Duration, max int, lockFor time.Duration, keys ...string) (time.Time, error)
	ClearLoginFailures(ctx context.Context, key string) error
}

// AuthConfig tunes sessions and the sign-in throttle; zero values take the
// defaults in parentheses.
type AuthConfig struct {
	// APIToken is the deployment's shared API token (WASL_API_TOKEN); it
	// acts with an operator's rights. Empty: only personal tokens work.
	APIToken string
	// Secure marks the session cookie Secure (the public URL is https).
	Secure      bool
	IdleTimeout time.Duration // 8h
	MaxAge      time.Duration // 7 days, from sign-in
	// Throttle: MaxFailures failed sign-ins for one account (IPFailures for
	// one address) within Window lock it for LockFor.
	MaxFailures int           // 5
	IPFailures  int           // 20: offices share an address behind NAT
	Window      time.Duration // 15m
	LockFor     time.Duration // 15m
	Now         func() time.Time
}

// SessionCookie is the name of the session cookie.
const SessionCookie = "wasl_session"

// Sign-in outcomes callers tell apart.
var (
	// ErrBadCredentials is the one answer for an unknown email, a wrong
	// password and a disabled user, so none can be told from another.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrThrottled: too many failures for this account or address.
	ErrThrottled = errors.New("too many failed sign-ins; try again later")
)

// Auth signs staff in and tells who makes a request: a session cookie for
// the UI, a bearer token (personal, or the deployment's) for the API.
type Auth struct {
	store AuthStore
	cfg   AuthConfig
	log   *slog.Logger
	// dummyHash is verified when the email is unknown, so a sign-in takes
	// as long whether the account exists or not.
	dummyHash string
}

// NewAuth builds an Auth.
func NewAuth(st AuthStore, cfg AuthConfig, log *slog.Logger) (*Auth, error) {
	if log == nil {
		log = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, 8*time.Hour)
	def(&cfg.MaxAge, 7*24*time.Hour)
	def(&cfg.Window, 15*time.Minute)
	def(&cfg.LockFor, 15*time.Minute)
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 5
	}
	if cfg.IPFailures <= 0 {
		cfg.IPFailures = 20
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	dummy, err := HashPassword(GeneratePassword())
	if err != nil {
		return nil, err
	}
	return &Auth{store: st, cfg: cfg, log: log, dummyHash: dummy}, nil
}

// Principal is who makes a request.
type Principal struct {
	User store.User
	// System is the deployment's shared API token: operator rights, no user.
	System bool
	// Session is set for cookie sign-ins (the UI), not for tokens.
	Session bool
}

// Operator reports whether the principal has operator rights.
func (p Principal) Operator() bool { return p.System || p.User.Role == store.RoleOperator }

// Actor names the principal in ticket events and logs.
func (p Principal) Actor() string {
	if p.System {
		return "api"
	}
	return p.User.Email
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal an authenticated handler runs for.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func randomToken(prefix string) string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// apiTokenPrefix marks personal API tokens, so a leaked one is easy to
// find in logs and code (secret scanners look for such prefixes).
const apiTokenPrefix = "wasl_pat_"

// ClientIP is the address a request came from (the TCP peer; a proxy's
// X-Forwarded-For is not trusted here).
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// SignIn checks an email and password and opens a session. oldToken is the
// session cookie the browser already had, if any; it is replaced (the id
// is rotated at every sign-in).
func (a *Auth) SignIn(ctx context.Context, email, password, ip, userAgent, oldToken string) (token string, u store.User, err error) {
	at := a.cfg.Now()
	emailKey, ipKey := "email:"+strings.ToLower(strings.TrimSpace(email)), "ip:"+ip
	until, err := a.store.LoginLockedUntil(ctx, at, emailKey, ipKey)
	if err != nil {
		return "", store.User{}, err
	}
	if !until.IsZero() {
		return "", store.User{}, ErrThrottled
	}
	u, err = a.store.UserByEmail(ctx, email)
	ok := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, _ = VerifyPassword(a.dummyHash, password)
	case err != nil:
		return "", store.User{}, err
	default:
		if ok, err = VerifyPassword(u.PasswordHash, password); err != nil {
			a.log.ErrorContext(ctx, "stored password hash unreadable", "user_id", u.ID, "err", err)
			ok = false
		}
		ok = ok && u.Active
	}
	if !ok {
		// The address limit is counted once per failure, the account limit
		// per account: record both, lock by each one's own maximum.
		if _, err := a.store.RecordLoginFailure(ctx, at, a.cfg.Window, a.cfg.MaxFailures, a.cfg.LockFor, emailKey); err != nil {
			return "", store.User{}, err
		}
		if _, err := a.store.RecordLoginFailure(ctx, at, a.cfg.Window, a.cfg.IPFailures, a.cfg.LockFor, ipKey); err != nil {
			return "", store.User{}, err
		}
		a.log.InfoContext(ctx, "sign-in failed", "ip", ip)
		return "", store.User{}, ErrBadCredentials
	}
	if err := a.store.ClearLoginFailures(ctx, emailKey); err != nil {
		return "", store.User{}, err
	}
	token = randomToken("")
	replace := ""
	if oldToken != "" {
		replace = hashToken(oldToken)
	}
	sess := store.Session{TokenHash: hashToken(token), UserID: u.ID, CreatedAt: at, LastSeenAt: at,
		ExpiresAt: at.Add(a.cfg.MaxAge), IP: ip, UserAgent: truncate(userAgent, 200)}
	if err := a.store.CreateSession(ctx, sess, replace); err != nil {
		return "", store.User{}, err
	}
	a.log.InfoContext(ctx, "signed in", "user_id", u.ID, "ip", ip)
	return token, u, nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}

// SetCookie sets the session cookie: HttpOnly, SameSite=Lax, Secure when
// the public URL is https, expiring with the session's absolute age.
func (a *Auth) SetCookie(w http.ResponseWriter, token string) {
	http.SetCookie(w, &http.Cookie{
		Name: SessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: a.cfg.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(a.cfg.MaxAge / time.Second),
	})
}

// SignOut revokes the request's session and clears the cookie.
func (a *Auth) SignOut(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(SessionCookie); err == nil && c.Value != "" {
		if err := a.store.DeleteSession(r.Context(), hashToken(c.Value)); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: a.cfg.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
	return nil
}

// SessionToken is the request's session cookie value, if any.
func SessionToken(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// touchEvery limits last-seen writes to one a minute per session.
const touchEvery = time.Minute

// FromSession finds the principal of the request's session cookie.
func (a *Auth) FromSession(r *http.Request) (Principal, bool, error) {
	tok := SessionToken(r)
	if tok == "" {
		return Principal{}, false, nil
	}
	at := a.cfg.Now()
	h := hashToken(tok)
	sess, u, err := a.store.SessionUser(r.Context(), h, at, at.Add(-a.cfg.IdleTimeout))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	if at.Sub(sess.LastSeenAt) > touchEvery {
		if err := a.store.TouchSession(r.Context(), h, at); err != nil {
			a.log.WarnContext(r.Context(), "touch session", "err", err)
		}
	}
	return Principal{User: u, Session: true}, true, nil
}

// FromBearer finds the principal of the request's bearer token: the
// deployment's shared token or a personal one.
func (a *Auth) FromBearer(r *http.Request) (Principal, bool, error) {
	h := r.Header.Get("Authorization")
	// The scheme name is case-insensitive (RFC 9110).
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return Principal{}, false, nil
	}
	tok := strings.TrimSpace(h[7:])
	if a.cfg.APIToken != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.APIToken)) == 1 {
		return Principal{System: true}, true, nil
	}
	if !strings.HasPrefix(tok, apiTokenPrefix) {
		return Principal{}, false, nil
	}
	t, u, err := a.store.APITokenUser(r.Context(), hashToken(tok))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	at := a.cfg.Now()
	if t.LastUsedAt == nil || at.Sub(*t.LastUsedAt) > touchEvery {
		if err := a.store.TouchAPIToken(r.Context(), t.ID, at); err != nil {
			a.log.WarnContext(r.Context(), "touch api token", "err", err)
		}
	}
	return Principal{User: u}, true, nil
}

// NewAPIToken makes a personal API token for a user and returns it; only
// its hash is kept, so this is the one time it can be shown.
func (a *Auth) NewAPIToken(ctx context.Context, userID int64, name string) (string, store.APIToken, error) {
	tok := randomToken(apiTokenPrefix)
	t := store.APIToken{UserID: userID, Name: name}
	if err := a.store.CreateAPIToken(ctx, &t, hashToken(tok)); err != nil {
		return "", store.APIToken{}, fmt.Errorf("new api token: %w", err)
	}
	return tok, t, nil
}

// RequireAPI lets through requests with a valid bearer token or session
// and answers 401 (JSON) otherwise.
func (a *Auth) RequireAPI(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := a.FromBearer(r)
		if err == nil && !ok {
			p, ok, err = a.FromSession(r)
		}
		if err != nil {
			a.log.ErrorContext(r.Context(), "authenticate", "err", err)
			writeError(w, http.StatusInternalServerError, "internal", "internal error")
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="wasl"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "sign in, or send Authorization: Bearer <token>")
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// RequireSession lets through signed-in browsers. Others asking for a page
// are sent to /login (and back after); other methods get 401.
func (a *Auth) RequireSession(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok, err := a.FromSession(r)
		if err != nil {
			a.log.ErrorContext(r.Context(), "authenticate", "err", err)
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				next := r.URL.RequestURI()
				http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// RequireOperator is RequireAPI for operators only; others get 403.
func (a *Auth) RequireOperator(h http.Handler) http.Handler {
	return a.RequireAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := PrincipalFrom(r.Context()); !p.Operator() {
			writeError(w, http.StatusForbidden, "forbidden", "operators only")
			return
		}
		h.ServeHTTP(w, r)
	}))
}
