package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/wasl-dev/wasl/message"
)

// Ingester is the pipeline as a connector sees it: commit, then we may
// acknowledge.
type Ingester interface {
	Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error)
}

// BatchIngester is an Ingester that also commits several messages of a
// mailbox together with the mailbox's cursor, in one transaction: all of
// them and the cursor at lastUID, or nothing (router.Pipeline). A source
// whose sink is one ingests and acknowledges a batch with one commit; with
// a plain Ingester, one message and then its cursor at a time.
type BatchIngester interface {
	IngestMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, ins []message.Inbound) ([]message.Outcome, error)
}

// BatchPreparer is a BatchIngester that can do ahead of time the part of a
// batch's ingest that needs no transaction (classifying it): the fetcher
// calls PrepareMailbox on each batch, in its own goroutine, while the
// batch before commits, and IngestPreparedMailbox commits the batch with
// that work done. prepared is opaque to the source: what PrepareMailbox
// returned, handed back.
type BatchPreparer interface {
	BatchIngester
	PrepareMailbox(ins []message.Inbound) (prepared any)
	IngestPreparedMailbox(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32, prepared any) ([]message.Outcome, error)
}

// CursorStore remembers per mailbox how far we got. An unknown mailbox has
// cursor (0, 0).
type CursorStore interface {
	Cursor(ctx context.Context, channelID int64, mailbox string) (uidValidity, lastUID uint32, err error)
	// SaveCursor also forgets the failures RecordIngestFailure counted.
	SaveCursor(ctx context.Context, channelID int64, mailbox string, uidValidity, lastUID uint32) error
	// RecordIngestFailure notes that the message at uid, the next after
	// the cursor, failed to ingest with errText, and returns how many times
	// in a row uid has failed, this time included. It must survive
	// reconnects and restarts: it is what lets a message that can never be
	// stored stop blocking its mailbox.
	RecordIngestFailure(ctx context.Context, channelID int64, mailbox string, uid uint32, errText string) (attempts int, err error)
}

// IMAP connection security modes.
const (
	IMAPSecurityTLS      = "tls"      // implicit TLS, port 993
	IMAPSecuritySTARTTLS = "starttls" // upgrade on port 143
	IMAPSecurityPlain    = "plain"    // no encryption: loopback or AllowPlain only
)

// IMAPConfig configures one IMAP account.
type IMAPConfig struct {
	ChannelID  int64
	Addr       string // host:port; the port defaults from Security when missing
	Security   string // "tls" (default, 993), "starttls", "plain" (refused unless Addr is loopback or AllowPlain)
	AllowPlain bool
	TLSConfig  *tls.Config

	Username, Password string

	Mailboxes      []string      // default ["INBOX"]
	PollInterval   time.Duration // default 60s; used when the server lacks IDLE, and as IDLE's safety net
	BatchSize      int           // UIDs fetched per FETCH and committed per transaction, default 200
	MaxMessageSize int64         // larger messages arrive quarantined, headers only; default 25 MiB
	// MaxAttempts is how many times in a row one message may fail to
	// ingest before it is ingested quarantined, with the error, so that the
	// mail after it is not held up forever; default 3.
	MaxAttempts int

	// FirstSync is where sync starts in a mailbox this channel has no
	// cursor for. FirstSyncNow (the default) starts at the mailbox's
	// current end, so connecting Wasl to a live support mailbox answers
	// none of the mail already in it. FirstSyncAll backfills from UID 1;
	// FirstSyncSince from the first message received on or after
	// FirstSyncSince. Backfilled mail older than the auto-reply window is
	// stored as history, never answered (router.Decide's age rule).
	FirstSync string
	// FirstSyncSince is a date: IMAP SEARCH SINCE compares it with each
	// message's INTERNALDATE by calendar day, ignoring time of day and
	// time zone, as the server reads it; only its year, month and day count.
	FirstSyncSince time.Time

	MinBackoff, MaxBackoff time.Duration // reconnect: exponential with full jitter, default 1s..5m
	DisableIdle            bool          // force polling (tests)
}

// First-sync modes; see IMAPConfig.FirstSync.
const (
	FirstSyncNow   = "now"
	FirstSyncAll   = "all"
	FirstSyncSince = "since"
)

// LogValue keeps the password out of logs even when the whole config is
// logged.
func (c IMAPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int64("channel_id", c.ChannelID),
		slog.String("addr", c.Addr),
		slog.String("security", c.Security),
		slog.String("username", c.Username),
		slog.Any("mailboxes", c.Mailboxes),
		slog.String("first_sync", c.FirstSync),
	)
}

// String keeps the password out of fmt output (%v, %+v) as well.
func (c IMAPConfig) String() string {
	return fmt.Sprintf("imap{channel=%d addr=%s security=%s user=%s mailboxes=%q}", c.ChannelID, c.Addr, c.Security, c.Username, c.Mailboxes)
}

const (
	defaultPollInterval   = 60 * time.Second
	defaultBatchSize      = 200
	defaultMaxMessageSize = defaultMaxSize
	defaultMaxAttempts    = 3
	defaultMinBackoff     = time.Second
	defaultMaxBackoff     = 5 * time.Minute

	// RFC 2177: servers may drop an idle client after 30 minutes, so IDLE
	// is re-issued well before that even when PollInterval is longer.
	maxIdleWait = 25 * time.Minute
	// A logout is a courtesy; never let it hold up shutdown.
	logoutTimeout = 2 * time.Second
	// After ctx is cancelled, a session stuck on the network gets this
	// long to notice before its connection is closed under it.
	cancelGrace = 5 * time.Second
	dialTimeout = 30 * time.Second
	// Bodies of one FETCH are held in memory until committed, in UID order,
	// in one transaction; this caps one batch's bytes (a single message up
	// to MaxMessageSize is always allowed). One batch commits while the
	// next is fetched and prepared: about two of these in memory.
	maxChunkBytes = 8 << 20
)

// IMAPSource pulls mail from IMAP mailboxes into the pipeline, acknowledging
// (saving its UID cursor) only with or after the commit of what it read.
type IMAPSource struct {
	cfg     IMAPConfig
	sink    Ingester
	batch   BatchIngester // sink, when it can commit a batch with its cursor
	prep    BatchPreparer // sink, when it can also prepare a batch ahead
	cursors CursorStore
	log     *slog.Logger
	now     func() time.Time
	status  imapStatus
}

// NewIMAPSource checks cfg, fills in defaults and returns a source. Nothing
// is dialled yet.
func NewIMAPSource(cfg IMAPConfig, sink Ingester, cursors CursorStore, log *slog.Logger) (*IMAPSource, error) {
	if sink == nil {
		return nil, errors.New("imap: nil Ingester")
	}
	if cursors == nil {
		return nil, errors.New("imap: nil CursorStore")
	}
	if err := normalizeIMAPConfig(&cfg); err != nil {
		return nil, fmt.Errorf("imap config: %w", err)
	}
	if log == nil {
		log = slog.Default()
	}
	log = log.With("channel_id", cfg.ChannelID, "imap_addr", cfg.Addr, "imap_user", cfg.Username)
	batch, _ := sink.(BatchIngester)
	prep, _ := sink.(BatchPreparer)
	return &IMAPSource{cfg: cfg, sink: sink, batch: batch, prep: prep, cursors: cursors, log: log, now: time.Now}, nil
}

func normalizeIMAPConfig(cfg *IMAPConfig) error {
	if cfg.ChannelID <= 0 {
		return fmt.Errorf("channel id must be positive, got %d", cfg.ChannelID)
	}
	cfg.Security = strings.ToLower(strings.TrimSpace(cfg.Security))
	defaultPort := "143"
	switch cfg.Security {
	case "":
		cfg.Security = IMAPSecurityTLS
		defaultPort = "993"
	case IMAPSecurityTLS:
		defaultPort = "993"
	case IMAPSecuritySTARTTLS, IMAPSecurityPlain:
	default:
		return fmt.Errorf("security %q: want %q, %q or %q", cfg.Security, IMAPSecurityTLS, IMAPSecuritySTARTTLS, IMAPSecurityPlain)
	}

	addr := strings.TrimSpace(cfg.Addr)
	if addr == "" {
		return errors.New("addr is empty: want host:port of the IMAP server")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// A bare host gets the usual port of its security mode.
		var ae *net.AddrError
		if !errors.As(err, &ae) || ae.Err != "missing port in address" {
			return fmt.Errorf("addr %q: %w", cfg.Addr, err)
		}
		host, port = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), defaultPort
	}
	if host == "" {
		return fmt.Errorf("addr %q has no host", cfg.Addr)
	}
	cfg.Addr = net.JoinHostPort(host, port)

	if cfg.Security == IMAPSecurityPlain && !cfg.AllowPlain && !isLoopback(host) {
		return fmt.Errorf("security %q to %s would send the password unencrypted: use tls or starttls, or set AllowPlain", IMAPSecurityPlain, host)
	}
	if cfg.Username == "" {
		return errors.New("username is empty")
	}
	if cfg.Password == "" {
		return errors.New("password is empty")
	}

	if len(cfg.Mailboxes) == 0 {
		cfg.Mailboxes = []string{"INBOX"}
	}
	seen := make(map[string]bool, len(cfg.Mailboxes))
	mailboxes := make([]string, 0, len(cfg.Mailboxes))
	for _, mb := range cfg.Mailboxes {
		if strings.TrimSpace(mb) == "" {
			return errors.New("empty mailbox name")
		}
		if strings.EqualFold(mb, "INBOX") {
			mb = "INBOX" // INBOX is case-insensitive (RFC 3501 5.1)
		}
		if seen[mb] {
			return fmt.Errorf("mailbox %q listed twice", mb)
		}
		seen[mb] = true
		mailboxes = append(mailboxes, mb)
	}
	cfg.Mailboxes = mailboxes

	switch cfg.FirstSync = strings.ToLower(strings.TrimSpace(cfg.FirstSync)); cfg.FirstSync {
	case "":
		cfg.FirstSync = FirstSyncNow
	case FirstSyncNow, FirstSyncAll:
	case FirstSyncSince:
		if cfg.FirstSyncSince.IsZero() {
			return errors.New("first sync \"since\" needs a date (FirstSyncSince)")
		}
	default:
		return fmt.Errorf("first sync %q: want %q, %q or %q", cfg.FirstSync, FirstSyncNow, FirstSyncAll, FirstSyncSince)
	}

	if cfg.PollInterval < 0 || cfg.BatchSize < 0 || cfg.MaxMessageSize < 0 || cfg.MaxAttempts < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 {
		return errors.New("poll interval, batch size, max message size, max attempts and backoffs must not be negative")
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = defaultMaxAttempts
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = defaultPollInterval
	}
	if cfg.BatchSize == 0 {
		cfg.BatchSize = defaultBatchSize
	}
	if cfg.MaxMessageSize == 0 {
		cfg.MaxMessageSize = defaultMaxMessageSize
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = defaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(defaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MinBackoff > cfg.MaxBackoff {
		return fmt.Errorf("min backoff %v is above max backoff %v", cfg.MinBackoff, cfg.MaxBackoff)
	}
	return nil
}

// isLoopback reports whether host is this machine: the only place IMAP
// and SMTP may carry a password in clear without being told to.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Run watches every mailbox, one connection each, until ctx is done. It
// reconnects with backoff on any error and returns nil once ctx is
// cancelled.
func (s *IMAPSource) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, mb := range s.cfg.Mailboxes {
		wg.Go(func() { s.watch(ctx, mb) })
	}
	wg.Wait()
	return nil
}

// syncOnce connects, brings every mailbox up to date once and logs out.
func (s *IMAPSource) syncOnce(ctx context.Context) error {
	sess, err := s.connect(ctx)
	if err != nil {
		return err
	}
	defer sess.close()
	var errs []error
	for _, mb := range s.cfg.Mailboxes {
		if err := s.syncMailbox(ctx, sess.c, mb); err != nil {
			errs = append(errs, err)
			if ctx.Err() != nil {
				break
			}
		}
	}
	return errors.Join(errs...)
}

// watch keeps one mailbox in sync until ctx is done.
func (s *IMAPSource) watch(ctx context.Context, mailbox string) {
	log := s.log.With("mailbox", mailbox)
	attempt := 0
	for {
		healthy, err := s.runSession(ctx, mailbox, log)
		if ctx.Err() != nil {
			return
		}
		if healthy {
			attempt = 0
		}
		wait := backoff(s.cfg.MinBackoff, s.cfg.MaxBackoff, attempt)
		attempt++
		log.Warn("imap session failed, reconnecting", "err", err, "attempt", attempt, "retry_in", wait)
		s.sessionFailed(mailbox, err)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is exponential backoff with full jitter: a uniform pick in
// [0, min(max, base·2^attempt)], so that many gateways restarting together
// do not reconnect in step.
func backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	return rand.N(d + 1)
}

// runSession runs one connection for one mailbox: sync, then wait for news
// (IDLE or poll) and sync again, until an error or ctx is done. healthy
// reports whether the first sync completed, which resets the backoff.
func (s *IMAPSource) runSession(ctx context.Context, mailbox string, log *slog.Logger) (healthy bool, err error) {
	sess, err := s.connect(ctx)
	if err != nil {
		return false, err
	}
	defer sess.close()

	if err := s.syncMailbox(ctx, sess.c, mailbox); err != nil {
		return false, err
	}
	idle := !s.cfg.DisableIdle && sess.c.Caps().Has(imap.CapIdle)
	mode := "poll"
	if idle {
		mode = "idle"
	}
	log.Info("imap watching mailbox", "mode", mode, "poll_interval", s.cfg.PollInterval)
	s.synced(mailbox, idle)

	for {
		if idle {
			err = s.waitIdle(ctx, sess)
		} else {
			err = s.waitPoll(ctx, sess)
		}
		if ctx.Err() != nil {
			return true, nil
		}
		if err != nil {
			return true, err
		}
		if err := s.syncMailbox(ctx, sess.c, mailbox); err != nil {
			return true, err
		}
		s.synced(mailbox, idle)
	}
}

// waitIdle runs IDLE until the server reports new messages, the poll
// safety net fires, the connection drops or ctx is done.
func (s *IMAPSource) waitIdle(ctx context.Context, sess *session) error {
	cmd, err := sess.c.Idle()
	if err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	t := time.NewTimer(min(s.cfg.PollInterval, maxIdleWait))
	defer t.Stop()
	closed := false
	select {
	case <-ctx.Done():
	case <-sess.updates:
	case <-t.C:
	case <-sess.c.Closed():
		closed = true
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("stop idle: %w", err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("idle: %w", err)
	}
	if closed {
		return errors.New("idle: connection closed by server")
	}
	return nil
}

func (s *IMAPSource) waitPoll(ctx context.Context, sess *session) error {
	t := time.NewTimer(s.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil
	case <-t.C:
		return nil
	case <-sess.c.Closed():
		return errors.New("connection closed by server")
	}
}

// session is one logged-in connection.
type session struct {
	c *imapclient.Client
	// updates gets a value when the server reports a new message count
	// (EXISTS), which during IDLE means new mail.
	updates   chan struct{}
	stopWatch func() bool
}

func (s *IMAPSource) connect(ctx context.Context) (*session, error) {
	sess := &session{updates: make(chan struct{}, 1)}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	var tlsConfig *tls.Config
	if s.cfg.TLSConfig != nil {
		tlsConfig = s.cfg.TLSConfig.Clone()
	} else {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if tlsConfig.ServerName == "" {
		tlsConfig.ServerName = host
	}
	opts := &imapclient.Options{
		TLSConfig: tlsConfig,
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					select {
					case sess.updates <- struct{}{}:
					default: // a wake-up is already pending
					}
				}
			},
		},
	}

	dialer := &net.Dialer{Timeout: dialTimeout}
	var (
		conn net.Conn
		err  error
	)
	if s.cfg.Security == IMAPSecurityTLS {
		tlsConfig := tlsConfig.Clone()
		if tlsConfig.NextProtos == nil {
			tlsConfig.NextProtos = []string{"imap"}
		}
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", s.cfg.Addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.cfg.Addr)
	}
	if err != nil {
		return nil, fmt.Errorf("imap dial %s (%s): %w", s.cfg.Addr, s.cfg.Security, err)
	}

	// Until logged in, cancelling ctx simply drops the connection.
	stopHandshakeWatch := context.AfterFunc(ctx, func() { conn.Close() })
	var c *imapclient.Client
	if s.cfg.Security == IMAPSecuritySTARTTLS {
		c, err = imapclient.NewStartTLS(conn, opts)
		if err != nil {
			stopHandshakeWatch()
			conn.Close()
			return nil, fmt.Errorf("imap starttls with %s: %w", s.cfg.Addr, ctxErr(ctx, err))
		}
	} else {
		c = imapclient.New(conn, opts)
		if err := c.WaitGreeting(); err != nil {
			stopHandshakeWatch()
			c.Close()
			return nil, fmt.Errorf("imap greeting from %s: %w", s.cfg.Addr, ctxErr(ctx, err))
		}
	}
	if err := s.login(c); err != nil {
		stopHandshakeWatch()
		c.Close()
		return nil, fmt.Errorf("imap login to %s as %q: %w", s.cfg.Addr, s.cfg.Username, ctxErr(ctx, err))
	}
	stopHandshakeWatch()
	sess.c = c
	// Once logged in, the session notices ctx itself and logs out; this
	// only rescues it when it is stuck waiting on a dead peer.
	sess.stopWatch = context.AfterFunc(ctx, func() {
		time.AfterFunc(cancelGrace, func() { c.Close() })
	})
	return sess, nil
}

func (s *IMAPSource) login(c *imapclient.Client) error {
	caps := c.Caps()
	if caps.Has(imap.CapLoginDisabled) && slices.Contains(caps.AuthMechanisms(), sasl.Plain) {
		return c.Authenticate(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password))
	}
	return c.Login(s.cfg.Username, s.cfg.Password).Wait()
}

// ctxErr prefers ctx's error: a closed connection after a cancel is
// not a network failure.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

// close logs out politely, but never waits long for it.
func (sess *session) close() {
	sess.stopWatch()
	done := make(chan struct{})
	go func() {
		_ = sess.c.Logout().Wait()
		close(done)
	}()
	t := time.NewTimer(logoutTimeout)
	select {
	case <-done:
	case <-t.C:
	}
	t.Stop()
	_ = sess.c.Close()
}

// syncMailbox ingests every message above the cursor, in UID order, the
// cursor moving with each committed batch.
func (s *IMAPSource) syncMailbox(ctx context.Context, c *imapclient.Client, mailbox string) error {
	sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return fmt.Errorf("examine %q: %w", mailbox, ctxErr(ctx, err))
	}
	uidValidity, last, err := s.cursors.Cursor(ctx, s.cfg.ChannelID, mailbox)
	if err != nil {
		return fmt.Errorf("read cursor of %q: %w", mailbox, err)
	}
	if sel.UIDValidity != uidValidity {
		if uidValidity == 0 {
			// Never synced: start where the operator asked.
			if last, err = s.firstSyncStart(ctx, c, mailbox, sel); err != nil {
				return err
			}
		} else {
			// The server renumbered the mailbox (restored, migrated,
			// re-created): old UIDs mean nothing now. Re-reading it from
			// UID 1 is the only way to be sure that mail which arrived
			// since our last sync is not lost, and it doubles nothing:
			// the pipeline dedupes on Message-ID. Mail that predates the
			// channel comes in once as history (its INTERNALDATE is older
			// than the auto-reply window), never answered.
			s.log.Warn("imap uidvalidity changed, re-syncing mailbox from the start",
				"mailbox", mailbox, "old_uidvalidity", uidValidity, "new_uidvalidity", sel.UIDValidity)
			last = 0
		}
		uidValidity = sel.UIDValidity
		if err := s.cursors.SaveCursor(ctx, s.cfg.ChannelID, mailbox, uidValidity, last); err != nil {
			return fmt.Errorf("save cursor of %q: %w", mailbox, err)
		}
	}
	if sel.NumMessages == 0 || last == ^uint32(0) || (sel.UIDNext != 0 && uint32(sel.UIDNext) <= last+1) {
		return nil
	}

	var want imap.UIDSet
	want.AddRange(imap.UID(last+1), 0) // last+1:*
	found, err := c.UIDSearch(&imap.SearchCriteria{UID: []imap.UIDSet{want}}, nil).Wait()
	if err != nil {
		return fmt.Errorf("search new messages in %q: %w", mailbox, ctxErr(ctx, err))
	}
	// "n:*" always matches the highest UID, even when it is below n.
	var uids []imap.UID
	for _, uid := range found.AllUIDs() {
		if uint32(uid) > last {
			uids = append(uids, uid)
		}
	}
	if len(uids) == 0 {
		return nil
	}
	slices.Sort(uids)

	return s.syncUIDs(ctx, c, mailbox, uidValidity, uids)
}

// fetched is one batch read from the server: the messages of UIDs up to
// last, in UID order (expunged ones left out), committed together.
type fetched struct {
	uids     []imap.UID
	ins      []message.Inbound
	prepared any // the sink's PrepareMailbox(ins), if it has one
	last     imap.UID
	count    int // UIDs asked for, vanished ones included
}

// syncUIDs fetches and commits uids in batches. One goroutine fetches the
// next batch while this one commits the current one; the channel between
// them holds none, which bounds the memory to about two batches (a
// buffer of one more cost 15-20 MB of peak RSS and no time).
func (s *IMAPSource) syncUIDs(ctx context.Context, c *imapclient.Client, mailbox string, uidValidity uint32, uids []imap.UID) error {
	total := len(uids)
	s.syncProgress(mailbox, 0, total)
	ctx, cancel := context.WithCancel(ctx)
	batches := make(chan fetched)
	fetchErr := make(chan error, 1)
	go func() {
		defer close(batches)
		fetchErr <- s.fetchAll(ctx, c, mailbox, uids, batches)
	}()
	defer func() {
		// The connection is free again only once the fetcher stopped.
		cancel()
		for range batches {
		}
	}()

	done := 0
	for b := range batches {
		if err := s.commit(ctx, mailbox, uidValidity, b); err != nil {
			return err
		}
		done += b.count
		// A line a batch: about every 200 mails (a second or two of a
		// backfill), never a line a mail.
		s.log.Info("imap sync", "mailbox", mailbox, "done", done, "total", total, "progress", fmt.Sprintf("%d / %d", done, total))
	}
	return <-fetchErr
}

// fetchAll fetches uids a batch at a time into out, until done, an error,
// or ctx ends.
func (s *IMAPSource) fetchAll(ctx context.Context, c *imapclient.Client, mailbox string, uids []imap.UID, out chan<- fetched) error {
	for start := 0; start < len(uids); start += s.cfg.BatchSize {
		end := min(start+s.cfg.BatchSize, len(uids))
		if err := s.fetchBatch(ctx, c, mailbox, uids[start:end], out); err != nil {
			return err
		}
	}
	return nil
}

// firstSyncStart returns the UID up to which a mailbox this channel never
// synced counts as already seen.
func (s *IMAPSource) firstSyncStart(ctx context.Context, c *imapclient.Client, mailbox string, sel *imap.SelectData) (uint32, error) {
	log := s.log.With("mailbox", mailbox, "first_sync", s.cfg.FirstSync, "messages", sel.NumMessages)
	switch s.cfg.FirstSync {
	case FirstSyncAll:
		log.Info("imap first sync: ingesting the whole mailbox")
		return 0, nil
	case FirstSyncSince:
		since := s.cfg.FirstSyncSince
		var opts *imap.SearchOptions
		if c.Caps().Has(imap.CapESearch) {
			opts = &imap.SearchOptions{ReturnMin: true} // one number, not every UID
		}
		found, err := c.UIDSearch(&imap.SearchCriteria{Since: since}, opts).Wait()
		if err != nil {
			return 0, fmt.Errorf("search %q since %s: %w", mailbox, since.Format(time.DateOnly), ctxErr(ctx, err))
		}
		first := found.Min
		if opts == nil {
			for _, uid := range found.AllUIDs() {
				if first == 0 || uint32(uid) < first {
					first = uint32(uid)
				}
			}
		}
		if first != 0 {
			log.Info("imap first sync: ingesting from the first message since the date",
				"since", since.Format(time.DateOnly), "from_uid", first)
			return first - 1, nil
		}
		// Nothing that recent: start at the end, like "now".
	}
	end, err := mailboxEnd(ctx, c, mailbox, sel)
	if err != nil {
		return 0, err
	}
	log.Info("imap first sync: starting at the end of the mailbox; mail already there is left alone (first_sync: all or since:DATE backfills it)",
		"last_uid", end)
	return end, nil
}

// mailboxEnd is the highest UID the mailbox has used: UIDNEXT-1, or the
// UID of its last message when the server did not say UIDNEXT.
func mailboxEnd(ctx context.Context, c *imapclient.Client, mailbox string, sel *imap.SelectData) (uint32, error) {
	if sel.UIDNext != 0 {
		return uint32(sel.UIDNext) - 1, nil
	}
	if sel.NumMessages == 0 {
		return 0, nil
	}
	msgs, err := c.Fetch(imap.SeqSetNum(sel.NumMessages), &imap.FetchOptions{UID: true}).Collect()
	if err != nil {
		return 0, fmt.Errorf("fetch the last UID of %q: %w", mailbox, ctxErr(ctx, err))
	}
	var end uint32
	for _, m := range msgs {
		end = max(end, uint32(m.UID))
	}
	return end, nil
}

type msgMeta struct {
	size         int64
	internalDate time.Time
}

// fetchBatch learns the sizes of one batch, then fetches it in chunks of
// at most maxChunkBytes and hands each to out.
func (s *IMAPSource) fetchBatch(ctx context.Context, c *imapclient.Client, mailbox string, uids []imap.UID, out chan<- fetched) error {
	msgs, err := c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{
		UID: true, RFC822Size: true, InternalDate: true,
	}).Collect()
	if err != nil {
		return fmt.Errorf("fetch sizes in %q: %w", mailbox, ctxErr(ctx, err))
	}
	meta := make(map[imap.UID]msgMeta, len(msgs))
	for _, m := range msgs {
		meta[m.UID] = msgMeta{size: m.RFC822Size, internalDate: m.InternalDate}
	}

	var (
		chunk      []imap.UID
		chunkBytes int64
	)
	for _, uid := range uids {
		m, ok := meta[uid]
		if !ok {
			// Expunged between SEARCH and FETCH: gone, nothing to ingest;
			// the cursor moves past it with its chunk.
			s.log.Warn("imap message vanished before fetch", "mailbox", mailbox, "uid", uid)
			m.size = 0
		}
		size := m.size
		if size > s.cfg.MaxMessageSize {
			size = 0 // headers only
		}
		if len(chunk) > 0 && chunkBytes+size > maxChunkBytes {
			if err := s.fetchChunk(ctx, c, mailbox, chunk, meta, out); err != nil {
				return err
			}
			chunk, chunkBytes = nil, 0
		}
		chunk = append(chunk, uid)
		chunkBytes += size
	}
	if len(chunk) > 0 {
		return s.fetchChunk(ctx, c, mailbox, chunk, meta, out)
	}
	return nil
}

func (s *IMAPSource) fetchChunk(ctx context.Context, c *imapclient.Client, mailbox string, uids []imap.UID, meta map[imap.UID]msgMeta, out chan<- fetched) error {
	var whole, headersOnly imap.UIDSet
	for _, uid := range uids {
		m, ok := meta[uid]
		switch {
		case !ok: // vanished
		case m.size > s.cfg.MaxMessageSize:
			headersOnly.AddNum(uid)
		default:
			whole.AddNum(uid)
		}
	}
	raws := make(map[imap.UID][]byte, len(uids))
	// BODY.PEEK so that fetching does not set \Seen for the people who
	// also read this mailbox.
	if len(whole) > 0 {
		if err := fetchSection(c, whole, &imap.FetchItemBodySection{Peek: true}, raws); err != nil {
			return fmt.Errorf("fetch messages in %q: %w", mailbox, ctxErr(ctx, err))
		}
	}
	if len(headersOnly) > 0 {
		section := &imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, Peek: true}
		if err := fetchSection(c, headersOnly, section, raws); err != nil {
			return fmt.Errorf("fetch headers of oversized messages in %q: %w", mailbox, ctxErr(ctx, err))
		}
	}

	b := fetched{last: uids[len(uids)-1], count: len(uids)}
	for _, uid := range uids {
		raw, ok := raws[uid]
		if !ok {
			if _, known := meta[uid]; known {
				s.log.Warn("imap message vanished before fetch", "mailbox", mailbox, "uid", uid)
			}
			continue
		}
		delete(raws, uid)
		b.uids = append(b.uids, uid)
		b.ins = append(b.ins, s.inbound(raw, meta[uid]))
	}
	if s.prep != nil && len(b.ins) > 0 {
		b.prepared = s.prep.PrepareMailbox(b.ins)
	}
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// commit commits one fetched batch and moves the cursor to its last UID:
// in one transaction when the sink batches. If that fails, the batch is
// ingested again one message at a time, so that one bad message is
// counted, and after MaxAttempts quarantined, by its own UID while the
// others go in; nothing is doubled, since each message is deduplicated on
// its key and the failed batch committed nothing.
func (s *IMAPSource) commit(ctx context.Context, mailbox string, uidValidity uint32, b fetched) error {
	if s.batch != nil {
		var err error
		if b.prepared != nil {
			_, err = s.prep.IngestPreparedMailbox(ctx, s.cfg.ChannelID, mailbox, uidValidity, uint32(b.last), b.prepared)
		} else {
			_, err = s.batch.IngestMailbox(ctx, s.cfg.ChannelID, mailbox, uidValidity, uint32(b.last), b.ins)
		}
		if err == nil {
			for range b.ins {
				s.ingested(mailbox)
			}
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("ingest uids %d-%d of %q: %w", b.uids[0], b.last, mailbox, ctxErr(ctx, err))
		}
		if len(b.ins) > 1 {
			s.log.Warn("imap batch could not be ingested; ingesting its messages one at a time",
				"mailbox", mailbox, "messages", len(b.ins), "first_uid", b.uids[0], "err", err)
		}
	}
	for i, uid := range b.uids {
		if err := s.ingest(ctx, mailbox, uidValidity, uid, b.ins[i]); err != nil {
			return err
		}
	}
	if len(b.uids) == 0 || b.uids[len(b.uids)-1] != b.last {
		// The batch ended in mail that vanished: move past it.
		if err := s.cursors.SaveCursor(ctx, s.cfg.ChannelID, mailbox, uidValidity, uint32(b.last)); err != nil {
			return fmt.Errorf("save cursor of %q at uid %d: %w", mailbox, b.last, err)
		}
	}
	return nil
}

// ingest commits one message and then moves the cursor past it. A message
// that has failed MaxAttempts times in a row (counted with the cursor,
// across sessions and restarts) is committed quarantined instead, so that
// it cannot hold up the mail after it forever. Nothing moves the cursor but
// a commit: when even the quarantined copy cannot be stored, the store
// itself is failing, and the session ends to back off and try again.
func (s *IMAPSource) ingest(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, in message.Inbound) error {
	out, err := s.ingestOne(ctx, mailbox, uidValidity, uid, in)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ingest uid %d of %q: %w", uid, mailbox, ctxErr(ctx, err))
		}
		attempts, ferr := s.cursors.RecordIngestFailure(ctx, s.cfg.ChannelID, mailbox, uint32(uid), clipText(err.Error(), maxErrorText))
		if ferr != nil {
			return fmt.Errorf("ingest uid %d of %q: %w (counting the failure failed too: %v)", uid, mailbox, err, ferr)
		}
		if attempts < s.cfg.MaxAttempts {
			return fmt.Errorf("ingest uid %d of %q (attempt %d of %d): %w", uid, mailbox, attempts, s.cfg.MaxAttempts, err)
		}
		q := quarantineUnstorable(in, attempts, err)
		if out, err = s.ingestOne(ctx, mailbox, uidValidity, uid, q); err != nil {
			// What its header says may be what cannot be stored (a sender
			// the contact table refuses, say): keep the raw bytes alone.
			q = bareQuarantine(q)
			out, err = s.ingestOne(ctx, mailbox, uidValidity, uid, q)
		}
		if err != nil {
			return fmt.Errorf("ingest uid %d of %q, quarantined after %d failed attempts: %w", uid, mailbox, attempts, err)
		}
		s.log.Error("imap message could not be ingested; stored it quarantined so the mailbox moves on",
			"mailbox", mailbox, "uid", uid, "external_id", in.ExternalID, "attempts", attempts, "reason", q.QuarantineReason)
		in = q
	}
	if s.batch == nil {
		if err := s.cursors.SaveCursor(ctx, s.cfg.ChannelID, mailbox, uidValidity, uint32(uid)); err != nil {
			return fmt.Errorf("save cursor of %q at uid %d: %w", mailbox, uid, err)
		}
	}
	s.ingested(mailbox)
	s.log.Debug("imap message ingested", "mailbox", mailbox, "uid", uid,
		"external_id", in.ExternalID, "duplicate", out.Duplicate, "quarantined", in.Quarantined)
	return nil
}

// ingestOne commits one message; a batching sink moves the cursor to uid
// in the same transaction, for a plain one ingest saves it afterwards.
func (s *IMAPSource) ingestOne(ctx context.Context, mailbox string, uidValidity uint32, uid imap.UID, in message.Inbound) (message.Outcome, error) {
	if s.batch == nil {
		return s.sink.Ingest(ctx, in)
	}
	out, err := s.batch.IngestMailbox(ctx, s.cfg.ChannelID, mailbox, uidValidity, uint32(uid), []message.Inbound{in})
	if err != nil {
		return message.Outcome{}, err
	}
	return out[0], nil
}

// bareQuarantine is q with nothing but its dedupe key, the reason and the
// raw bytes: the last thing a working store can always keep.
func bareQuarantine(q message.Inbound) message.Inbound {
	return message.Inbound{
		ChannelID:        q.ChannelID,
		Channel:          q.Channel,
		ExternalID:       q.ExternalID,
		ReceivedAt:       q.ReceivedAt,
		Quarantined:      true,
		QuarantineReason: q.QuarantineReason,
		Raw:              q.Raw,
	}
}

// maxErrorText bounds an ingest error kept with the cursor or in a
// quarantine reason.
const maxErrorText = 500

// quarantineUnstorable is in as it is stored after failing attempts times:
// quarantined with the last error, so it is never classified or answered,
// and with the raw bytes, so nothing of it is lost. It keeps the dedupe key
// and what staff need to find and read it (sender, subject, text); the HTML,
// the attachments and the threading headers, which only the pipeline's
// later steps use, stay in the raw message.
func quarantineUnstorable(in message.Inbound, attempts int, err error) message.Inbound {
	reason := fmt.Sprintf("could not be ingested in %d attempts: %s", attempts, clipText(err.Error(), maxErrorText))
	if in.Quarantined {
		reason += "; " + in.QuarantineReason
	}
	return message.Inbound{
		ChannelID:        in.ChannelID,
		Channel:          in.Channel,
		ExternalID:       in.ExternalID,
		From:             in.From,
		To:               in.To,
		Subject:          in.Subject,
		Text:             in.Text,
		TextTruncated:    in.TextTruncated,
		MessageID:        in.MessageID,
		Flags:            in.Flags,
		SentAt:           in.SentAt,
		ReceivedAt:       in.ReceivedAt,
		Quarantined:      true,
		QuarantineReason: reason,
		Raw:              in.Raw,
	}
}

func fetchSection(c *imapclient.Client, uids imap.UIDSet, section *imap.FetchItemBodySection, into map[imap.UID][]byte) error {
	msgs, err := c.Fetch(uids, &imap.FetchOptions{
		UID:         true,
		BodySection: []*imap.FetchItemBodySection{section},
	}).Collect()
	if err != nil {
		return err
	}
	for _, m := range msgs {
		for _, b := range m.BodySection {
			if m.UID != 0 {
				into[m.UID] = b.Bytes
			}
		}
	}
	return nil
}

// inbound turns fetched bytes into an Inbound. An oversized message
// has only its header here: it is quarantined with the reason, so it is
// kept and seen, never silently dropped.
func (s *IMAPSource) inbound(raw []byte, meta msgMeta) message.Inbound {
	oversized := meta.size > s.cfg.MaxMessageSize
	in := Parse(raw, ParseOptions{ChannelID: s.cfg.ChannelID, MaxSize: s.cfg.MaxMessageSize, Now: s.now})
	in.ChannelID, in.Channel = s.cfg.ChannelID, message.Email
	if oversized {
		reason := fmt.Sprintf("message is %d bytes, over the %d-byte limit: only its header was fetched", meta.size, s.cfg.MaxMessageSize)
		if in.Quarantined && in.QuarantineReason != "" {
			reason += "; " + in.QuarantineReason
		}
		in.Quarantined, in.QuarantineReason, in.Raw = true, reason, raw
	}
	if !meta.internalDate.IsZero() {
		in.ReceivedAt = meta.internalDate
	}
	return in
}
