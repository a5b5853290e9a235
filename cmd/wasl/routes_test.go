package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/config"
)

// publicRoutes answer without credentials: health checks, the sign-in page,
// static assets and Twilio's webhooks (which carry a signature instead).
var publicRoutes = map[string]bool{
	"GET /healthz":                           true,
	"GET /readyz":                            true,
	"GET /login":                             true,
	"POST /login":                            true,
	"GET /static/":                           true,
	"GET /survey/{token}":                    true,
	"POST /survey/{token}":                   true,
	"POST /webhooks/twilio/{channel}":        true,
	"POST /webhooks/twilio/{channel}/status": true,
}

func testApp(t *testing.T, extraYAML string) *app {
	t.Helper()
	bank, err := filepath.Abs("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := "data_dir: " + t.TempDir() + "\nknowledge_bank: " + bank + "\napi_token: s3cret\n" + extraYAML
	cfg, err := config.Parse([]byte(yaml), "wasl.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	a, err := newApp(context.Background(), cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	return a
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// TestRouteWalk walks the gateway's whole route table and calls every route
// without credentials: only the public ones answer; every other one sends
// a browser to /login or answers 401, and says nothing else.
func TestRouteWalk(t *testing.T) {
	a := testApp(t, `channels:
  - name: sms
    kind: sms
    twilio: {account_sid: AC0123456789abcdef0123456789abcdef, auth_token: tok, from: "+966500000001"}
  - {name: wa, kind: whatsapp}
`)
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	patterns := a.mux.Patterns()
	seen := map[string]bool{}
	for _, p := range patterns {
		seen[p] = true
	}
	for p := range publicRoutes {
		if !seen[p] {
			t.Errorf("public route %q is not registered: the walk would prove nothing about it", p)
		}
	}
	if len(patterns) < 20 {
		t.Fatalf("only %d routes registered: %v", len(patterns), patterns)
	}
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Errorf("route %q has no method: it answers every method", p)
			continue
		}
		path = strings.ReplaceAll(path, "{$}", "")
		path = strings.ReplaceAll(path, "{channel}", "sms")
		path = wildcard.ReplaceAllString(path, "1")
		if strings.HasSuffix(path, "/static/") {
			path += "app.css"
		}
		t.Run(p, func(t *testing.T) {
			req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("body=x"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if publicRoutes[p] {
				switch {
				case strings.HasPrefix(p, "POST /webhooks/"):
					if resp.StatusCode != http.StatusForbidden {
						t.Errorf("unsigned webhook: %s, want 403", resp.Status)
					}
				case p == "POST /login":
					if resp.StatusCode != http.StatusUnauthorized {
						t.Errorf("sign-in without credentials: %s, want 401", resp.Status)
					}
				case strings.Contains(p, "/survey/"):
					// Public but signed: a link that is not ours is refused.
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("unsigned survey link: %s, want 404", resp.Status)
					}
				case resp.StatusCode != http.StatusOK:
					t.Errorf("public %s: %s, want 200", p, resp.Status)
				}
				return
			}
			switch {
			case resp.StatusCode == http.StatusUnauthorized:
			case resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(resp.Header.Get("Location"), "/login"):
			default:
				t.Errorf("%s %s without credentials: %s %q", method, path, resp.Status, body)
			}
			if len(body) > 300 {
				t.Errorf("an unauthenticated answer of %d bytes: %q", len(body), body)
			}
		})
	}
}

// TestOpenAPIMatchesRoutes checks /api/v1/openapi.json against the real
// route table both ways: every /api/v1 route is described, and every
// described operation exists.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	// A phone line, so the call log's routes are mounted too.
	a := testApp(t, "channels:\n  - {name: phone, kind: phone}\n")
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("openapi.json: %s %v", resp.Status, err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
	described := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			described[strings.ToUpper(method)+" "+path] = true
		}
	}
	registered := map[string]bool{}
	for _, p := range a.mux.Patterns() {
		if _, path, _ := strings.Cut(p, " "); strings.HasPrefix(path, "/api/v1/") {
			registered[p] = true
		}
	}
	for p := range registered {
		if !described[p] {
			t.Errorf("route %q is not in openapi.json", p)
		}
	}
	for p := range described {
		if !registered[p] {
			t.Errorf("openapi.json describes %q, which is not a route", p)
		}
	}
	if len(registered) < 20 {
		t.Errorf("only %d API routes", len(registered))
	}
}
