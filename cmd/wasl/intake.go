package main

import (
	"context"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/calls"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/forms"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// The channels that take messages in and answer through others: the
// public forms (kind form) and the calls staff log (kind phone). They are
// mounted once every channel has its row, since they name other channels.

// intakeChannel is the enabled channel of kind k, if any (config allows
// one of each).
func intakeChannel(cfg *config.Config, k message.Kind) (config.Channel, bool) {
	for _, ch := range cfg.Channels {
		if ch.Kind == k && !ch.Disabled {
			return ch, true
		}
	}
	return config.Channel{}, false
}

// withForms is the bank replies are rendered from: when forms are served,
// every topic with a form links to it first.
func withForms(cfg *config.Config, b *replies.Bank) *replies.Bank {
	if _, ok := intakeChannel(cfg, message.Form); ok {
		return b.WithForms(cfg.HTTP.PublicURL)
	}
	return b
}

// route is the named channel as an answer route; a zero Route for "".
func (a *app) route(ctx context.Context, name string) (forms.Route, error) {
	if name == "" {
		return forms.Route{}, nil
	}
	row, err := a.store.ChannelByName(ctx, name)
	if err != nil {
		return forms.Route{}, fmt.Errorf("channel %q: %w", name, err)
	}
	return forms.Route{ChannelID: row.ID, Kind: row.Kind}, nil
}

// mountIntake serves the forms and the call log, when configured.
func (a *app) mountIntake(ctx context.Context) error {
	if ch, ok := intakeChannel(a.cfg, message.Form); ok {
		if err := a.mountForms(ctx, ch); err != nil {
			return fmt.Errorf("channel %q: %w", ch.Name, err)
		}
	}
	if ch, ok := intakeChannel(a.cfg, message.Phone); ok {
		if err := a.mountCalls(ctx, ch); err != nil {
			return fmt.Errorf("channel %q: %w", ch.Name, err)
		}
	}
	return nil
}

// mountCalls serves the call log: the API to signed-in staff and API
// tokens, the "log a call" page to signed-in staff.
func (a *app) mountCalls(ctx context.Context, ch config.Channel) error {
	row, err := a.store.ChannelByName(ctx, ch.Name)
	if err != nil {
		return err
	}
	cfg := calls.Config{ChannelID: row.ID, Bank: a.bank, Region: a.cfg.DefaultRegion, Log: a.log.With("channel", ch.Name),
		Actor: func(ctx context.Context) string {
			p, _ := inbox.PrincipalFrom(ctx)
			return p.Actor()
		}}
	if p := ch.Phone; p != nil {
		for _, r := range []struct {
			name string
			to   *calls.Route
		}{{p.SendSMS, &cfg.SMS}, {p.SendWhatsApp, &cfg.WhatsApp}} {
			fr, err := a.route(ctx, r.name)
			if err != nil {
				return err
			}
			*r.to = calls.Route{ChannelID: fr.ChannelID, Kind: fr.Kind}
		}
	}
	h, err := calls.New(cfg, a.store, a.pipeline)
	if err != nil {
		return err
	}
	h.Register(a.mux, a.auth.RequireAPI)
	h.RegisterPage(a.mux, a.auth.RequireSession)
	return nil
}

func (a *app) mountForms(ctx context.Context, ch config.Channel) error {
	row, err := a.store.ChannelByName(ctx, ch.Name)
	if err != nil {
		return err
	}
	// Every replica signs and checks the pages' tokens with the same key.
	key, err := a.store.InstanceKey(ctx, "forms", 32)
	if err != nil {
		return err
	}
	f := ch.Form
	cfg := forms.Config{
		ChannelID:      row.ID,
		Bank:           a.bank,
		Key:            key,
		Region:         a.cfg.DefaultRegion,
		FrameAncestors: f.FrameAncestors,
		MinFillTime:    f.MinFillTime.D(0),
		MaxAge:         f.MaxAge.D(0),
		PerIP:          forms.Limit{Max: f.PerIP.Max, Within: time.Duration(f.PerIP.Within)},
		PerContact:     forms.Limit{Max: f.PerContact.Max, Within: time.Duration(f.PerContact.Within)},
		MaxUploadBytes: f.MaxUploadBytes,
		TrustForwarded: a.cfg.HTTP.TrustForwardedHeaders,
		Counter:        a.formsCounter,
		Log:            a.log.With("channel", ch.Name),
	}
	for _, r := range []struct {
		name string
		to   *forms.Route
	}{{f.ReplyEmail, &cfg.Email}, {f.ReplySMS, &cfg.SMS}, {f.ReplyWhatsApp, &cfg.WhatsApp}} {
		if *r.to, err = a.route(ctx, r.name); err != nil {
			return err
		}
	}
	h, err := forms.New(cfg, a.store, a.pipeline)
	if err != nil {
		return err
	}
	h.Register(a.mux)
	return nil
}
