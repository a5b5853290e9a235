package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// SMTP security modes.
const (
	SMTPStartTLS = "starttls" // port 587: upgrade, and refuse to send if the server cannot
	SMTPTLS      = "tls"      // port 465: TLS from the first byte
	SMTPNone     = "none"     // clear text: loopback only unless AllowInsecure
)

// SMTPConfig is how Wasl reaches its outgoing mail server.
type SMTPConfig struct {
	Addr string // host:port
	// Security is "starttls" (the default), "tls" (implicit, port 465) or
	// "none" (only to a loopback address unless AllowInsecure).
	Security      string
	AllowInsecure bool
	// Username and Password, when set, log in with AUTH PLAIN, or LOGIN when
	// the server offers only that.
	Username, Password string
	From               string // "Support <support@example.edu.sa>"
	HeloName           string // default: the From address's domain
	TLSConfig          *tls.Config
	Timeout            time.Duration // per connect and per SMTP command; default 1 minute
}

// SMTPSender sends replies through one SMTP server. It satisfies
// channels.Sender and is safe for concurrent use (one connection per Send).
type SMTPSender struct {
	cfg      SMTPConfig
	from     *mail.Address
	host     string
	log      *slog.Logger
	now      func() time.Time
	dialer   net.Dialer
	security string
}

var _ channels.Sender = (*SMTPSender)(nil)

// NewSMTPSender checks cfg and returns a sender. It does not connect: a mail
// server that is down at start-up must not stop the gateway.
func NewSMTPSender(cfg SMTPConfig, log *slog.Logger) (*SMTPSender, error) {
	if log == nil {
		log = slog.Default()
	}
	if cfg.Addr == "" {
		return nil, errors.New("smtp config: addr is required (host:port, e.g. smtp.example.edu.sa:587)")
	}
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("smtp config: addr %q must be host:port", cfg.Addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("smtp config: addr %q has an invalid port", cfg.Addr)
	}
	sec := strings.ToLower(strings.TrimSpace(cfg.Security))
	switch sec {
	case "":
		sec = SMTPStartTLS
	case SMTPStartTLS, SMTPTLS:
	case SMTPNone:
		if !isLoopback(host) && !cfg.AllowInsecure {
			return nil, fmt.Errorf("smtp config: security %q sends mail (and any password) in clear text; it is only allowed to a loopback address, not %q, unless allow_insecure is set", sec, host)
		}
	default:
		return nil, fmt.Errorf("smtp config: security %q: want starttls, tls or none", cfg.Security)
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("smtp config: username and password must be set together")
	}
	if cfg.From == "" {
		return nil, errors.New(`smtp config: from is required, e.g. "Support <support@example.edu.sa>"`)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp config: from %q is not an address: %w", cfg.From, err)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.HeloName == "" {
		cfg.HeloName = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
	}
	if strings.ContainsAny(cfg.HeloName, " \r\n") {
		return nil, fmt.Errorf("smtp config: helo name %q must be a host name", cfg.HeloName)
	}
	return &SMTPSender{
		cfg:      cfg,
		from:     from,
		host:     host,
		log:      log,
		now:      time.Now,
		dialer:   net.Dialer{Timeout: cfg.Timeout},
		security: sec,
	}, nil
}

// Send delivers out to out.To.Value. Errors are classified for the job
// runner: only an Outbound that can never be sent and the server refusing
// this recipient or this message for good are channels.Permanent (see
// permanentRejection); everything else is a plain error, worth a retry. The
// error says at which step the session failed and what the server answered.
//
// A retry reuses out.MessageID, so if the server accepted a message but the
// connection died before its reply reached us, the duplicate at least
// carries the same Message-ID and mail clients show it once.
func (s *SMTPSender) Send(ctx context.Context, out message.Outbound) (message.Delivery, error) {
	msg, err := compose(out, s.cfg.From, s.now())
	if err != nil {
		return message.Delivery{}, channels.Permanent(fmt.Errorf("smtp send %d: %w", out.ID, err))
	}
	to, _ := normAddress(out.To.Value)
	log := s.log.With("outbound_id", out.ID, "message_id", out.MessageID, "smtp", s.cfg.Addr)

	reply, err := s.deliver(ctx, to, msg)
	if err != nil {
		err = classifySMTPError(ctx, fmt.Errorf("smtp send %d via %s: %w", out.ID, s.cfg.Addr, err))
		log.Warn("smtp send failed", "permanent", channels.IsPermanent(err), "err", err)
		return message.Delivery{}, err
	}
	id := queueID(reply)
	if id == "" {
		id = out.MessageID
	}
	log.Info("smtp sent", "provider_id", id)
	return message.Delivery{ProviderID: id, State: message.StateSent}, nil
}

// open connects, secures the connection, greets and logs in: an SMTP
// session up to the point where a message could be sent. done ends it.
func (s *SMTPSender) open(ctx context.Context) (_ *smtp.Client, done func(), err error) {
	raw, err := s.dialer.DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return nil, nil, &sessionError{stage: stageConnect, err: err}
	}
	// Closing the connection is the only way to interrupt a blocked command.
	// The callback runs on its own goroutine, so it gets a variable of its
	// own that nothing reassigns.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer func() {
		if err != nil {
			stop()
			raw.Close()
		}
	}()
	var conn net.Conn = timeoutConn{Conn: raw, max: s.cfg.Timeout}

	tlsConfig := s.tlsConfig()
	// c is not a named result: an error return sets those to nil before
	// the deferred cleanup below runs.
	var c *smtp.Client
	switch s.security {
	case SMTPTLS:
		tc := tls.Client(conn, tlsConfig)
		tc.SetDeadline(time.Now().Add(s.cfg.Timeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, nil, &sessionError{stage: stageTLS, err: err}
		}
		tc.SetDeadline(time.Time{})
		c = smtp.NewClient(tc)
	case SMTPStartTLS:
		// The client greets as "localhost" before TLS; our name goes in
		// the EHLO that follows, inside TLS.
		c, err = smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			if strings.Contains(err.Error(), "support STARTTLS") {
				err = fmt.Errorf("server does not offer STARTTLS, refusing to send in clear text (use security: tls for port 465, or none for a loopback relay): %w", err)
			}
			return nil, nil, &sessionError{stage: stageSTARTTLS, err: err}
		}
	default:
		c = smtp.NewClient(conn)
	}
	defer func() {
		if err != nil {
			c.Close()
		}
	}()
	c.CommandTimeout = s.cfg.Timeout
	c.SubmissionTimeout = s.cfg.Timeout

	if err := c.Hello(s.cfg.HeloName); err != nil {
		return nil, nil, &sessionError{stage: stageHello, err: err}
	}
	if s.cfg.Username != "" {
		var auth sasl.Client
		switch {
		case c.SupportsAuth(sasl.Plain):
			auth = sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)
		case c.SupportsAuth(sasl.Login):
			auth = sasl.NewLoginClient(s.cfg.Username, s.cfg.Password)
		default:
			// The server's or our configuration, which the operator can
			// fix: the replies waiting must go out then.
			return nil, nil, &sessionError{stage: stageAuth, err: errors.New("the server offers neither AUTH PLAIN nor AUTH LOGIN")}
		}
		if err := c.Auth(auth); err != nil {
			return nil, nil, &sessionError{stage: stageAuth, as: s.cfg.Username, err: err}
		}
	}
	return c, func() { c.Close(); stop(); raw.Close() }, nil
}

// Check opens a session as a send would (connect, TLS, EHLO, AUTH) and
// quits without sending anything: what "test connection" does. The error
// names the step and carries the server's answer.
func (s *SMTPSender) Check(ctx context.Context) error {
	c, done, err := s.open(ctx)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", s.cfg.Addr, ctxErr(ctx, err))
	}
	defer done()
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp %s: quit: %w", s.cfg.Addr, err)
	}
	return nil
}

// deliver runs one SMTP session and returns the server's reply to the
// message data.
func (s *SMTPSender) deliver(ctx context.Context, to string, msg []byte) (string, error) {
	c, done, err := s.open(ctx)
	if err != nil {
		return "", err
	}
	defer done()
	opts := &smtp.MailOptions{Size: int64(len(msg))}
	if !isASCII(s.from.Address) || !isASCII(to) {
		opts.UTF8 = true // internationalized address (RFC 6531)
	}
	if err := c.Mail(s.from.Address, opts); err != nil {
		return "", &sessionError{stage: stageMail, err: err}
	}
	if err := c.Rcpt(to, nil); err != nil {
		return "", &sessionError{stage: stageRcpt, err: err}
	}
	w, err := c.Data()
	if err != nil {
		return "", &sessionError{stage: stageData, err: err}
	}
	if _, err := w.Write(msg); err != nil {
		return "", &sessionError{stage: stageDataWrite, err: err}
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", &sessionError{stage: stageDataEnd, err: err}
	}
	// The message is accepted; a failing QUIT must not turn that into an
	// error, or the job would retry and send twice.
	_ = c.Quit()
	return resp.StatusText, nil
}

func (s *SMTPSender) tlsConfig() *tls.Config {
	cfg := &tls.Config{}
	if s.cfg.TLSConfig != nil {
		cfg = s.cfg.TLSConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// The steps of an SMTP session, as errors name them.
const (
	stageConnect   = "connect"
	stageTLS       = "tls handshake"
	stageSTARTTLS  = "starttls"
	stageHello     = "ehlo"
	stageAuth      = "auth"
	stageMail      = "mail from"
	stageRcpt      = "rcpt to"
	stageData      = "data"
	stageDataWrite = "data: write"
	stageDataEnd   = "end of data"
)

// sessionError is a failed step of an SMTP session. What the server
// answered matters only together with the step it answered.
type sessionError struct {
	stage string
	as    string // the user, for stageAuth
	err   error
}

func (e *sessionError) Error() string {
	step := e.stage
	if e.as != "" {
		step += fmt.Sprintf(" as %q", e.as)
	}
	// go-smtp's own text drops the enhanced status code, which says most.
	if se, ok := e.err.(*smtp.SMTPError); ok {
		if c := se.EnhancedCode; c[0] > 0 {
			return fmt.Sprintf("%s: server replied %d %d.%d.%d %s", step, se.Code, c[0], c[1], c[2], se.Message)
		}
		return fmt.Sprintf("%s: server replied %d %s", step, se.Code, se.Message)
	}
	return step + ": " + e.err.Error()
}

func (e *sessionError) Unwrap() error { return e.err }

// classifySMTPError marks the server's final refusals of this recipient or
// this message permanent; every other failure is worth a retry. A
// cancelled context wins over whatever the closed connection reported.
func classifySMTPError(ctx context.Context, err error) error {
	if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
		return fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if channels.IsPermanent(err) {
		return err
	}
	var se *smtp.SMTPError
	var step *sessionError
	if errors.As(err, &se) && errors.As(err, &step) && permanentRejection(step.stage, se) {
		return channels.Permanent(err)
	}
	return err
}

// permanentRejection reports whether a reply at a step refuses this
// recipient or this message for good, so that no retry can deliver it:
//
//   - RCPT 550, 551, 553, or any 5xx with an address status (5.1.x): the
//     recipient does not exist or is not accepted;
//   - 554 to DATA (no valid recipients);
//   - after the data, 550, 552 or 554, or a media status (5.6.x): the
//     content is refused;
//   - at any step from MAIL on, a message too big (5.3.4, 5.2.3; and 552 at
//     MAIL FROM, where we announce its SIZE).
//
// Everything else retries: a refused login (535, 534, 530: a rotated
// password must not cancel every reply in flight; they go out once the
// operator fixes it), a refused sender (our account), other policy and
// syntax replies, 4xx, and connection and TLS failures.
func permanentRejection(stage string, e *smtp.SMTPError) bool {
	if e.Code < 500 || e.Code > 599 {
		return false
	}
	c := e.EnhancedCode
	tooBig := c[0] == 5 && (c[1] == 3 && c[2] == 4 || c[1] == 2 && c[2] == 3)
	switch stage {
	case stageMail:
		return e.Code == 552 || tooBig
	case stageRcpt:
		return e.Code == 550 || e.Code == 551 || e.Code == 553 || c[0] == 5 && c[1] == 1 || tooBig
	case stageData:
		return e.Code == 554 || tooBig
	case stageDataEnd:
		return e.Code == 550 || e.Code == 552 || e.Code == 554 || c[0] == 5 && c[1] == 6 || tooBig
	}
	return false
}

// queueIDPattern finds the queue id servers put in their 250 reply:
// Postfix "Ok: queued as 4Xk2Lm3PqRz", Exim "OK id=1vABCd-000123-XY".
var queueIDPattern = regexp.MustCompile(`(?i)(?:queued as|\bid=)\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)

func queueID(reply string) string {
	if m := queueIDPattern.FindStringSubmatch(reply); m != nil {
		return m[1]
	}
	return ""
}

// timeoutConn caps every deadline go-smtp sets at max from now. The
// client applies its own 5-minute default while greeting and during
// STARTTLS, before we can set its timeouts.
type timeoutConn struct {
	net.Conn
	max time.Duration
}

func (c timeoutConn) cap(t time.Time) time.Time {
	if lim := time.Now().Add(c.max); !t.IsZero() && t.After(lim) {
		return lim
	}
	return t
}

func (c timeoutConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.cap(t)) }
func (c timeoutConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c timeoutConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.cap(t))
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
