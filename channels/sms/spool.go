package sms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// The spool keeps the webhooks Wasl verified but could not store, so that
// answering Twilio 200 never depends on the database being up: by default
// Twilio does not retry a webhook answered 5xx, so a 503 would lose the
// message. Each webhook is one file in Config.SpoolDir, written whole or not
// at all (temp file, fsync, rename, fsync of the directory), so a spooled
// message survives kill -9 and power loss. RunSpool ingests the files in
// arrival order when the store is back, also after a restart, and removes
// each only once its ingest committed; the MessageSid dedupe makes a replay
// harmless. Only when the spool itself cannot be written does the webhook
// answer 503.

// Pinger tells whether the store answers: it separates "the store is down"
// (wait, count nothing) from "this message fails" (count the attempt).
type Pinger interface {
	Ping(ctx context.Context) error
}

const (
	// maxSpoolAttempts is how many ingests of a spooled message may fail
	// while the store answers before it is stored quarantined instead.
	maxSpoolAttempts = 5
	// spoolExt names complete spool files; temp files start with ".tmp-".
	spoolExt = ".twilio"
)

// Defaults of the drainer's timing; tests shorten them.
const (
	defaultSpoolRetry   = time.Second            // first retry of a failing message, doubled each time
	defaultSpoolMinWait = 500 * time.Millisecond // store down: first re-check, doubled …
	defaultSpoolMaxWait = 10 * time.Second       // … up to this
)

// spoolHeader is the first line of a spool file; the verified form body, as
// Twilio posted it, follows after a newline, byte for byte.
type spoolHeader struct {
	Channel    string    `json:"channel"`
	ChannelID  int64     `json:"channel_id"`
	MessageSID string    `json:"message_sid"`
	ReceivedAt time.Time `json:"received_at"`
	// Attempts counts failed ingests while the store answered.
	Attempts  int       `json:"attempts,omitempty"`
	NextTry   time.Time `json:"next_try,omitzero"`
	LastError string    `json:"last_error,omitempty"`
}

type spoolEntry struct {
	spoolHeader
	form []byte
}

func (e spoolEntry) encode() ([]byte, error) {
	h, err := json.Marshal(e.spoolHeader)
	if err != nil {
		return nil, err
	}
	return append(append(h, '\n'), e.form...), nil
}

func decodeSpoolEntry(b []byte) (spoolEntry, error) {
	head, form, ok := bytes.Cut(b, []byte("\n"))
	if !ok {
		return spoolEntry{}, errors.New("no header line")
	}
	var e spoolEntry
	if err := json.Unmarshal(head, &e.spoolHeader); err != nil {
		return spoolEntry{}, fmt.Errorf("header: %w", err)
	}
	e.form = form
	return e, nil
}

// spool is one channel's spool directory.
type spool struct {
	dir     string
	pending atomic.Int64  // complete files in dir
	kick    chan struct{} // wakes the drainer after a put
	running atomic.Bool   // a RunSpool is draining

	mu       sync.Mutex // guards dirReady
	dirReady bool       // dir exists and its entry in the parent is durable
}

func newSpool(dir string) (*spool, error) {
	s := &spool{dir: dir, kick: make(chan struct{}, 1)}
	names, err := s.list()
	if err != nil {
		return nil, err
	}
	s.pending.Store(int64(len(names)))
	return s, nil
}

// list returns the complete spool files, oldest first (names start with
// the arrival time).
func (s *spool) list() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool %s: %w", s.dir, err)
	}
	var names []string
	for _, de := range des {
		if n := de.Name(); de.Type().IsRegular() && strings.HasSuffix(n, spoolExt) && !strings.HasPrefix(n, ".") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// ready makes the directory exist durably.
func (s *spool) ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dirReady {
		return nil
	}
	if err := os.MkdirAll(s.dir, 0o750); err != nil {
		return err
	}
	if err := syncDir(filepath.Dir(s.dir)); err != nil {
		return err
	}
	s.dirReady = true
	return nil
}

// put writes a new entry and returns its file name.
func (s *spool) put(e spoolEntry) (string, error) {
	if err := s.ready(); err != nil {
		return "", fmt.Errorf("spool: %w", err)
	}
	name := fmt.Sprintf("%020d-%s%s", e.ReceivedAt.UnixNano(), e.MessageSID, spoolExt)
	if err := s.write(name, e); err != nil {
		return "", err
	}
	s.pending.Add(1)
	select {
	case s.kick <- struct{}{}:
	default:
	}
	return name, nil
}

// write puts e into the file name whole or not at all.
func (s *spool) write(name string, e spoolEntry) error {
	b, err := e.encode()
	if err != nil {
		return fmt.Errorf("spool: encode: %w", err)
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly once renamed
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("spool: write: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("spool: sync: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("spool: close: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// remove deletes a drained entry, durably.
func (s *spool) remove(name string) error {
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	s.pending.Add(-1)
	// Should the removal be lost in a crash, the entry is ingested again: a
	// duplicate the pipeline ignores.
	if err := syncDir(s.dir); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// spoolTiming is the drainer's backoff.
type spoolTiming struct {
	retry, minWait, maxWait time.Duration
}

// Spooled reports how many verified webhooks wait in the spool for the
// store.
func (c *Channel) Spooled() int {
	if c.spool == nil {
		return 0
	}
	return int(c.spool.pending.Load())
}

// RunSpool ingests spooled webhooks into sink until ctx ends: at once (what
// an earlier process left), whenever the webhook spools one, and again with
// backoff while some remain. health says whether the store answers; with
// nil, every failure counts against the message. A message whose ingest
// fails maxSpoolAttempts times while the store answers is stored
// quarantined with the error, its raw form kept; if even that fails it
// stays spooled. It returns nil when ctx ends; without a SpoolDir it only
// waits for that.
func (c *Channel) RunSpool(ctx context.Context, sink Ingester, health Pinger) error {
	if c.spool == nil {
		<-ctx.Done()
		return nil
	}
	if !c.spool.running.CompareAndSwap(false, true) {
		return fmt.Errorf("sms channel %q: spool already draining", c.cfg.Name)
	}
	defer c.spool.running.Store(false)

	down := c.spoolTiming.minWait // wait after finding the store down
	for {
		wait, storeDown := c.drain(ctx, sink, health)
		if ctx.Err() != nil {
			return nil
		}
		if storeDown {
			wait = down
			down = min(2*down, c.spoolTiming.maxWait)
		} else {
			down = c.spoolTiming.minWait
		}
		var t *time.Timer
		var timer <-chan time.Time
		if wait > 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-c.spool.kick:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// drain makes one pass over the spool, oldest first. It returns how long
// until the next entry is due (0: none left), or storeDown when the pass
// stopped because the store does not answer.
func (c *Channel) drain(ctx context.Context, sink Ingester, health Pinger) (wait time.Duration, storeDown bool) {
	names, err := c.spool.list()
	if err != nil {
		c.log.Error("twilio spool unreadable", "err", err)
		return c.spoolTiming.maxWait, false
	}
	now := time.Now() // c.now stamps messages; retries run on the real clock
	for _, name := range names {
		if ctx.Err() != nil {
			return 0, false
		}
		e, in, err := c.readSpooled(name)
		if err != nil {
			c.log.Error("twilio spool entry unreadable; kept aside for a person", "file", name, "err", err)
			c.setAside(name)
			continue
		}
		if e.NextTry.After(now) {
			if d := e.NextTry.Sub(now); wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		ictx, cancel := context.WithTimeout(ctx, storeTimeout)
		out, err := sink.Ingest(ictx, in)
		cancel()
		if err == nil {
			c.drained(name, in, out.Duplicate, out.MessageID, false)
			continue
		}
		if ctx.Err() != nil {
			return 0, false
		}
		if c.isStoreDown(ctx, health) {
			c.log.Warn("twilio spool: store down, waiting", "spooled", c.Spooled(), "err", err)
			return 0, true
		}
		e.Attempts++
		e.LastError = err.Error()
		if e.Attempts >= maxSpoolAttempts {
			q := in
			q.Quarantined = true
			q.QuarantineReason = fmt.Sprintf("could not be stored after %d attempts: %v", e.Attempts, err)
			if in.Quarantined {
				q.QuarantineReason = in.QuarantineReason + "; " + q.QuarantineReason
			}
			ictx, cancel := context.WithTimeout(ctx, storeTimeout)
			out, qerr := sink.Ingest(ictx, q)
			cancel()
			if qerr == nil {
				c.drained(name, q, out.Duplicate, out.MessageID, true)
				continue
			}
			// Failing even quarantined: the store is in trouble after all.
			c.log.Error("twilio spool: quarantined ingest failed too; keeping the message", "message_sid", in.ExternalID, "err", qerr)
			e.Attempts = maxSpoolAttempts - 1
			e.LastError = qerr.Error()
		}
		e.NextTry = now.Add(c.spoolTiming.retry << (e.Attempts - 1))
		if err := c.spool.write(name, e); err != nil {
			c.log.Error("twilio spool: cannot record the failed attempt", "file", name, "err", err)
		}
		c.log.Warn("twilio spool: message failed while the store answers", "message_sid", in.ExternalID,
			"attempt", e.Attempts, "retry_at", e.NextTry, "err", err)
		if d := e.NextTry.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	return wait, false
}

// readSpooled reads one entry and rebuilds its message.
func (c *Channel) readSpooled(name string) (spoolEntry, message.Inbound, error) {
	b, err := os.ReadFile(filepath.Join(c.spool.dir, name))
	if err != nil {
		return spoolEntry{}, message.Inbound{}, err
	}
	e, err := decodeSpoolEntry(b)
	if err != nil {
		return spoolEntry{}, message.Inbound{}, err
	}
	form, err := url.ParseQuery(string(e.form))
	if err != nil {
		return spoolEntry{}, message.Inbound{}, fmt.Errorf("form: %w", err)
	}
	in, err := c.inbound(form, e.form, e.ReceivedAt)
	if err != nil {
		return spoolEntry{}, message.Inbound{}, err
	}
	return e, in, nil
}

// drained removes an entry whose ingest committed.
func (c *Channel) drained(name string, in message.Inbound, duplicate bool, id int64, quarantined bool) {
	if err := c.spool.remove(name); err != nil {
		c.log.Error("twilio spool: stored, but the entry could not be removed (it will be a duplicate)", "file", name, "err", err)
	}
	log := c.log.Info
	if quarantined {
		log = c.log.Warn
	}
	log("twilio spooled message stored", "message_sid", in.ExternalID, "duplicate", duplicate, "message_id", id,
		"quarantined", in.Quarantined, "reason", in.QuarantineReason, "spooled", c.Spooled())
}

// setAside renames an entry that cannot be read, so it no longer blocks the
// spool yet stays for a person to look at.
func (c *Channel) setAside(name string) {
	if err := os.Rename(filepath.Join(c.spool.dir, name), filepath.Join(c.spool.dir, name+".unreadable")); err != nil {
		c.log.Error("twilio spool: cannot set the entry aside", "file", name, "err", err)
		return
	}
	c.spool.pending.Add(-1)
}

func (c *Channel) isStoreDown(ctx context.Context, health Pinger) bool {
	if health == nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return health.Ping(pctx) != nil
}
