package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/channels/email"
	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/channels/whatsapp"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"

	"go.mau.fi/whatsmeow/store/sqlstore"
)

// connector is one channel's parts, built from its settings: what the
// router needs of it, its webhook routes, and what runs to serve it.
type connector struct {
	id   int64
	name string
	kind message.Kind

	sender    channels.Sender
	fetcher   router.MediaFetcher // nil: the channel's messages carry no media to fetch
	shaper    router.ReplyShaper  // nil: no reply budget
	messageID func() string       // nil: its messages carry no Message-ID
	routes    *smsRoutes          // Twilio's webhooks
	imap      *email.IMAPSource
	smtp      *email.SMTPSender
	twilio    *sms.Channel
	wa        *whatsapp.Channel

	// everywhere runs on every replica (the SMS spool: a webhook reaches
	// any replica); leased on one replica at a time, under the channel's
	// lease (a mailbox, a linked device).
	everywhere []runner
	leased     runner
}

// testChannelID stands in for the id of a channel not stored yet, when its
// settings are checked or tested: those connectors never ingest.
const testChannelID = 1 << 40

// buildConnector makes a channel's connector from its settings (secrets
// included); nothing runs and nothing is dialled. spool: give an SMS
// channel its durable webhook spool (not for a test connection).
func (a *app) buildConnector(ctx context.Context, id int64, ch config.Channel, spool bool) (*connector, error) {
	c := &connector{id: id, name: ch.Name, kind: ch.Kind}
	log := a.log.With("channel", ch.Name)
	switch ch.Kind {
	case message.Email:
		if ch.IMAP == nil || ch.SMTP == nil {
			return nil, fmt.Errorf("email channel %q needs imap and smtp settings", ch.Name)
		}
		src, err := email.NewIMAPSource(email.IMAPConfig{
			ChannelID:      id,
			Addr:           ch.IMAP.Addr,
			Security:       ch.IMAP.Security,
			AllowPlain:     ch.IMAP.AllowPlain,
			Username:       ch.IMAP.Username,
			Password:       ch.IMAP.Password,
			Mailboxes:      ch.IMAP.Mailboxes,
			PollInterval:   ch.IMAP.PollInterval.D(time.Minute),
			BatchSize:      ch.IMAP.BatchSize,
			MaxMessageSize: ch.IMAP.MaxMessageSize,
			DisableIdle:    ch.IMAP.DisableIdle,
			FirstSync:      ch.IMAP.FirstSync.Mode,
			FirstSyncSince: ch.IMAP.FirstSync.Since,
		}, a.pipeline, a.store, log)
		if err != nil {
			return nil, err
		}
		snd, err := email.NewSMTPSender(email.SMTPConfig{
			Addr:          ch.SMTP.Addr,
			Security:      ch.SMTP.Security,
			AllowInsecure: ch.SMTP.AllowInsecure,
			Username:      ch.SMTP.Username,
			Password:      ch.SMTP.Password,
			From:          ch.SMTP.From,
			HeloName:      a.cfg.MailDomain,
		}, log)
		if err != nil {
			return nil, err
		}
		domain := a.cfg.MailDomain
		c.imap, c.smtp, c.sender, c.leased = src, snd, snd, src
		c.messageID = func() string { return email.NewMessageID(domain) }
	case message.SMS:
		if ch.Twilio == nil {
			return nil, fmt.Errorf("sms channel %q needs twilio settings", ch.Name)
		}
		httpClient := a.twilioHTTP
		if ch.Twilio.APIURL != "" {
			var err error
			if httpClient, err = redirectClient(ch.Twilio.APIURL); err != nil {
				return nil, fmt.Errorf("twilio.api_url: %w", err)
			}
		}
		cfg := sms.Config{
			ChannelID:             id,
			Name:                  ch.Name,
			AccountSID:            ch.Twilio.AccountSID,
			AuthToken:             ch.Twilio.AuthToken,
			From:                  ch.Twilio.From,
			MessagingServiceSID:   ch.Twilio.MessagingServiceSID,
			PublicURL:             a.cfg.HTTP.PublicURL,
			TrustForwardedHeaders: a.cfg.HTTP.TrustForwardedHeaders,
			DefaultRegion:         a.cfg.DefaultRegion,
			MaxMediaBytes:         ch.Twilio.MaxMediaBytes,
			SegmentBudget:         ch.Twilio.SegmentBudget,
			HTTPClient:            httpClient,
		}
		if spool {
			// Webhooks the store cannot take wait here, answered 200.
			cfg.SpoolDir = filepath.Join(a.cfg.DataDir, "spool", "twilio", ch.Name)
		}
		t, err := sms.New(cfg, log)
		if err != nil {
			return nil, err
		}
		c.twilio, c.sender, c.fetcher, c.shaper = t, t, t, t
		c.routes = &smsRoutes{
			inbound: a.webhooks.Limit(t.InboundHandler(a.coalesced), t.SpoolHandler()),
			status:  a.webhooks.Limit(t.StatusHandler(a.store), nil),
		}
		c.everywhere = append(c.everywhere, runFunc(func(ctx context.Context) error { return t.RunSpool(ctx, a.pipeline, a.store) }))
	case message.WhatsApp:
		cfg := whatsapp.Config{ChannelID: id, Name: ch.Name, DefaultRegion: a.cfg.DefaultRegion}
		if ch.WhatsApp != nil {
			cfg.AllowGroups, cfg.AllowStatus = ch.WhatsApp.AllowGroups, ch.WhatsApp.AllowStatus
		}
		var w *whatsapp.Channel
		var err error
		if a.newWhatsAppClient != nil {
			w, err = whatsapp.NewWithClients(cfg, a.newWhatsAppClient, a.pipeline, logAlerter{log}, log)
		} else {
			var devices *sqlstore.Container
			if devices, cfg.Dialect, err = a.whatsappDevices(ctx); err == nil {
				w, err = whatsapp.New(cfg, devices, a.pipeline, logAlerter{log}, log)
			}
		}
		if err != nil {
			return nil, err
		}
		// Media are downloaded by the media job, not the event handler.
		c.wa, c.sender, c.fetcher = w, w, w
		// Sends and media downloads need the device's connection: they
		// run where it is, from the channel's own queue.
		if spool { // a connector that will run, not one built to check settings
			a.homeQueues.add(id)
		}
		c.leased = workingQueue{r: w, queues: a.jobs.Queues(), queue: channelQueue(id), log: log}
	case message.Form, message.Phone:
		// Served by their own routes (intake.go); nothing runs.
	default:
		return nil, fmt.Errorf("channel %q: unknown kind %q", ch.Name, ch.Kind)
	}
	return c, nil
}

// whatsappDevices is whatsmeow's device store on our database, opened
// once (opening it upgrades its tables).
func (a *app) whatsappDevices(ctx context.Context) (*sqlstore.Container, string, error) {
	dialect := "sqlite"
	if a.store.Dialect() == store.Postgres {
		dialect = "pgx"
	}
	a.waOnce.Lock()
	defer a.waOnce.Unlock()
	if a.waDevices == nil {
		d, err := whatsapp.NewDeviceStore(ctx, a.store.DB(), dialect, a.log)
		if err != nil {
			return nil, "", err
		}
		a.waDevices = d
	}
	return a.waDevices, dialect, nil
}

// addConfigChannel records a channel of the config file (its row holds the
// settings with the secrets redacted; the file keeps them) and, unless it
// is disabled, builds it and puts it in the registry. serve starts it.
func (a *app) addConfigChannel(ctx context.Context, ch config.Channel) error {
	redacted, err := json.Marshal(redactChannel(ch))
	if err != nil {
		return err
	}
	row := store.Channel{Name: ch.Name, Kind: ch.Kind, Config: redacted, Enabled: !ch.Disabled}
	if err := a.store.UpsertChannel(ctx, &row); err != nil {
		return err
	}
	if ch.Disabled {
		return nil
	}
	c, err := a.buildConnector(ctx, row.ID, ch, true)
	if err != nil {
		return err
	}
	a.registry.install(c)
	a.fileChannels = append(a.fileChannels, c)
	return nil
}

// install puts a connector's parts where the router, the workers and the
// webhook routes find them.
func (r *registry) install(c *connector) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.conns[c.id] = c
	if c.sender != nil {
		r.senders[c.id] = c.sender
	}
	if c.fetcher != nil {
		r.fetchers[c.id] = c.fetcher
	}
	if c.shaper != nil {
		r.shapers[c.id] = c.shaper
	}
	if c.messageID != nil {
		r.messageIDs[c.id] = c.messageID
	}
	if c.routes != nil {
		r.routes[c.name] = *c.routes
	}
	if c.wa != nil {
		r.whatsapp[c.name] = c.wa
	}
}

// uninstall takes a channel's connector out: its replies wait (retried)
// and its webhooks answer 404 until it is back.
func (r *registry) uninstall(id int64) *connector {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.conns[id]
	if c == nil {
		return nil
	}
	delete(r.conns, id)
	delete(r.senders, id)
	delete(r.fetchers, id)
	delete(r.shapers, id)
	delete(r.messageIDs, id)
	if r.routes[c.name].inbound != nil && c.routes != nil {
		delete(r.routes, c.name)
	}
	if r.whatsapp[c.name] == c.wa {
		delete(r.whatsapp, c.name)
	}
	return c
}

func (r *registry) twilioRoutes(name string) (smsRoutes, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.routes[name]
	return s, ok
}

func (r *registry) whatsappChannel(name string) (*whatsapp.Channel, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.whatsapp[name]
	return c, ok
}

func (r *registry) connector(id int64) (*connector, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.conns[id]
	return c, ok
}

// smsRoutes are one Twilio channel's webhook handlers.
type smsRoutes struct{ inbound, status http.Handler }

// runFunc is a runner made of a function.
type runFunc func(ctx context.Context) error

func (f runFunc) Run(ctx context.Context) error { return f(ctx) }

// waOnce guards the device store; a type of its own so app's zero value
// works.
type waOnce = sync.Mutex
