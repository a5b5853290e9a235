package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const intakeYAML = `channels:
  - name: mail
    kind: email
    imap: {addr: "127.0.0.1:1", security: plain, username: u, password: p}
    smtp: {addr: "127.0.0.1:1", security: none, from: "s@example.test"}
  - name: forms
    kind: form
    form: {reply_email: mail}
  - {name: phone, kind: phone}
`

// TestFormRoutes checks the forms are served, without credentials, when a
// form channel is configured, and only then.
func TestFormRoutes(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want int
	}{
		{"with a form channel", intakeYAML, http.StatusOK},
		{"without", "", http.StatusNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := testApp(t, tt.yaml)
			srv := httptest.NewServer(a.mux)
			t.Cleanup(srv.Close)
			for _, path := range []string{"/forms/", "/forms/equipment_maintenance", "/forms/form.css"} {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want {
					t.Errorf("GET %s: %s, want %d: %.200s", path, resp.Status, tt.want, body)
				}
				if tt.want == http.StatusOK && path == "/forms/equipment_maintenance" && !strings.Contains(string(body), `dir="rtl"`) {
					t.Errorf("GET %s: not the Arabic form", path)
				}
			}
			// The call log is staff's: without credentials, 401 (404 without a phone channel).
			resp, err := http.Post(srv.URL+"/api/v1/calls", "application/json", strings.NewReader("{}"))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusUnauthorized
			if tt.yaml == "" {
				want = http.StatusNotFound
			}
			if resp.StatusCode != want {
				t.Errorf("POST /api/v1/calls without credentials: %s, want %d", resp.Status, want)
			}
			noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err = noRedirect.Get(srv.URL + "/calls/new")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tt.yaml != "" && (resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login")) {
				t.Errorf("GET /calls/new without a session: %s to %q, want the sign-in page", resp.Status, resp.Header.Get("Location"))
			}
		})
	}
}

// TestCheckConfigForms checks `wasl check-config` names the line of each
// mistake in a bank's forms.
func TestCheckConfigForms(t *testing.T) {
	cleanEnv(t)
	const file = "../../replies/testdata/broken/forms.yaml"
	r := runWasl(t, "check-config", file)
	if r.code != 2 {
		t.Fatalf("exit %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	for _, s := range []string{file + ":18:", `"dropdown"`, file + ":31:"} {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}
