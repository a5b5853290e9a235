// Package sms connects Wasl to Twilio: SMS, and WhatsApp through Twilio's
// WhatsApp senders ("whatsapp:+…"). Inbound messages and delivery status
// callbacks arrive as signed form POSTs (webhooks); replies go out through
// Twilio's REST API.
//
// Only twilio-go's client and rest/api/v2010 packages are used: the root
// twilio package compiles every Twilio API, which costs minutes of build time.
package sms

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/twilio/twilio-go/client"

	"github.com/wasl-dev/wasl/message"
)

// Defaults for Config fields left zero.
const (
	DefaultMaxMediaBytes = 10 << 20
	DefaultSegmentBudget = 2
)

// Config configures one Twilio channel (one number or Messaging Service).
type Config struct {
	ChannelID  int64
	Name       string // channel name, part of the webhook path /webhooks/twilio/{Name}
	AccountSID string
	AuthToken  string // secret: never logged

	// From is the channel's number: "+9665…" (or a short code) for SMS,
	// "whatsapp:+1415…" for WhatsApp. MessagingServiceSID may replace or
	// accompany it; with only a Messaging Service the channel is SMS.
	From                string
	MessagingServiceSID string

	// PublicURL is the base URL Twilio calls, e.g. https://wasl.example.edu.
	// Twilio signs the full URL it called, which Wasl rebuilds as PublicURL
	// + the request URI. A path in PublicURL is kept: use one only when a
	// proxy strips it before the request reaches Wasl.
	PublicURL string
	// TrustForwardedHeaders rebuilds the scheme and host from
	// X-Forwarded-Proto / X-Forwarded-Host (when present) instead of
	// PublicURL's. Turn it on only behind a proxy that sets them.
	TrustForwardedHeaders bool

	DefaultRegion string // ISO 3166 alpha-2 ("SA") for numbers without a country code
	MaxMediaBytes int64  // the most kept of one media file (MaxMediaBytes); default 10 MiB
	SegmentBudget int    // SMS segments an automatic reply should fit in; default 2

	// HTTPClient is used for Twilio's API and media. Tests pass one whose
	// transport leads to a fake. Default: a client with a 30 s timeout.
	HTTPClient *http.Client

	// SpoolDir keeps verified webhooks the store could not take, durably,
	// until RunSpool ingests them (see spool.go); the webhook then answers
	// 200 all the same. Empty: no spool, and such a webhook is answered
	// 503, which Twilio does not retry by default.
	SpoolDir string
}

// String keeps the auth token out of fmt output.
func (c Config) String() string {
	return fmt.Sprintf("sms.Config{ChannelID:%d Name:%q AccountSID:%q AuthToken:%s From:%q MessagingServiceSID:%q PublicURL:%q}",
		c.ChannelID, c.Name, c.AccountSID, redact(c.AuthToken), c.From, c.MessagingServiceSID, c.PublicURL)
}

// GoString keeps the auth token out of %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the auth token out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("channel_id", c.ChannelID),
		slog.String("name", c.Name),
		slog.String("account_sid", c.AccountSID),
		slog.String("auth_token", redact(c.AuthToken)),
		slog.String("from", c.From),
		slog.String("messaging_service_sid", c.MessagingServiceSID),
		slog.String("public_url", c.PublicURL),
	)
}

func redact(secret string) string {
	if secret == "" {
		return `""`
	}
	return "[redacted]"
}

// Channel is one configured Twilio channel. It is safe for concurrent use.
type Channel struct {
	cfg        Config
	kind       message.Kind
	log        *slog.Logger
	validator  client.RequestValidator
	public     *url.URL // PublicURL, parsed, without a trailing slash
	httpClient *http.Client
	now        func() time.Time

	spool       *spool // nil without SpoolDir
	spoolTiming spoolTiming
}

const whatsappPrefix = "whatsapp:"

// ConfigKind is the channel kind every Twilio channel is configured and
// stored under, WhatsApp senders ("whatsapp:+…") included; Kind tells them
// apart.
const ConfigKind = message.SMS

var (
	channelName  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	accountSID   = regexp.MustCompile(`^AC[0-9a-fA-F]{32}$`)
	serviceSID   = regexp.MustCompile(`^MG[0-9a-fA-F]{32}$`)
	e164         = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
	shortCode    = regexp.MustCompile(`^[0-9]{3,8}$`)
	alphanumeric = regexp.MustCompile(`^[A-Za-z0-9]+$`)
	region       = regexp.MustCompile(`^[A-Z]{2}$`)
)

// New checks cfg and returns the channel. Every problem with cfg is
// reported, each naming the field.
func New(cfg Config, log *slog.Logger) (*Channel, error) {
	if log == nil {
		log = slog.Default()
	}
	cfg.From = strings.TrimSpace(cfg.From)
	cfg.DefaultRegion = strings.ToUpper(strings.TrimSpace(cfg.DefaultRegion))
	if cfg.MaxMediaBytes == 0 {
		cfg.MaxMediaBytes = DefaultMaxMediaBytes
	}
	if cfg.SegmentBudget == 0 {
		cfg.SegmentBudget = DefaultSegmentBudget
	}

	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if cfg.ChannelID <= 0 {
		bad("ChannelID must be positive, got %d", cfg.ChannelID)
	}
	if !channelName.MatchString(cfg.Name) {
		bad("Name %q must be 1-64 letters, digits, '.', '_' or '-' (it is part of the webhook path)", cfg.Name)
	}
	if !accountSID.MatchString(cfg.AccountSID) {
		bad("AccountSID %q must be \"AC\" followed by 32 hex digits", cfg.AccountSID)
	}
	switch {
	case cfg.AuthToken == "":
		bad("AuthToken is missing")
	case !alphanumeric.MatchString(cfg.AuthToken):
		// twilio-go refuses such credentials; say so now rather than at the first send.
		bad("AuthToken must contain only letters and digits")
	}
	kind := message.SMS
	switch from := cfg.From; {
	case from == "" && cfg.MessagingServiceSID == "":
		bad("From or MessagingServiceSID is required")
	case from == "":
	case strings.HasPrefix(from, whatsappPrefix):
		kind = message.WhatsApp
		if !e164.MatchString(strings.TrimPrefix(from, whatsappPrefix)) {
			bad("From %q must be \"whatsapp:\" followed by an E.164 number (+14155238886)", from)
		}
	case !e164.MatchString(from) && !shortCode.MatchString(from):
		bad("From %q must be an E.164 number (+966501234567), a short code, or \"whatsapp:+…\"", from)
	}
	if cfg.MessagingServiceSID != "" && !serviceSID.MatchString(cfg.MessagingServiceSID) {
		bad("MessagingServiceSID %q must be \"MG\" followed by 32 hex digits", cfg.MessagingServiceSID)
	}
	public, err := parsePublicURL(cfg.PublicURL)
	if err != nil {
		bad("PublicURL: %w", err)
	}
	if cfg.DefaultRegion != "" && !region.MatchString(cfg.DefaultRegion) {
		bad("DefaultRegion %q must be a two-letter country code such as SA", cfg.DefaultRegion)
	}
	if cfg.MaxMediaBytes < 0 {
		bad("MaxMediaBytes must not be negative, got %d", cfg.MaxMediaBytes)
	}
	if cfg.SegmentBudget < 0 {
		bad("SegmentBudget must not be negative, got %d", cfg.SegmentBudget)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("sms channel %q: %w", cfg.Name, errors.Join(errs...))
	}

	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Channel{
		cfg:         cfg,
		kind:        kind,
		log:         log.With("channel", cfg.Name, "channel_kind", string(kind)),
		validator:   client.NewRequestValidator(cfg.AuthToken),
		public:      public,
		httpClient:  hc,
		now:         time.Now,
		spoolTiming: spoolTiming{retry: defaultSpoolRetry, minWait: defaultSpoolMinWait, maxWait: defaultSpoolMaxWait},
	}
	if cfg.SpoolDir != "" {
		if c.spool, err = newSpool(cfg.SpoolDir); err != nil {
			return nil, fmt.Errorf("sms channel %q: %w", cfg.Name, err)
		}
		if n := c.Spooled(); n > 0 {
			c.log.Info("twilio spool holds messages from before; they are ingested once RunSpool runs", "spooled", n)
		}
	}
	return c, nil
}

func parsePublicURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("missing (Twilio signs the public URL it calls; Wasl needs it to check signatures)")
	}
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", raw, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q must be an absolute http(s) URL such as https://wasl.example.edu", raw)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must not carry credentials, a query or a fragment", raw)
	}
	return u, nil
}

// Kind is message.WhatsApp when From is a "whatsapp:" address, else SMS.
func (c *Channel) Kind() message.Kind { return c.kind }

// InboundURL is the URL to configure in Twilio for incoming messages:
// PublicURL + "/webhooks/twilio/{Name}".
func (c *Channel) InboundURL() string {
	return c.public.String() + "/webhooks/twilio/" + c.cfg.Name
}

// StatusCallbackURL is where Twilio reports delivery status:
// PublicURL + "/webhooks/twilio/{Name}/status".
func (c *Channel) StatusCallbackURL() string { return c.InboundURL() + "/status" }

// FitsBudget reports whether an automatic reply text fits the channel's
// segment budget. WhatsApp messages are not segmented, so they always fit.
func (c *Channel) FitsBudget(text string) bool {
	if c.kind == message.WhatsApp {
		return true
	}
	return FitSegments(text, c.cfg.SegmentBudget)
}

// ShortLimit is how many characters an automatic reply cut to the channel's
// segment budget may keep (the package's ShortLimit for this budget).
func (c *Channel) ShortLimit() int { return ShortLimit(c.cfg.SegmentBudget) }
