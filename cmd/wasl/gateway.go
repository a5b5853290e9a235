package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
)

// gateway is what the operator pages ask of the running binary
// (inbox.Gateway).
type gateway struct{ a *app }

var _ inbox.Gateway = gateway{}

// testTimeout bounds a "test connection": each step's dial, login and
// answer.
const testTimeout = 20 * time.Second

func (g gateway) CheckChannel(ctx context.Context, ch config.Channel) error {
	_, err := g.a.buildConnector(ctx, testChannelID, ch, false)
	return err
}

func (g gateway) TestChannel(ctx context.Context, ch config.Channel) []inbox.TestStep {
	c, err := g.a.buildConnector(ctx, testChannelID, ch, false)
	if err != nil {
		return []inbox.TestStep{{Step: "settings", Error: err.Error()}}
	}
	ctx, cancel := context.WithTimeout(ctx, testTimeout)
	defer cancel()
	step := func(name, detail string, err error) inbox.TestStep {
		s := inbox.TestStep{Step: name, OK: err == nil, Detail: detail}
		if err != nil {
			s.Error = err.Error()
		}
		return s
	}
	switch {
	case c.imap != nil:
		return []inbox.TestStep{
			step("imap", ch.IMAP.Addr+" "+strings.Join(ch.IMAP.Mailboxes, ", "), c.imap.Check(ctx)),
			step("smtp", ch.SMTP.Addr, c.smtp.Check(ctx)),
		}
	case c.twilio != nil:
		name, err := c.twilio.CheckAccount(ctx)
		return []inbox.TestStep{step("twilio", name, err)}
	}
	return []inbox.TestStep{{Step: string(ch.Kind), OK: true, Detail: "nothing to test: pair the device from the channel's page"}}
}

func (g gateway) ChannelsChanged() { g.a.live.Changed() }

func (g gateway) WebhookURLs(name string) (inbound, status string) {
	base := strings.TrimSuffix(g.a.cfg.HTTP.PublicURL, "/")
	inbound = base + "/webhooks/twilio/" + url.PathEscape(name)
	return inbound, inbound + "/status"
}

func (g gateway) ReloadBank(ctx context.Context) (*replies.Bank, error) {
	bank, model, err := loadBankAndModel(g.a.cfg.Resolve(g.a.cfg.KnowledgeBank))
	if err != nil {
		return nil, fmt.Errorf("the bank in use stays: %w", err)
	}
	bank = withForms(g.a.cfg, bank) // as at start: links to the form pages
	g.a.pipeline.SetKnowledge(bank, model)
	if g.a.svc != nil {
		g.a.svc.SetBank(bank)
	}
	g.a.log.InfoContext(ctx, "knowledge bank reloaded", "topics", len(bank.Topics()))
	return bank, nil
}

func (g gateway) Preview(ctx context.Context, in message.Inbound) (router.Preview, error) {
	return g.a.pipeline.Preview(ctx, in)
}
