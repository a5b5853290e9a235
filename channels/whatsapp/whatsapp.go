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
// copy. What this cannot cover: WhatsApp keeps undelivered messages for a
// limited time (weeks), so a store that stays down longer loses them.
package whatsapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wasl-dev/wasl/channels"
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
	MaxMediaBytes int64  // default 16 MiB; larger media are listed, not downloaded
	MinBackoff    time.Duration
	MaxBackoff    time.Duration
}

// Defaults for the zero values of Config.
const (
	DefaultMaxMediaBytes = 16 << 20
	DefaultMinBackoff    = 2 * time.Second
	DefaultMaxBackoff    = 5 * time.Minute
)

const (
	// ingestAttempts bounds the in-place retries of Ingest: the handler
	// holds up whatsmeow's event queue while it retries.
	ingestAttempts = 3
	// downloadTimeout bounds one media download.
	downloadTimeout = 2 * time.Minute
	// pairSettle is how long Pair waits, after the phone accepted the code,
	// for the new device's first login.
	pairSettle = time.Minute
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

// State is where the channel's link to WhatsApp stands.
type State string

// The channel states.
const (
	StateNeedsPairing State = "needs_pairing" // no device: run Pair
	StatePairing      State = "pairing"       // QR code shown, waiting for the phone
	StateConnecting   State = "connecting"    // paired, (re)connecting
	StateConnected    State = "connected"
	StateLoggedOut    State = "logged_out" // unlinked from the phone: needs pairing again
)

// Status is the channel's state as the operator page shows it.
type Status struct {
	State  State     `json:"state"`
	QRCode string    `json:"qr_code,omitempty"` // the raw code to render, while pairing
	JID    string    `json:"jid,omitempty"`
	Since  time.Time `json:"since"`
	Error  string    `json:"error,omitempty"`
}

// Errors the channel returns.
var (
	ErrNotConnected   = errors.New("whatsapp: not connected")
	ErrAlreadyPaired  = errors.New("whatsapp: device already paired")
	ErrPairing        = errors.New("whatsapp: pairing already in progress")
	ErrAlreadyRunning = errors.New("whatsapp: channel already running")
)

// downloader fetches and decrypts one media item.
type downloader interface {
	Download(ctx context.Context, msg whatsmeow.DownloadableMessage) ([]byte, error)
}

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
	changed   chan struct{} // closed and replaced on every status change
	dropped   bool          // connection lost: reconnect after backoff
	redeliver bool          // a message was left unacknowledged: reconnect to get it again
	loggedOut bool          // unlinked: no reconnecting until paired again
	holdUntil time.Time     // no reconnecting before (temporary ban, session taken over)
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

// Status reports the channel's state.
func (c *Channel) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// setStatusLocked changes the state; Since moves only when State does.
func (c *Channel) setStatusLocked(state State, errText string) {
	st := c.status
	if st.State != state {
		st.Since = time.Now()
	}
	st.State = state
	st.Error = errText
	if state != StatePairing {
		st.QRCode = ""
	}
	if c.cli != nil {
		if jid, ok := c.cli.ID(); ok {
			st.JID = jid.ToNonAD().String()
		} else {
			st.JID = ""
		}
	}
	if st != c.status {
		c.status = st
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *Channel) setStatus(state State, errText string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStatusLocked(state, errText)
}

// unpairedStateLocked is the state to show without a device: logged out
// stays visible until a new pairing succeeds.
func (c *Channel) unpairedStateLocked() State {
	if c.loggedOut {
		return StateLoggedOut
	}
	return StateNeedsPairing
}

// waitStatus blocks until ok(status) or ctx ends.
func (c *Channel) waitStatus(ctx context.Context, ok func(Status) bool) (Status, error) {
	for {
		c.mu.Lock()
		st, ch := c.status, c.changed
		c.mu.Unlock()
		if ok(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
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

// Pair links a new device by QR code: onQR gets each code to show (they
// rotate every 20–60 s) and Status carries it too. It returns once the phone
// accepted a code and the device logged in, or with an error when the codes
// ran out, the phone refused, or ctx ended. Run picks up the paired device;
// without Run (the pair command), Pair disconnects before returning.
func (c *Channel) Pair(ctx context.Context, onQR func(code string)) error {
	c.mu.Lock()
	if c.pairing {
		c.mu.Unlock()
		return ErrPairing
	}
	if c.cli != nil && !c.loggedOut {
		if jid, ok := c.cli.ID(); ok {
			c.mu.Unlock()
			return fmt.Errorf("%w as %s", ErrAlreadyPaired, jid.ToNonAD())
		}
	}
	c.pairing = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pairing = false
		c.mu.Unlock()
		c.wake()
	}()

	cli, err := c.loadClient(ctx)
	if err != nil {
		return err
	}
	if jid, ok := cli.ID(); ok {
		if !c.isLoggedOut() {
			return fmt.Errorf("%w as %s", ErrAlreadyPaired, jid.ToNonAD())
		}
		// whatsmeow deletes a logged-out device itself; this covers the
		// case where that failed.
		if err := cli.Forget(ctx); err != nil {
			return fmt.Errorf("whatsapp channel %q: delete logged-out device: %w", c.cfg.Name, err)
		}
		if cli, err = c.loadClient(ctx); err != nil {
			return err
		}
	}
	qrs, err := cli.GetQRChannel(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp channel %q: pairing: %w", c.cfg.Name, err)
	}

	c.mu.Lock()
	old := c.cli
	c.cli = cli
	c.setStatusLocked(StatePairing, "")
	c.mu.Unlock()
	if old != nil && old != cli {
		old.Disconnect()
	}

	fail := func(err error) error {
		cli.Disconnect()
		c.mu.Lock()
		c.setStatusLocked(c.unpairedStateLocked(), err.Error())
		c.mu.Unlock()
		return fmt.Errorf("whatsapp channel %q: pairing: %w", c.cfg.Name, err)
	}
	if err := cli.ConnectContext(ctx); err != nil {
		return fail(redact(err))
	}
	if err := c.readQRs(ctx, qrs, onQR); err != nil {
		return fail(err)
	}

	c.mu.Lock()
	c.loggedOut = false
	c.holdUntil = time.Time{}
	if c.status.State == StatePairing {
		c.setStatusLocked(StateConnecting, "")
	}
	running := c.running
	c.mu.Unlock()
	c.log.Info("whatsapp: device paired", "jid", c.Status().JID)

	// The phone has accepted; whatsmeow now reconnects as the new device.
	// Waiting for that login is what makes the link show as active.
	wctx, cancel := context.WithTimeout(ctx, pairSettle)
	defer cancel()
	_, werr := c.waitStatus(wctx, func(s Status) bool { return s.State == StateConnected })
	if !running {
		cli.Disconnect()
	}
	if werr != nil {
		c.log.Warn("whatsapp: paired, but the first login did not complete yet", "err", werr)
	}
	return nil
}

// readQRs follows whatsmeow's QR channel until it reports the outcome.
func (c *Channel) readQRs(ctx context.Context, qrs <-chan whatsmeow.QRChannelItem, onQR func(string)) error {
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case item, ok = <-qrs:
		}
		if !ok {
			return errors.New("QR channel closed without a result")
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			c.mu.Lock()
			c.setStatusLocked(StatePairing, "")
			if c.status.QRCode != item.Code {
				c.status.QRCode = item.Code
				close(c.changed)
				c.changed = make(chan struct{})
			}
			c.mu.Unlock()
			if onQR != nil {
				onQR(item.Code)
			}
		case whatsmeow.QRChannelSuccess.Event:
			return nil
		case whatsmeow.QRChannelTimeout.Event:
			return errors.New("no QR code was scanned in time")
		case whatsmeow.QRChannelEventError:
			return fmt.Errorf("phone refused the link: %w", item.Error)
		case whatsmeow.QRChannelClientOutdated.Event:
			return errors.New("WhatsApp says this client version is outdated; upgrade whatsmeow")
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			return errors.New("the phone scanned the code without multi-device support")
		default:
			return fmt.Errorf("unexpected pairing event %q", item.Event)
		}
	}
}

// handleEvent receives every whatsmeow event of cli. Its result tells
// whatsmeow whether to acknowledge the message it came from.
func (c *Channel) handleEvent(cli client, evt any) bool {
	switch e := evt.(type) {
	case *events.Message:
		return c.handleMessage(cli, e)
	case *events.Connected:
		c.connEvent(cli, func() {
			if c.status.State == StateLoggedOut {
				return // late: the logout came after this login
			}
			c.dropped = false
			c.setStatusLocked(StateConnected, "")
		})
		c.log.Info("whatsapp: connected")
	case *events.PairSuccess:
		c.connEvent(cli, func() { c.setStatusLocked(c.status.State, "") })
	case *events.Disconnected:
		c.connEvent(cli, func() {
			c.dropped = true
			c.setStatusLocked(StateConnecting, "connection lost")
		})
	case *events.KeepAliveTimeout:
		// Without whatsmeow's auto-reconnect, a dead socket is ours to drop.
		if time.Since(e.LastSuccess) > whatsmeow.KeepAliveMaxFailTime {
			c.connEvent(cli, func() {
				c.dropped = true
				c.setStatusLocked(StateConnecting, "keepalive failing")
			})
		}
	case *events.ConnectFailure:
		c.connEvent(cli, func() {
			c.dropped = true
			c.setStatusLocked(StateConnecting, "connect failure: "+e.Reason.String()+" "+e.Message)
		})
	case *events.LoggedOut:
		reason := e.Reason.String()
		if c.connEvent(cli, func() {
			c.loggedOut = true
			c.setStatusLocked(StateLoggedOut, "logged out: "+reason)
		}) {
			c.log.Error("whatsapp: logged out; the channel needs pairing again", "reason", reason)
			c.raise(fmt.Sprintf("WhatsApp channel %q was logged out (%s). Pair it again from the operator page or with `wasl whatsapp pair --channel %s`.", c.cfg.Name, reason, c.cfg.Name))
		}
	case *events.StreamReplaced:
		if c.connEvent(cli, func() {
			c.dropped = true
			c.holdUntil = time.Now().Add(c.cfg.MaxBackoff)
			c.setStatusLocked(StateConnecting, "another connection with the same device took over")
		}) {
			c.raise(fmt.Sprintf("WhatsApp channel %q was disconnected because another process connected with the same device; is the channel running twice?", c.cfg.Name))
		}
	case *events.TemporaryBan:
		if c.connEvent(cli, func() {
			c.dropped = true
			c.holdUntil = time.Now().Add(max(e.Expire, c.cfg.MaxBackoff))
			c.setStatusLocked(StateConnecting, e.String())
		}) {
			c.raise(fmt.Sprintf("WhatsApp channel %q is temporarily banned: %s", c.cfg.Name, e.String()))
		}
	case *events.ClientOutdated:
		if c.connEvent(cli, func() {
			c.dropped = true
			c.holdUntil = time.Now().Add(c.cfg.MaxBackoff)
			c.setStatusLocked(StateConnecting, "client outdated")
		}) {
			c.raise(fmt.Sprintf("WhatsApp channel %q: WhatsApp rejects this client version as outdated; upgrade Wasl.", c.cfg.Name))
		}
	}
	return true
}

// connEvent applies a connection event of cli under the lock, unless cli is
// no longer the channel's client, and wakes Run. It reports whether it
// applied.
func (c *Channel) connEvent(cli client, apply func()) bool {
	c.mu.Lock()
	if c.cli != cli {
		c.mu.Unlock()
		return false
	}
	apply()
	c.mu.Unlock()
	c.wake()
	return true
}

func (c *Channel) raise(text string) {
	if c.alert == nil {
		return
	}
	c.alert.Alert(c.eventContext(), c.cfg.ChannelID, text)
}

// handleMessage translates, downloads and ingests one message. It returns
// false (leave unacknowledged) only when Ingest kept failing.
func (c *Channel) handleMessage(cli client, evt *events.Message) bool {
	ctx := c.eventContext()
	log := c.log.With("message_id", evt.Info.ID)

	if evt.Info.Sender.Server == types.HiddenUserServer && evt.Info.SenderAlt.IsEmpty() {
		// whatsmeow remembers the phone behind a LID it has seen before.
		if pn, err := cli.PNForLID(ctx, evt.Info.Sender.ToNonAD()); err != nil {
			log.Warn("whatsapp: LID lookup failed", "err", err)
		} else if !pn.IsEmpty() {
			e := *evt
			e.Info.SenderAlt = pn
			evt = &e
		}
	}

	in, skip, err := Translate(evt, c.cfg)
	if skip != "" {
		level := slog.LevelDebug
		if strings.HasPrefix(skip, SkipUnsupported) {
			level = slog.LevelInfo
		}
		log.Log(ctx, level, "whatsapp: message ignored", "reason", skip)
		return true
	}
	if err != nil {
		log.Warn("whatsapp: message quarantined", "reason", err)
	}
	if len(in.Attachments) > 0 {
		c.fetchMedia(ctx, cli, evt.Message, &in, log)
	}
	in.ReceivedAt = time.Now()

	if err := c.ingest(ctx, in, log); err != nil {
		log.Error("whatsapp: message not stored; left unacknowledged for WhatsApp to deliver again", "err", err)
		c.mu.Lock()
		if c.cli == cli {
			c.redeliver = true
		}
		c.mu.Unlock()
		c.wake()
		return false
	}
	return true
}

// ingest hands in to the sink, retrying a few times in place.
func (c *Channel) ingest(ctx context.Context, in message.Inbound, log *slog.Logger) error {
	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	var err error
	for attempt := 1; ; attempt++ {
		if _, err = c.sink.Ingest(ctx, in); err == nil {
			return nil
		}
		if attempt == ingestAttempts || ctx.Err() != nil {
			return fmt.Errorf("ingest (%d attempts): %w", attempt, err)
		}
		d := bo.next()
		log.Warn("whatsapp: ingest failed, retrying", "err", err, "attempt", attempt, "retry_in", d)
		sleep(ctx, d)
	}
}

// fetchMedia downloads the attachment Translate listed. A download that
// fails or is too large leaves the attachment without content and a note in
// the text: the message itself is never dropped.
func (c *Channel) fetchMedia(ctx context.Context, d downloader, msg *waE2E.Message, in *message.Inbound, log *slog.Logger) {
	m := mediaOf(msg)
	if m == nil {
		return
	}
	att := &in.Attachments[0]
	var why string
	if m.size > c.cfg.MaxMediaBytes {
		why = fmt.Sprintf("larger than the %d-byte limit", c.cfg.MaxMediaBytes)
	} else {
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		data, err := d.Download(dctx, m.msg)
		cancel()
		switch {
		case err != nil:
			why = "download failed"
			log.Warn("whatsapp: media download failed", "err", redact(err), "filename", att.Filename)
		case int64(len(data)) > c.cfg.MaxMediaBytes:
			why = fmt.Sprintf("larger than the %d-byte limit", c.cfg.MaxMediaBytes)
		default:
			att.Content = data
			att.Size = int64(len(data))
			return
		}
	}
	log.Warn("whatsapp: attachment kept without content", "filename", att.Filename, "reason", why)
	note := fmt.Sprintf("[WhatsApp: attachment %q (%s, %d bytes) was not downloaded: %s]", att.Filename, att.ContentType, att.Size, why)
	if strings.TrimSpace(in.Text) == "" {
		in.Text = note
	} else {
		in.Text += "\n\n" + note
	}
}

// redact drops URLs from err: media URLs carry access tokens.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// OutboundMessageID is the WhatsApp message id Send uses for outbound
// message outID: derived, not random, so a retried job re-sends the same id
// and WhatsApp keeps one copy. It has the shape of WhatsApp Web's ids
// ("3EB0" and 18 upper-case hex digits).
func OutboundMessageID(channelID, outID int64) types.MessageID {
	sum := sha256.Sum256(fmt.Appendf(nil, "wasl/whatsapp/%d/%d", channelID, outID))
	return whatsmeow.WebMessageIDPrefix + strings.ToUpper(hex.EncodeToString(sum[:9]))
}

// Send sends out.Text to out.To (a phone number). Not being connected is a
// retryable error; a bad number, an empty text or a number that is not on
// WhatsApp is permanent (channels.Permanent).
func (c *Channel) Send(ctx context.Context, out message.Outbound) (message.Delivery, error) {
	fail := func(err error) (message.Delivery, error) {
		return message.Delivery{State: message.StateFailed}, channels.Permanent(fmt.Errorf("whatsapp channel %q: outbound %d: %w", c.cfg.Name, out.ID, err))
	}
	retry := func(err error) (message.Delivery, error) {
		return message.Delivery{State: message.StateQueued}, fmt.Errorf("whatsapp channel %q: outbound %d: %w", c.cfg.Name, out.ID, err)
	}
	if out.ID == 0 {
		return fail(errors.New("no outbound id to derive an idempotent message id from"))
	}
	if out.To.Kind != message.IdentityPhone {
		return fail(fmt.Errorf("recipient is a %s, not a phone number", out.To.Kind))
	}
	phone, err := message.NormalizePhone(out.To.Value, c.cfg.DefaultRegion)
	if err != nil {
		return fail(err)
	}
	text := strings.TrimSpace(out.Text)
	if text == "" {
		return fail(errors.New("empty text"))
	}

	cli := c.current()
	if cli == nil || !cli.IsConnected() || !cli.IsLoggedIn() {
		return retry(ErrNotConnected)
	}
	to := types.NewJID(strings.TrimPrefix(phone, "+"), types.DefaultUserServer)
	id := OutboundMessageID(c.cfg.ChannelID, out.ID)
	resp, err := cli.SendMessage(ctx, to, &waE2E.Message{Conversation: proto.String(text)}, whatsmeow.SendRequestExtra{ID: id})
	if err != nil {
		if errors.Is(err, whatsmeow.ErrNotConnected) || errors.Is(err, whatsmeow.ErrNotLoggedIn) || ctx.Err() != nil {
			return retry(redact(err))
		}
		// A failed send to a number that is not on WhatsApp would fail
		// forever; ask only now, to keep lookups (which WhatsApp
		// rate-limits) off the normal path.
		if on, lerr := cli.IsOnWhatsApp(ctx, []string{phone}); lerr == nil && !isOn(on, to.User) {
			return fail(fmt.Errorf("%s is not on WhatsApp", phone))
		}
		return retry(redact(err))
	}
	c.log.Info("whatsapp: sent", "outbound_id", out.ID, "message_id", resp.ID)
	return message.Delivery{ProviderID: resp.ID, State: message.StateSent}, nil
}

func isOn(res []types.IsOnWhatsAppResponse, user string) bool {
	for _, r := range res {
		if r.IsIn && (r.JID.User == user || strings.TrimPrefix(r.Query, "+") == user) {
			return true
		}
	}
	return false
}

// PrintQR draws code as a QR code for a terminal (the pair command).
func PrintQR(w io.Writer, code string) {
	qrterminal.GenerateHalfBlock(code, qrterminal.L, w)
}

var _ channels.Sender = (*Channel)(nil)
