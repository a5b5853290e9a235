// Package whatsapp connects Wasl to WhatsApp as a linked device of the
// organisation's number, through go.mau.fi/whatsmeow.
//
// Inbound messages are translated to message.Inbound and handed to an
// Ingester; replies go out through Send (channels.Sender). Device keys live
// in whatsmeow's sqlstore on Wasl's own database (NewDeviceStore).
//
// Delivery guarantee: the whatsmeow client runs with SynchronousAck and its
// decrypted-event buffer, so a message is acknowledged to WhatsApp only after
// Ingest returned without error. When Ingest keeps failing the message is
// left unacknowledged and the channel reconnects (after backoff) so that
// WhatsApp delivers it again; the buffer lets whatsmeow decrypt the second
// copy. Failures are counted per message across redeliveries: the fifth
// stores the message quarantined with the error and acknowledges it, so one
// message that breaks the pipeline does not come back forever; if that
// fails too, the store is down and the message waits for the next delivery.
// What this cannot cover: WhatsApp keeps undelivered messages for a limited
// time (weeks), so a store that stays down longer loses them.
package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"

	"github.com/wasl-dev/wasl/message"
)

// Ingester takes one translated message and commits it (the router's
// pipeline). Only after it returns without error is the message
// acknowledged to WhatsApp.
type Ingester interface {
	Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error)
}

// Alerter is told when the channel needs an operator (logged out, banned,
// taken over by another session).
type Alerter interface {
	Alert(ctx context.Context, channelID int64, text string)
}

// Config configures one WhatsApp channel.
type Config struct {
	ChannelID     int64
	Name          string
	Dialect       string // "sqlite" or "pgx": the device store's dialect (NewDeviceStore)
	DefaultRegion string // for numbers written without country code, e.g. "SA"
	AllowGroups   bool   // default false: group chats ignored
	AllowStatus   bool   // default false: status@broadcast ignored
	MaxMediaBytes int64  // default 16 MiB; larger media are kept without content, with the reason
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
}

// Defaults for the zero values of Config.
const (
	DefaultMaxMediaBytes = 16 << 20
	DefaultMinBackoff    = 2 * time.Second
	DefaultMaxBackoff    = 5 * time.Minute
)

func (c Config) withDefaults() Config {
	if c.MaxMediaBytes == 0 {
		c.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	return c
}

// Errors the channel returns.
var (
	ErrNotConnected   = errors.New("whatsapp: not connected")
	ErrAlreadyPaired  = errors.New("whatsapp: device already paired")
	ErrPairing        = errors.New("whatsapp: pairing already in progress")
	ErrAlreadyRunning = errors.New("whatsapp: channel already running")
)

// client is what the channel uses of *whatsmeow.Client, plus two reads of
// its device store; tests fake it.
type client interface {
	downloader
	AddEventHandlerWithSuccessStatus(h whatsmeow.EventHandlerWithSuccessStatus) uint32
	ConnectContext(ctx context.Context) error
	Disconnect()
	IsConnected() bool
	IsLoggedIn() bool
	GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error)
	SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error)
	IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error)

	// ID is the paired device's JID; ok is false before pairing.
	ID() (jid types.JID, ok bool)
	// PNForLID looks up the phone JID whatsmeow has seen for a LID.
	PNForLID(ctx context.Context, lid types.JID) (types.JID, error)
	// Forget deletes the device from the store (after a logout).
	Forget(ctx context.Context) error
	// Logout unlinks the device from the phone and deletes it.
	Logout(ctx context.Context) error
}

// deviceStore is where devices come from: *sqlstore.Container.
type deviceStore interface {
	GetFirstDevice(ctx context.Context) (*store.Device, error)
}

// Channel is one WhatsApp number linked as a device.
//
// The device store holds one device per database (GetFirstDevice): one
// WhatsApp channel per Wasl database.
type Channel struct {
	cfg       Config
	devices   deviceStore
	sink      Ingester
	alert     Alerter
	log       *slog.Logger
	newClient func(dev *store.Device) client

	kick chan struct{} // wakes Run after an event changed what it must do

	mu        sync.Mutex
	ctx       context.Context // Run's, for event handlers
	cli       client
	running   bool
	pairing   bool
	status    Status
	changed   chan struct{}  // closed and replaced on every status change
	dropped   bool           // connection lost: reconnect after backoff
	redeliver bool           // a message was left unacknowledged: reconnect to get it again
	failures  map[string]int // failed ingests by message id, across redeliveries
	loggedOut bool           // unlinked: no reconnecting until paired again
	holdUntil time.Time      // no reconnecting before (temporary ban, session taken over)
}

// New makes a channel. It does no I/O: Run connects, Pair links a device.
func New(cfg Config, container *sqlstore.Container, sink Ingester, alert Alerter, log *slog.Logger) (*Channel, error) {
	if container == nil {
		return nil, fmt.Errorf("whatsapp channel %q: nil device store", cfg.Name)
	}
	return newChannel(cfg, container, sink, alert, log)
}

func newChannel(cfg Config, devices deviceStore, sink Ingester, alert Alerter, log *slog.Logger) (*Channel, error) {
	cfg = cfg.withDefaults()
	switch {
	case sink == nil:
		return nil, fmt.Errorf("whatsapp channel %q: nil ingester", cfg.Name)
	case cfg.MaxMediaBytes < 0:
		return nil, fmt.Errorf("whatsapp channel %q: negative MaxMediaBytes", cfg.Name)
	case cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff:
		return nil, fmt.Errorf("whatsapp channel %q: backoff %v..%v is not a range", cfg.Name, cfg.MinBackoff, cfg.MaxBackoff)
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("channel", cfg.Name, "channel_id", cfg.ChannelID)
	c := &Channel{
		cfg:     cfg,
		devices: devices,
		sink:    sink,
		alert:   alert,
		log:     log,
		kick:    make(chan struct{}, 1),
		changed: make(chan struct{}),
		status:  Status{State: StateConnecting, Since: time.Now()},
	}
	c.newClient = c.whatsmeowClient
	return c, nil
}

func (c *Channel) whatsmeowClient(dev *store.Device) client {
	cli := whatsmeow.NewClient(dev, newWALogger(c.log))
	// Run reconnects itself, with the configured backoff and visible states.
	cli.EnableAutoReconnect = false
	// Acknowledge a message only once our handler returned true, and keep
	// its plaintext until then so that a re-delivery can be decrypted.
	cli.SynchronousAck = true
	cli.EnableDecryptedEventBuffer = true
	return whatsmeowClient{cli}
}

// whatsmeowClient adds the device-store reads the channel needs.
type whatsmeowClient struct{ *whatsmeow.Client }

func (w whatsmeowClient) ID() (types.JID, bool) {
	if id := w.Store.ID; id != nil {
		return *id, true
	}
	return types.JID{}, false
}

func (w whatsmeowClient) PNForLID(ctx context.Context, lid types.JID) (types.JID, error) {
	return w.Store.LIDs.GetPNForLID(ctx, lid)
}

func (w whatsmeowClient) Forget(ctx context.Context) error {
	if w.Store.ID == nil {
		return nil
	}
	return w.Store.Delete(ctx)
}

func (c *Channel) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// eventContext is the context event handlers work in: Run's while it runs,
// so that shutting down abandons (and leaves unacknowledged) work in flight.
func (c *Channel) eventContext() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx != nil {
		return c.ctx
	}
	return context.Background()
}

func (c *Channel) current() client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cli
}

// loadClient makes a client for the stored device (a new, unpaired one if
// there is none) and routes its events to the channel.
func (c *Channel) loadClient(ctx context.Context) (client, error) {
	dev, err := c.devices.GetFirstDevice(ctx)
	if err != nil {
		return nil, fmt.Errorf("whatsapp channel %q: load device: %w", c.cfg.Name, err)
	}
	cli := c.newClient(dev)
	cli.AddEventHandlerWithSuccessStatus(func(evt any) bool { return c.handleEvent(cli, evt) })
	return cli, nil
}

// Run keeps the channel connected until ctx ends: it connects when a device
// is paired (else shows needs_pairing and waits for Pair), reconnects with
// backoff when the connection drops, and after a logout stops reconnecting
// until the device is paired again. It returns nil when ctx ends, and an
// error only if the channel is already running.
func (c *Channel) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.running {
		c.mu.Unlock()
		return ErrAlreadyRunning
	}
	c.running = true
	c.ctx = ctx
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		cli := c.cli
		c.running = false
		c.ctx = nil
		c.mu.Unlock()
		if cli != nil {
			cli.Disconnect()
		}
	}()

	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	var connectedAt time.Time
	// live is the client Run has connected and seen no drop of since. Run
	// reconnects it only on the event that says so: whatsmeow closes the
	// socket before its goroutine delivers the reason (Disconnected,
	// LoggedOut, ...), so a wake-up that finds it disconnected must not
	// reconnect by itself.
	var live client
	for ctx.Err() == nil {
		c.mu.Lock()
		cli, pairing, loggedOut := c.cli, c.pairing, c.loggedOut
		c.mu.Unlock()

		if pairing {
			// Pair owns the client until it is done; it wakes us.
			c.waitKick(ctx)
			continue
		}
		if loggedOut {
			// The old client is dead; a new pairing brings a new one.
			if cli != nil {
				cli.Disconnect()
			}
			c.mu.Lock()
			if c.cli == cli && !c.pairing {
				c.cli = nil
				c.setStatusLocked(StateLoggedOut, c.status.Error)
			}
			c.mu.Unlock()
			c.waitKick(ctx)
			continue
		}
		if cli == nil {
			var err error
			cli, err = c.loadClient(ctx)
			if err != nil {
				c.log.Error("whatsapp: cannot load device", "err", err)
				c.setStatus(StateConnecting, err.Error())
				sleep(ctx, bo.next())
				continue
			}
			c.mu.Lock()
			if c.pairing || c.cli != nil {
				// Pair started meanwhile: its client wins.
				c.mu.Unlock()
				continue
			}
			c.cli = cli
			c.mu.Unlock()
		}
		if _, paired := cli.ID(); !paired {
			c.mu.Lock()
			if !c.pairing {
				c.setStatusLocked(c.unpairedStateLocked(), "")
			}
			c.mu.Unlock()
			c.waitKick(ctx)
			continue
		}

		if cli != live && !cli.IsConnected() {
			c.mu.Lock()
			hold := time.Until(c.holdUntil)
			// Events that came during the backoff were about the
			// connection already dropped.
			c.dropped, c.redeliver = false, false
			c.mu.Unlock()
			if hold > 0 {
				sleep(ctx, hold)
				continue
			}
			c.setStatus(StateConnecting, c.Status().Error)
			if err := cli.ConnectContext(ctx); err != nil && !errors.Is(err, whatsmeow.ErrAlreadyConnected) {
				if ctx.Err() != nil {
					break
				}
				d := bo.next()
				c.log.Warn("whatsapp: connect failed", "err", redact(err), "retry_in", d)
				c.setStatus(StateConnecting, redact(err).Error())
				sleep(ctx, d)
				continue
			}
		}
		live = cli

		c.waitKick(ctx)

		c.mu.Lock()
		st := c.status.State
		dropped, redeliver := c.dropped, c.redeliver
		c.dropped, c.redeliver = false, false
		c.mu.Unlock()
		switch {
		case c.isLoggedOut():
			// handled at the top of the loop
		case dropped || redeliver:
			if !connectedAt.IsZero() && time.Since(connectedAt) > c.cfg.MaxBackoff {
				// It was a healthy connection: start the backoff afresh.
				bo.reset()
			}
			connectedAt = time.Time{}
			live = nil
			cli.Disconnect()
			d := bo.next()
			if redeliver {
				c.log.Info("whatsapp: reconnecting so that unacknowledged messages are delivered again", "in", d)
			} else {
				c.log.Warn("whatsapp: connection lost, reconnecting", "in", d)
			}
			sleep(ctx, d)
		case st == StateConnected:
			if connectedAt.IsZero() {
				connectedAt = time.Now()
			}
		}
	}
	return nil
}

func (c *Channel) isLoggedOut() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loggedOut
}

func (c *Channel) waitKick(ctx context.Context) {
	select {
	case <-c.kick:
	case <-ctx.Done():
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// backoff doubles from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	switch {
	case b.cur == 0:
		b.cur = b.min
	case b.cur < b.max:
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }

// redact drops URLs from err: media URLs carry access tokens.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
