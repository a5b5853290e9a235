package whatsapp

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wasl-dev/wasl/message"
)

const (
	// ingestAttempts bounds the in-place retries of Ingest: the handler
	// holds up whatsmeow's event queue while it retries.
	ingestAttempts = 3
	// maxIngestFailures is how many failed ingests of one message, across
	// redeliveries, make it stored quarantined instead.
	maxIngestFailures = 5
	// maxTrackedFailures bounds the failure counts kept.
	maxTrackedFailures = 10000
)

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

// handleMessage translates and ingests one message; its media are left to
// the media job (OpenMedia). It returns false (leave unacknowledged) only
// when Ingest kept failing.
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
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = time.Now()
	}

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

// ingest hands in to the sink, retrying a few times in place. Failures are
// counted per message id across redeliveries: the maxIngestFailures-th
// stores the message quarantined with the error instead, so one message
// that cannot be processed does not come back forever. If even that fails,
// the store itself is down; the message is left for WhatsApp to deliver
// again and its count starts afresh, so that it gets its normal chances once
// the store is back.
func (c *Channel) ingest(ctx context.Context, in message.Inbound, log *slog.Logger) error {
	bo := backoff{min: c.cfg.MinBackoff, max: c.cfg.MaxBackoff}
	var err error
	for attempt := 1; ; attempt++ {
		if _, err = c.sink.Ingest(ctx, in); err == nil {
			c.forgetFailures(in.ExternalID)
			return nil
		}
		if ctx.Err() != nil {
			// Shutting down: not the message's fault.
			return fmt.Errorf("ingest (%d attempts): %w", attempt, err)
		}
		if n := c.countFailure(in.ExternalID); n >= maxIngestFailures {
			return c.ingestQuarantined(ctx, in, n, err, log)
		}
		if attempt == ingestAttempts {
			return fmt.Errorf("ingest (%d attempts): %w", attempt, err)
		}
		d := bo.next()
		log.Warn("whatsapp: ingest failed, retrying", "err", err, "attempt", attempt, "retry_in", d)
		sleep(ctx, d)
	}
}

// ingestQuarantined stores in, which failed n times with cause, as
// quarantined: not classified, not answered, kept with its raw event.
func (c *Channel) ingestQuarantined(ctx context.Context, in message.Inbound, n int, cause error, log *slog.Logger) error {
	q := in
	q.Quarantined = true
	q.QuarantineReason = fmt.Sprintf("could not be stored after %d attempts: %v", n, cause)
	if in.Quarantined {
		q.QuarantineReason = in.QuarantineReason + "; " + q.QuarantineReason
	}
	_, err := c.sink.Ingest(ctx, q)
	c.forgetFailures(in.ExternalID)
	if err != nil {
		return fmt.Errorf("ingest failed %d times (%w), and quarantined too: %w", n, cause, err)
	}
	log.Warn("whatsapp: message stored quarantined after repeated ingest failures", "failures", n, "err", cause)
	return nil
}

// countFailure records a failed ingest of message id and returns how many
// there were.
func (c *Channel) countFailure(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == nil || len(c.failures) >= maxTrackedFailures {
		// Only messages with a few failures are here; so many means the
		// store is down, when the counts say nothing anyway.
		c.failures = make(map[string]int)
	}
	c.failures[id]++
	return c.failures[id]
}

func (c *Channel) forgetFailures(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failures, id)
}
