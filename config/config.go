// Package config reads Wasl's one YAML file: where the data lives, the HTTP
// listener, the knowledge bank, and the channels with their credentials.
// Secrets are written as ${ENV} references or *_file paths, never inline in
// logs: Config has no String method that would print them, and Redacted
// gives a copy safe to show.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wasl-dev/wasl/message"
)

// Config is the whole file.
type Config struct {
	// DataDir holds the SQLite database and attachment blobs.
	DataDir string `yaml:"data_dir"`
	// DatabaseURL selects PostgreSQL when it is a postgres:// URL; empty means
	// SQLite in DataDir. WASL_DATABASE_URL overrides it.
	DatabaseURL string `yaml:"database_url"`
	HTTP        HTTP   `yaml:"http"`
	// APIToken guards the JSON API (Authorization: Bearer). WASL_API_TOKEN
	// overrides it. Empty disables the API.
	APIToken string `yaml:"api_token"`
	// KnowledgeBank is the bank's path, relative to this file.
	KnowledgeBank string `yaml:"knowledge_bank"`
	DefaultRegion string `yaml:"default_region"`
	TicketPrefix  string `yaml:"ticket_prefix"`
	// AutoReplyWindow: at most one automatic reply per contact per
	// conversation within this window.
	AutoReplyWindow Duration `yaml:"auto_reply_window"`
	// AutoReplyCap bounds a contact's automatic replies across all
	// conversations and channels, which the window cannot: an autoresponder
	// that strips every loop header opens a new conversation with each mail.
	AutoReplyCap AutoReplyCap `yaml:"auto_reply_cap"`
	// ConversationWindow: an SMS or WhatsApp message joins the contact's open
	// conversation on that channel when it was active within this window.
	ConversationWindow Duration `yaml:"conversation_window"`
	// MailDomain is the right-hand side of the Message-IDs of our replies.
	MailDomain string `yaml:"mail_domain"`
	// SecretKeyFile holds the key (base64, 32 bytes) that encrypts the
	// credentials of channels added in the web UI; relative to this file.
	// WASL_SECRET_KEY, the key itself, is read instead when set (SecretKey).
	SecretKeyFile string `yaml:"secret_key_file"`
	// SecretKey is WASL_SECRET_KEY; never in the file.
	SecretKey string    `yaml:"-"`
	Jobs      Jobs      `yaml:"jobs"`
	Channels  []Channel `yaml:"channels"`
	// Tickets tunes the ticket workflow, SLA checks, weekly reports and
	// surveys.
	Tickets Tickets `yaml:"tickets"`

	// Path is the file this was read from; relative paths resolve against it.
	Path string `yaml:"-"`
}

// AutoReplyCap: at most Max automatic replies to one contact within Within;
// the next one is not sent and the contact is muted until Within has passed
// with no mail from them that would have been answered. Zero values are the
// router's defaults, 3 in 24h.
type AutoReplyCap struct {
	Max    int      `yaml:"max"`
	Within Duration `yaml:"within"`
}

// HTTP is the listener.
type HTTP struct {
	Addr string `yaml:"addr"`
	// PublicURL is how Twilio and browsers reach us; webhook signatures are
	// checked against it.
	PublicURL string `yaml:"public_url"`
	// TrustForwardedHeaders: behind a reverse proxy, rebuild the public URL
	// from X-Forwarded-Proto / X-Forwarded-Host.
	TrustForwardedHeaders bool `yaml:"trust_forwarded_headers"`

	// What one client may hold, so nobody exhausts the server without
	// signing in (defaults in http.go): the time to send the headers and
	// the whole request, to receive the response (streaming routes lift
	// it), and to keep an idle keep-alive connection.
	ReadHeaderTimeout Duration `yaml:"read_header_timeout"`
	ReadTimeout       Duration `yaml:"read_timeout"`
	WriteTimeout      Duration `yaml:"write_timeout"`
	IdleTimeout       Duration `yaml:"idle_timeout"`
	// MaxConnections caps open connections; more wait in the kernel's
	// backlog instead of taking file descriptors.
	MaxConnections int `yaml:"max_connections"`
	// MaxWebhooks caps webhooks processed at once, each of which holds a
	// database connection; 0 means half the store's pool. A webhook waits
	// up to WebhookWait for a slot, then gets 503 with Retry-After.
	MaxWebhooks int      `yaml:"max_webhooks"`
	WebhookWait Duration `yaml:"webhook_wait"`
	// AdminAddr, when set, serves /healthz, /readyz and /metrics on a
	// listener of its own, outside the public connection cap, so probes
	// answer while the public side is full; /metrics then leaves the
	// public listener.
	AdminAddr string `yaml:"admin_addr"`
}

// Jobs tunes the River job runner.
type Jobs struct {
	// Workers is how many sends run at once (0: 16 on PostgreSQL, 8 on
	// SQLite, whose one writer the sends share with ingest).
	Workers int `yaml:"workers"`
	// SendTimeout bounds one send attempt; a job running longer than
	// RescueAfter is presumed dead (its process crashed) and run again.
	SendTimeout Duration `yaml:"send_timeout"`
	RescueAfter Duration `yaml:"rescue_after"`
	// PollInterval is how often idle workers look for new jobs. Jobs
	// this process inserts are fetched when their transaction commits;
	// the poll finds other replicas' jobs and retries.
	PollInterval Duration `yaml:"poll_interval"`
	// DrainTimeout is how long a shutdown lets sends in flight finish
	// before cancelling them (default 30s).
	DrainTimeout Duration `yaml:"drain_timeout"`
}

// Channel is one configured channel.
//
// Channels added in the web UI are stored as this struct in JSON, with the
// secrets (Secrets) taken out and kept encrypted beside it.
type Channel struct {
	Name     string       `yaml:"name" json:"name"`
	Kind     message.Kind `yaml:"kind" json:"kind"`
	Disabled bool         `yaml:"disabled" json:"disabled,omitempty"`
	IMAP     *IMAP        `yaml:"imap" json:"imap,omitempty"`
	SMTP     *SMTP        `yaml:"smtp" json:"smtp,omitempty"`
	Twilio   *Twilio      `yaml:"twilio" json:"twilio,omitempty"`
	WhatsApp *WhatsApp    `yaml:"whatsapp" json:"whatsapp,omitempty"`
	Form     *Form        `yaml:"form" json:"form,omitempty"`   // kind form (forms.go)
	Phone    *Phone       `yaml:"phone" json:"phone,omitempty"` // kind phone (forms.go)
}

// IMAP is where an email channel reads from.
type IMAP struct {
	Addr           string   `yaml:"addr" json:"addr"`
	Security       string   `yaml:"security" json:"security"` // tls, starttls, plain
	AllowPlain     bool     `yaml:"allow_plain" json:"allow_plain,omitempty"`
	Username       string   `yaml:"username" json:"username"`
	Password       string   `yaml:"password" json:"password,omitempty"`
	Mailboxes      []string `yaml:"mailboxes" json:"mailboxes"`
	PollInterval   Duration `yaml:"poll_interval" json:"poll_interval,omitempty"`
	BatchSize      int      `yaml:"batch_size" json:"batch_size,omitempty"`
	MaxMessageSize int64    `yaml:"max_message_size" json:"max_message_size,omitempty"`
	DisableIdle    bool     `yaml:"disable_idle" json:"disable_idle,omitempty"`
	// FirstSync is where sync starts in a mailbox the channel never synced.
	FirstSync FirstSync `yaml:"first_sync" json:"first_sync"`
}

// FirstSync modes.
const (
	FirstSyncNow   = "now"
	FirstSyncAll   = "all"
	FirstSyncSince = "since"
)

// FirstSync is written "now" (the default: start at the mailbox's current
// end, so mail already there is never ingested or answered), "all" (backfill
// everything) or "since:2026-09-01" (backfill mail the server received on or
// after that day). The day is the IMAP server's: SEARCH SINCE compares
// calendar dates of INTERNALDATE, ignoring time of day and time zone.
type FirstSync struct {
	Mode  string    // FirstSyncNow, FirstSyncAll or FirstSyncSince; "" is now
	Since time.Time // the day, midnight UTC, for FirstSyncSince
}

const firstSyncForms = "want now, all or since:YYYY-MM-DD (e.g. since:2026-09-01)"

// ParseFirstSync reads "now", "all" or "since:YYYY-MM-DD".
func ParseFirstSync(s string) (FirstSync, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "", FirstSyncNow:
		return FirstSync{Mode: FirstSyncNow}, nil
	case FirstSyncAll:
		return FirstSync{Mode: FirstSyncAll}, nil
	}
	if day, ok := strings.CutPrefix(v, FirstSyncSince+":"); ok {
		t, err := time.Parse(time.DateOnly, strings.TrimSpace(day))
		if err != nil {
			return FirstSync{}, fmt.Errorf("first_sync %q: %q is not a date: %s", s, day, firstSyncForms)
		}
		return FirstSync{Mode: FirstSyncSince, Since: t}, nil
	}
	return FirstSync{}, fmt.Errorf("first_sync %q: %s", s, firstSyncForms)
}

// UnmarshalYAML reads the scalar forms ParseFirstSync takes.
func (f *FirstSync) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: first_sync: %s, one value, not a mapping (no space after \"since:\")", n.Line, firstSyncForms)
	}
	v, err := ParseFirstSync(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*f = v
	return nil
}

// String is the form ParseFirstSync reads.
func (f FirstSync) String() string {
	switch f.Mode {
	case FirstSyncAll:
		return FirstSyncAll
	case FirstSyncSince:
		return FirstSyncSince + ":" + f.Since.Format(time.DateOnly)
	}
	return FirstSyncNow
}

// MarshalText writes String, so the channel's stored settings and
// check-config show "since:2026-09-01", not a struct.
func (f FirstSync) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// UnmarshalText reads what MarshalText wrote (a stored channel's settings).
func (f *FirstSync) UnmarshalText(b []byte) error {
	v, err := ParseFirstSync(string(b))
	if err != nil {
		return err
	}
	*f = v
	return nil
}

// SMTP is how an email channel answers.
type SMTP struct {
	Addr          string `yaml:"addr" json:"addr"`
	Security      string `yaml:"security" json:"security"` // starttls, tls, none
	AllowInsecure bool   `yaml:"allow_insecure" json:"allow_insecure,omitempty"`
	Username      string `yaml:"username" json:"username,omitempty"`
	Password      string `yaml:"password" json:"password,omitempty"`
	From          string `yaml:"from" json:"from"`
}

// Twilio is an SMS (or Twilio WhatsApp) channel.
type Twilio struct {
	AccountSID          string `yaml:"account_sid" json:"account_sid"`
	AuthToken           string `yaml:"auth_token" json:"auth_token,omitempty"`
	From                string `yaml:"from" json:"from,omitempty"`
	MessagingServiceSID string `yaml:"messaging_service_sid" json:"messaging_service_sid,omitempty"`
	// SegmentBudget is the SMS segments an automatic reply should fit in;
	// 0 leaves the SMS channel's own default.
	SegmentBudget int   `yaml:"segment_budget" json:"segment_budget,omitempty"`
	MaxMediaBytes int64 `yaml:"max_media_bytes" json:"max_media_bytes,omitempty"`
	// APIURL points the REST client elsewhere (the demo's local fake).
	APIURL string `yaml:"api_url" json:"api_url,omitempty"`
}

// WhatsApp is a linked-device channel.
type WhatsApp struct {
	AllowGroups bool `yaml:"allow_groups" json:"allow_groups,omitempty"`
	AllowStatus bool `yaml:"allow_status" json:"allow_status,omitempty"`
}

// Duration reads "24h", "90m", "7d" or "1d12h" (message.ParseDuration, the
// grammar the knowledge bank's SLAs use too).
type Duration time.Duration

// UnmarshalYAML reads a duration with its line in errors.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := message.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the duration, or def when unset.
func (d Duration) D(def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return time.Duration(d)
}

// Load reads, expands and validates a config file.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, os.LookupEnv)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse reads a config from data. lookup resolves ${ENV} references in
// values (${NAME:-default} gives a default); an unset variable without a
// default is an error naming the variable and the line. References are
// expanded after YAML parsing, so a secret containing ':' or '#' cannot
// change the file's structure.
func Parse(data []byte, path string, lookup func(string) (string, bool)) (*Config, error) {
	cfg := &Config{Path: path}
	var root yaml.Node
	// An empty file decodes to io.EOF; validation then says what is missing.
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(root.Content) > 0 {
		if err := errors.Join(unknownKeys(&root, reflect.TypeFor[Config](), path)...); err != nil {
			return nil, err
		}
		if err := expandEnv(&root, path, lookup); err != nil {
			return nil, err
		}
		// Decoding the node tree, not a re-encoded copy, keeps the file's
		// own line numbers in type errors.
		if err := root.Decode(cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	if v, ok := lookup("WASL_DATABASE_URL"); ok && v != "" {
		cfg.DatabaseURL = v
	}
	if v, ok := lookup("WASL_API_TOKEN"); ok && v != "" {
		cfg.APIToken = v
	}
	if v, ok := lookup("WASL_SECRET_KEY"); ok && v != "" {
		cfg.SecretKey = v
	}
	cfg.defaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// unknownKeys reports mapping keys that t (a struct, through pointers,
// slices and maps) has no yaml field for, and durations that do not parse,
// each with its line in the file and its key.
// It replaces yaml's KnownFields, which Node.Decode does not offer.
func unknownKeys(n *yaml.Node, t reflect.Type, path string) []error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[yaml.Unmarshaler]()) {
		return nil // it reads its own node
	}
	var errs []error
	switch {
	case n.Kind == yaml.DocumentNode:
		for _, c := range n.Content {
			errs = append(errs, unknownKeys(c, t, path)...)
		}
	case n.Kind == yaml.SequenceNode && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
		for _, c := range n.Content {
			errs = append(errs, unknownKeys(c, t.Elem(), path)...)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Map:
		for i := 1; i < len(n.Content); i += 2 {
			errs = append(errs, unknownKeys(n.Content[i], t.Elem(), path)...)
		}
	case n.Kind == yaml.MappingNode && t.Kind() == reflect.Struct:
		fields := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" || !f.IsExported() {
				continue
			}
			if name == "" {
				name = strings.ToLower(f.Name)
			}
			fields[name] = f.Type
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			ft, ok := fields[k.Value]
			if !ok {
				errs = append(errs, fmt.Errorf("%s:%d: unknown field %q", path, k.Line, k.Value))
				continue
			}
			v := n.Content[i+1]
			if ft == reflect.TypeFor[Duration]() && v.Kind == yaml.ScalarNode && !strings.Contains(v.Value, "${") {
				// Named here, where the key is known; a ${VAR} is checked
				// when decoded, by line only.
				if _, err := message.ParseDuration(v.Value); err != nil {
					errs = append(errs, fmt.Errorf("%s:%d: %s: %w", path, v.Line, k.Value, err))
				}
				continue
			}
			errs = append(errs, unknownKeys(v, ft, path)...)
		}
	}
	return errs
}

func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool)) error {
	var errs []error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
			n.Value = envRef.ReplaceAllStringFunc(n.Value, func(m string) string {
				sub := envRef.FindStringSubmatch(m)
				if v, ok := lookup(sub[1]); ok && v != "" {
					return v
				}
				if sub[2] != "" {
					return sub[3]
				}
				errs = append(errs, fmt.Errorf("%s:%d: environment variable %s is not set", path, n.Line, sub[1]))
				return ""
			})
			// Tag and style are re-resolved from the expanded value, so "${N}"
			// can fill an integer field and a password with ": " stays a string.
			n.Tag = ""
			n.Style = 0
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return errors.Join(errs...)
}

func (c *Config) defaults() {
	if c.DataDir == "" {
		c.DataDir = "data"
	}
	if c.HTTP.Addr == "" {
		c.HTTP.Addr = "127.0.0.1:8080"
	}
	if c.HTTP.PublicURL == "" {
		c.HTTP.PublicURL = "http://" + c.HTTP.Addr
	}
	c.HTTP.defaults()
	if c.DefaultRegion == "" {
		c.DefaultRegion = "SA"
	}
	if c.TicketPrefix == "" {
		c.TicketPrefix = "EDU"
	}
	if c.MailDomain == "" {
		c.MailDomain = "wasl.invalid"
	}
	c.Tickets.defaults()
	for i := range c.Channels {
		ch := &c.Channels[i]
		if ch.IMAP != nil && len(ch.IMAP.Mailboxes) == 0 {
			ch.IMAP.Mailboxes = []string{"INBOX"}
		}
	}
}

// Resolve makes a path from the file relative to the file's directory.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

// Validate checks what can be checked without connecting anywhere; the
// errors say what to fix.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if c.DatabaseURL != "" && !isPostgres(c.DatabaseURL) && !strings.HasPrefix(c.DatabaseURL, "file:") && !strings.HasSuffix(c.DatabaseURL, ".db") {
		bad("database_url must be a postgres:// URL, a file: URL or a path ending in .db (empty means SQLite in data_dir)")
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
		bad("http.addr %q: want host:port", c.HTTP.Addr)
	}
	if u, err := url.Parse(c.HTTP.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("http.public_url %q: want an absolute http(s) URL", c.HTTP.PublicURL)
	}
	errs = append(errs, c.HTTP.validate()...)
	errs = append(errs, c.Tickets.validate()...)
	if c.KnowledgeBank == "" {
		bad("knowledge_bank is required (path to the bank YAML, relative to this file)")
	}
	if len(c.DefaultRegion) != 2 {
		bad("default_region %q: want an ISO 3166 two-letter code such as SA", c.DefaultRegion)
	}
	if !regexp.MustCompile(`^[A-Z]{2,10}$`).MatchString(c.TicketPrefix) {
		bad("ticket_prefix %q: want 2 to 10 capital letters", c.TicketPrefix)
	}
	// A job presumed dead is run again; it must really be dead by then, or a
	// slow send and its rescue could both go out.
	if c.AutoReplyCap.Max < 0 {
		bad("auto_reply_cap.max %d: want a positive number (0 for the default, 3)", c.AutoReplyCap.Max)
	}
	if c.Jobs.RescueAfter.D(5*time.Minute) <= c.Jobs.SendTimeout.D(time.Minute) {
		bad("jobs.rescue_after (%s) must be longer than jobs.send_timeout (%s)", c.Jobs.RescueAfter.D(5*time.Minute), c.Jobs.SendTimeout.D(time.Minute))
	}
	if c.Jobs.DrainTimeout < 0 {
		bad("jobs.drain_timeout must not be negative")
	}
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		where := fmt.Sprintf("channels[%d]", i)
		if ch.Name != "" {
			where = fmt.Sprintf("channel %q", ch.Name)
		}
		if seen[ch.Name] {
			bad("%s: name used twice", where)
		}
		seen[ch.Name] = true
		errs = append(errs, ch.validate(where)...)
		if ch.Kind == message.Form || ch.Kind == message.Phone {
			errs = append(errs, c.validateIntake(ch, where)...)
		}
	}
	wa := 0
	for _, ch := range c.Channels {
		if ch.Kind == message.WhatsApp && !ch.Disabled {
			wa++
		}
	}
	if wa > 1 {
		// The device store holds one linked device per database.
		bad("only one enabled whatsapp channel is supported per database, found %d", wa)
	}
	errs = append(errs, c.validateIntakeCount()...)
	return errors.Join(errs...)
}

// channelName is what a channel may be called: it appears in webhook URLs.
var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// ValidateChannel checks one channel as Validate does, for channels that do
// not come from the file (the web UI's). The errors name the settings.
func ValidateChannel(ch Channel) error {
	if ch.Kind == message.Form || ch.Kind == message.Phone {
		return fmt.Errorf("channel %q: %s channels are set in the config file", ch.Name, ch.Kind)
	}
	return errors.Join(ch.validate(fmt.Sprintf("channel %q", ch.Name))...)
}

func (ch Channel) validate(where string) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !channelName.MatchString(ch.Name) {
		bad("%s: name must be lower-case letters, digits, '-' or '_' (it appears in webhook URLs)", where)
	}
	switch ch.Kind {
	case message.Email:
		if ch.IMAP == nil || ch.IMAP.Addr == "" {
			bad("%s: email channels need imap.addr", where)
		} else if ch.IMAP.Username == "" || ch.IMAP.Password == "" {
			bad("%s: imap.username and imap.password are required", where)
		}
		if ch.SMTP == nil || ch.SMTP.Addr == "" || ch.SMTP.From == "" {
			bad("%s: email channels need smtp.addr and smtp.from to answer", where)
		}
	case message.SMS:
		if ch.Twilio == nil || ch.Twilio.AccountSID == "" || ch.Twilio.AuthToken == "" {
			bad("%s: sms channels need twilio.account_sid and twilio.auth_token", where)
		} else if ch.Twilio.From == "" && ch.Twilio.MessagingServiceSID == "" {
			bad("%s: twilio.from or twilio.messaging_service_sid is required", where)
		}
	case message.WhatsApp:
		if ch.Twilio != nil {
			bad("%s: WhatsApp through Twilio is an sms channel with twilio.from: whatsapp:+…; kind whatsapp is the linked device", where)
		}
	case message.Form, message.Phone:
		// Checked against the config by Validate (validateIntake).
	default:
		bad("%s: kind %q: want email, sms, whatsapp, form or phone", where, ch.Kind)
	}
	return errs
}

// The secret settings of a channel, by the names Secrets uses.
const (
	SecretIMAPPassword    = "imap.password"
	SecretSMTPPassword    = "smtp.password"
	SecretTwilioAuthToken = "twilio.auth_token"
)

// Secrets returns the channel's secret settings (the empty ones too), by
// name. Settings are stored without them (WithoutSecrets); they are kept
// encrypted beside the settings and put back with WithSecrets.
func (ch Channel) Secrets() map[string]string {
	m := map[string]string{}
	if ch.IMAP != nil {
		m[SecretIMAPPassword] = ch.IMAP.Password
	}
	if ch.SMTP != nil {
		m[SecretSMTPPassword] = ch.SMTP.Password
	}
	if ch.Twilio != nil {
		m[SecretTwilioAuthToken] = ch.Twilio.AuthToken
	}
	return m
}

// WithoutSecrets is a copy of ch with every secret setting empty.
func (ch Channel) WithoutSecrets() Channel {
	return ch.WithSecrets(map[string]string{SecretIMAPPassword: "", SecretSMTPPassword: "", SecretTwilioAuthToken: ""})
}

// WithSecrets is a copy of ch with the secret settings named in s set.
func (ch Channel) WithSecrets(s map[string]string) Channel {
	if ch.IMAP != nil {
		v := *ch.IMAP
		if p, ok := s[SecretIMAPPassword]; ok {
			v.Password = p
		}
		ch.IMAP = &v
	}
	if ch.SMTP != nil {
		v := *ch.SMTP
		if p, ok := s[SecretSMTPPassword]; ok {
			v.Password = p
		}
		ch.SMTP = &v
	}
	if ch.Twilio != nil {
		v := *ch.Twilio
		if p, ok := s[SecretTwilioAuthToken]; ok {
			v.AuthToken = p
		}
		ch.Twilio = &v
	}
	return ch
}

func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// Redacted returns a copy with every secret replaced, safe to log or print.
func (c *Config) Redacted() Config {
	r := *c
	r.APIToken = redact(r.APIToken)
	r.SecretKey = redact(r.SecretKey)
	r.DatabaseURL = redactURL(r.DatabaseURL)
	r.Channels = make([]Channel, len(c.Channels))
	for i, ch := range c.Channels {
		if ch.IMAP != nil {
			v := *ch.IMAP
			v.Password = redact(v.Password)
			ch.IMAP = &v
		}
		if ch.SMTP != nil {
			v := *ch.SMTP
			v.Password = redact(v.Password)
			ch.SMTP = &v
		}
		if ch.Twilio != nil {
			v := *ch.Twilio
			v.AuthToken = redact(v.AuthToken)
			ch.Twilio = &v
		}
		r.Channels[i] = ch
	}
	return r
}

func redact(s string) string {
	if s == "" {
		return ""
	}
	return "********"
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "********")
	}
	return u.String()
}
