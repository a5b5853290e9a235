package main

import (
	"strings"
	"time"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/inbox/web"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// mountInbox mounts the staff-facing routes on the route table: the web
// inbox, the JSON API, /metrics (operators; on the admin listener instead
// when there is one), health checks. The live-update hub joins the things
// serve runs.
func (a *app) mountInbox() error {
	// Search indexes and queries go through the classifier's normalization,
	// so "أجهزة" finds "اجهزه".
	a.store.SetSearchNormalizer(classify.Normalize)
	var err error
	a.auth, err = inbox.NewAuth(a.store, inbox.AuthConfig{
		APIToken: a.cfg.APIToken,
		Secure:   strings.HasPrefix(a.cfg.HTTP.PublicURL, "https://"),
	}, a.log)
	if err != nil {
		return err
	}
	a.svc = inbox.NewService(a.store, a.inserter, a.bank, inbox.ServiceConfig{TicketPrefix: a.cfg.TicketPrefix, MessageIDs: a.registry,
		FrontDesk: a.cfg.Tickets.FrontDesk, Surveys: a.surveys, InboxURL: a.cfg.HTTP.PublicURL}, a.log)
	poll := time.Second
	if a.store.Dialect() == store.Postgres {
		poll = 5 * time.Second // LISTEN/NOTIFY wakes the hub; polling is the safety net
	}
	hub := inbox.NewHub(a.store, poll, a.log.With("component", "live"))
	a.sources = append(a.sources, hub)

	inbox.NewAPI(a.store, a.auth, a.svc, a.log).Register(a.mux)
	if a.cfg.HTTP.AdminAddr == "" {
		a.mux.Handle("GET /metrics", a.auth.RequireOperator(a.metrics))
	}
	a.sources = append(a.sources, bankReloader{a})
	a.operator = inbox.NewOperator(a.store, gateway{a}, a.svc, inbox.OperatorConfig{Key: a.key}, a.log)
	_, calls := intakeChannel(a.cfg, message.Phone) // mountIntake serves its page
	ui, err := web.New(web.Config{Store: a.store, Auth: a.auth, Service: a.svc, Operator: a.operator, Bank: a.bank, Live: hub, Calls: calls, Log: a.log})
	if err != nil {
		return err
	}
	ui.Register(a.mux)
	return nil
}
