package e2e

import (
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/wasl-dev/wasl/config"
)

// secrets are the secret values in the gateway's config (its channels'
// IMAP and SMTP passwords and Twilio auth tokens, and WASL_SECRET_KEY when
// set), by the field that holds them. A config that does not parse (a test
// of a broken config) has none to check.
func (g *gateway) secrets() map[string]string {
	data, err := os.ReadFile(g.cfgPath)
	if err != nil {
		g.t.Fatalf("read config: %v", err)
	}
	env := map[string]string{}
	for _, kv := range g.env() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v // later entries override, as exec does
		}
	}
	cfg, err := config.Parse(data, g.cfgPath, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		return nil
	}
	out := map[string]string{}
	if cfg.SecretKey != "" {
		out["WASL_SECRET_KEY"] = cfg.SecretKey
	}
	for _, ch := range cfg.Channels {
		for field, v := range ch.Secrets() {
			if v != "" {
				out[fmt.Sprintf("channel %s %s", ch.Name, field)] = v
			}
		}
	}
	return out
}

// leaked names the secrets that occur in b, never their values.
func (g *gateway) leaked(b []byte) []string {
	var names []string
	for field, v := range g.secrets() {
		if bytes.Contains(b, []byte(v)) {
			names = append(names, field)
		}
	}
	sort.Strings(names)
	return names
}

// checkLog fails the test when the gateway's log, all of it, holds a
// secret of its config.
func (g *gateway) checkLog() {
	g.t.Helper()
	if g.leakSeen {
		return
	}
	if names := g.leaked([]byte(g.logs.String())); len(names) > 0 {
		g.leakSeen = true
		g.t.Errorf("the gateway's log holds secrets: %s", strings.Join(names, ", "))
	}
}

// checkBody fails the test when a response of the gateway holds a secret.
func (g *gateway) checkBody(what string, body []byte) {
	g.t.Helper()
	if names := g.leaked(body); len(names) > 0 {
		g.t.Errorf("%s: the response holds secrets: %s", what, strings.Join(names, ", "))
	}
}

// redact replaces each secret in s by its field's name, so that what a
// failing test prints of the log or a response holds none.
func (g *gateway) redact(s string) string {
	for field, v := range g.secrets() {
		s = strings.ReplaceAll(s, v, "["+field+"]")
	}
	return s
}
