package inbox

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sync"
)

// Mux is the gateway's one route table. It is an http.ServeMux that
// remembers its patterns, so a test can walk every route, and it refuses
// cross-origin state-changing requests (CSRF) with Go's
// http.CrossOriginProtection before any handler runs: a browser on another
// site gets 403 for every POST, whatever the route. Requests without
// browser headers (Twilio's webhooks, API clients) pass; they carry their
// own proof (a signature, a token).
type Mux struct {
	mux *http.ServeMux
	cop *http.CrossOriginProtection

	mu       sync.Mutex
	patterns []string
}

// NewMux makes a Mux. publicURL is how browsers reach us (behind a proxy
// the Host header may differ from it); its origin is trusted.
func NewMux(publicURL string) (*Mux, error) {
	cop := http.NewCrossOriginProtection()
	if publicURL != "" {
		u, err := url.Parse(publicURL)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("public url %q: want an absolute URL", publicURL)
		}
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			return nil, fmt.Errorf("public url %q: %w", publicURL, err)
		}
	}
	return &Mux{mux: http.NewServeMux(), cop: cop}, nil
}

// Handle registers a handler for a pattern (net/http's syntax).
func (m *Mux) Handle(pattern string, h http.Handler) {
	m.mu.Lock()
	m.patterns = append(m.patterns, pattern)
	m.mu.Unlock()
	m.mux.Handle(pattern, h)
}

// HandleFunc registers a handler function for a pattern.
func (m *Mux) HandleFunc(pattern string, f func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(f))
}

// Patterns lists every registered pattern, in registration order.
func (m *Mux) Patterns() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.patterns)
}

// ServeHTTP checks the origin, then dispatches.
func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := m.cop.Check(r); err != nil {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return
	}
	m.mux.ServeHTTP(w, r)
}
