package main

import (
	"strings"

	"github.com/wasl-dev/wasl/inbox"
)

// mountInbox mounts the staff-facing routes on the route table: the JSON
// API, /metrics (operators; on the admin listener instead when there is
// one), health checks.
func (a *app) mountInbox() error {
	var err error
	a.auth, err = inbox.NewAuth(a.store, inbox.AuthConfig{
		APIToken: a.cfg.APIToken,
		Secure:   strings.HasPrefix(a.cfg.HTTP.PublicURL, "https://"),
	}, a.log)
	if err != nil {
		return err
	}
	inbox.NewAPI(a.store, a.auth, a.log).Register(a.mux)
	if a.cfg.HTTP.AdminAddr == "" {
		a.mux.Handle("GET /metrics", a.auth.RequireOperator(a.metrics))
	}
	return nil
}
