package inbox

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// Gateway is what the operator pages need of the running gateway: build and
// test a channel's connectors, pick up changed channel rows, reload the
// bank, and run the pipeline on a message without storing it. The binary
// (cmd/wasl) provides it.
type Gateway interface {
	// CheckChannel builds the channel's connectors without running them,
	// so settings that could never work are refused before they are
	// stored.
	CheckChannel(ctx context.Context, ch config.Channel) error
	// TestChannel connects with the settings: IMAP login and EXAMINE,
	// SMTP EHLO and AUTH, Twilio's account; nothing is fetched or sent.
	TestChannel(ctx context.Context, ch config.Channel) []TestStep
	// ChannelsChanged says a channel row changed: start, restart or stop
	// its connectors now rather than at the next poll.
	ChannelsChanged()
	// WebhookURLs are where Twilio must post for a channel of that name.
	WebhookURLs(name string) (inbound, status string)
	// ReloadBank reads the bank file again; on an error the old bank stays.
	ReloadBank(ctx context.Context) (*replies.Bank, error)
	// Preview is what the pipeline would do with a first message.
	Preview(ctx context.Context, in message.Inbound) (router.Preview, error)
}

// TestStep is one step of "test connection": what was tried, and the
// server's own answer when it failed.
type TestStep struct {
	Step  string `json:"step"` // imap, smtp, twilio
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	// Detail says what was checked (the server, the account's name).
	Detail string `json:"detail,omitempty"`
}

// Channel actions carried to the replica that drives the channel.
const (
	ActionPair   = "pair"
	ActionLogout = "logout"
)

// Connector states shown on the channels page (WhatsApp's own states —
// needs_pairing, pairing, connecting, connected, logged_out — pass as they
// are).
const (
	StateConnected    = "connected"
	StateConnecting   = "connecting"
	StateReconnecting = "reconnecting"
	StateRunning      = "running" // no connection of its own (Twilio: webhooks and REST)
	StateError        = "error"   // could not start: the error says why
)

// ConnectorStatus is what a channel's connector reports, through the
// channel_status table, from the replica that runs it.
type ConnectorStatus struct {
	State     string          `json:"state"`
	Error     string          `json:"error,omitempty"`
	ErrorAt   time.Time       `json:"error_at,omitzero"`
	Since     time.Time       `json:"since,omitzero"`
	Mailboxes []MailboxStatus `json:"mailboxes,omitempty"`
	WhatsApp  *WhatsAppStatus `json:"whatsapp,omitempty"`
}

// MailboxStatus is one IMAP mailbox's sync.
type MailboxStatus struct {
	Name      string    `json:"name"`
	Connected bool      `json:"connected"`
	Idle      bool      `json:"idle"` // false: polling
	LastSync  time.Time `json:"last_sync,omitzero"`
	Fetched   int64     `json:"fetched"`
	SyncDone  int       `json:"sync_done,omitempty"` // a first sync in progress: SyncDone of SyncTotal
	SyncTotal int       `json:"sync_total,omitempty"`
	Error     string    `json:"error,omitempty"`
	ErrorAt   time.Time `json:"error_at,omitzero"`
}

// WhatsAppStatus is a linked device's pairing.
type WhatsAppStatus struct {
	// QRCode is the code to scan while pairing; it links a device, so it
	// is shown to operators only.
	QRCode string `json:"qr_code,omitempty"`
	Phone  string `json:"phone,omitempty"` // the linked number
}

// OperatorConfig tunes the operator pages.
type OperatorConfig struct {
	// Key encrypts the credentials entered in the UI; nil refuses them
	// (secrets.ErrNoKey).
	Key *secrets.Key
	// StaleAfter: a status report older than this is from a replica that
	// stopped (default 30s).
	StaleAfter time.Duration
	Now        func() time.Time
}

// Operator carries out what operators do: channels and their credentials,
// users and departments, the bank, and the audit log of all of it. Every
// method refuses anyone but an operator (ErrForbidden); every change is
// audited in its own transaction.
type Operator struct {
	store *store.Store
	gw    Gateway
	svc   *Service
	cfg   OperatorConfig
	log   *slog.Logger
}

// NewOperator builds the operator service.
func NewOperator(st *store.Store, gw Gateway, svc *Service, cfg OperatorConfig, log *slog.Logger) *Operator {
	if cfg.StaleAfter <= 0 {
		cfg.StaleAfter = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Operator{store: st, gw: gw, svc: svc, cfg: cfg, log: log}
}

// HasKey reports whether credentials can be stored.
func (o *Operator) HasKey() bool { return o.cfg.Key != nil }

func operatorOnly(p Principal) error {
	if !p.Operator() {
		return ErrForbidden
	}
	return nil
}

func (o *Operator) audit(p Principal, action, kind, target, detail string) store.AuditEntry {
	return store.AuditEntry{At: o.cfg.Now(), Actor: p.Actor(), Action: action, TargetKind: kind, Target: target, Detail: detail}
}

// AuditLog lists what operators changed, newest first.
func (o *Operator) AuditLog(ctx context.Context, p Principal, f store.AuditFilter) ([]store.AuditEntry, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	return o.store.AuditLog(ctx, f)
}

// Bank is the bank in use.
func (o *Operator) Bank() *replies.Bank { return o.svc.Bank() }

// ReloadBank reads the bank file again, keeping the old bank when the new
// one is invalid (the error lists every problem with its line). Both
// outcomes are audited.
func (o *Operator) ReloadBank(ctx context.Context, p Principal) (*replies.Bank, error) {
	if err := operatorOnly(p); err != nil {
		return nil, err
	}
	b, err := o.gw.ReloadBank(ctx)
	e := o.audit(p, "bank.reload", "bank", "", "")
	if err != nil {
		e.Action, e.Detail = "bank.reload_failed", clip(err.Error(), 2000)
	} else {
		e.Target, e.Detail = b.File(), plural(len(b.Topics()), "topic")
	}
	if aerr := o.store.Audited(ctx, e, func(*store.Tx) error { return nil }); aerr != nil {
		o.log.ErrorContext(ctx, "audit bank reload", "err", aerr)
	}
	return b, err
}

// TryMessage runs the pipeline on a text as a first message on a channel
// would be, storing nothing.
func (o *Operator) TryMessage(ctx context.Context, p Principal, channelID int64, subject, text string) (router.Preview, store.Channel, error) {
	if err := operatorOnly(p); err != nil {
		return router.Preview{}, store.Channel{}, err
	}
	text, err := cleanBody(text, "the message")
	if err != nil {
		return router.Preview{}, store.Channel{}, err
	}
	ch, err := o.store.Channel(ctx, channelID)
	if errors.Is(err, store.ErrNotFound) {
		return router.Preview{}, store.Channel{}, invalid("choose a channel")
	}
	if err != nil {
		return router.Preview{}, store.Channel{}, err
	}
	in := message.Inbound{ChannelID: ch.ID, Channel: ch.Kind, Text: text}
	if ch.Kind == message.Email {
		in.Subject = subject
	}
	pv, err := o.gw.Preview(ctx, in)
	return pv, ch, err
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}
