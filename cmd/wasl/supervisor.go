package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// leaseStore is what the supervisor needs of the store.
type leaseStore interface {
	AcquireLease(ctx context.Context, name string, h store.LeaseHolder, ttl time.Duration) (bool, error)
	RenewLease(ctx context.Context, name string, h store.LeaseHolder, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name string, h store.LeaseHolder) error
}

// leaseTiming is how leases are held and taken over.
type leaseTiming struct {
	// TTL is how long a lease lasts unrenewed: a connector whose replica
	// died is taken over after at most TTL + Retry.
	TTL time.Duration
	// Renew is how often the holder renews, a third of TTL, so that one
	// slow renewal does not lose the lease.
	Renew time.Duration
	// Retry is how often a replica asks again for a lease it does not
	// hold.
	Retry time.Duration
	// Margin: a holder stops its connector this long before its lease
	// could expire, counted from when it sent its last good renewal, so
	// the connector has ended before anyone else may take over.
	Margin time.Duration
	// Restart is the pause before a connector that ended by itself, not
	// by its context, is started again (its lease is released meanwhile).
	Restart time.Duration
}

// defaultLeaseTiming takes a dead replica's connectors over within
// 6 s + 1 s (the issue asks for 10 s), while tolerating a renewal that
// takes up to 3 s.
func defaultLeaseTiming() leaseTiming {
	return leaseTiming{TTL: 6 * time.Second, Renew: 2 * time.Second, Retry: time.Second, Margin: time.Second, Restart: 5 * time.Second}
}

// releaseTimeout bounds the release of a lease at stop: a courtesy that
// saves the next holder the wait for its expiry.
const releaseTimeout = 2 * time.Second

// supervisor runs connectors that must run on one replica at a time (an
// IMAP account, a WhatsApp linked device), each only while this replica
// holds its lease. A connector starts when the lease is acquired and its
// context is cancelled as soon as the lease may be lost: a renewal that
// failed or found the lease taken, or no good renewal for TTL − Margin.
// Until its Run has returned, the lease is not asked for again. The
// connectors know nothing of leases: they stop when their context ends.
//
// Leases are named per channel (leaseName), so any replica configured with
// the same channels competes for the same leases.
type supervisor struct {
	leases leaseStore
	holder store.LeaseHolder
	timing leaseTiming
	log    *slog.Logger

	mu      sync.Mutex
	running map[string]*supervised
}

// supervised is one connector under its lease.
type supervised struct {
	cancel context.CancelFunc
	done   chan struct{}
	held   atomic.Bool // the connector runs under the lease
}

func newSupervisor(leases leaseStore, holder store.LeaseHolder, timing leaseTiming, log *slog.Logger) *supervisor {
	return &supervisor{leases: leases, holder: holder, timing: timing, log: log.With("replica", holder.Replica),
		running: map[string]*supervised{}}
}

// leaseName is the lease of a channel's connector.
func leaseName(channelID int64) string { return fmt.Sprintf("channel:%d", channelID) }

// Start supervises r under the lease called name until ctx ends or Stop:
// it asks for the lease every Retry and runs r while holding it. It
// returns at once; it is an error to start a name twice.
func (s *supervisor) Start(ctx context.Context, name string, r runner) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.running[name]; ok {
		return fmt.Errorf("supervisor: %s is already running", name)
	}
	ctx, cancel := context.WithCancel(ctx)
	sv := &supervised{cancel: cancel, done: make(chan struct{})}
	s.running[name] = sv
	go func() {
		defer close(sv.done)
		s.supervise(ctx, name, r, sv)
	}()
	return nil
}

// Stop ends the connector under name, waits for it, and releases its
// lease so that another replica takes it over at once. Unknown names are
// a no-op.
func (s *supervisor) Stop(name string) {
	s.mu.Lock()
	sv, ok := s.running[name]
	delete(s.running, name)
	s.mu.Unlock()
	if ok {
		sv.cancel()
		<-sv.done
	}
}

// Wait returns when every connector started has ended: after the contexts
// given to Start ended, each has stopped and released its lease.
func (s *supervisor) Wait() {
	s.mu.Lock()
	all := make([]*supervised, 0, len(s.running))
	for _, sv := range s.running {
		all = append(all, sv)
	}
	s.mu.Unlock()
	for _, sv := range all {
		<-sv.done
	}
}

// Holds reports whether this replica runs the connector under name now.
func (s *supervisor) Holds(name string) bool {
	s.mu.Lock()
	sv, ok := s.running[name]
	s.mu.Unlock()
	return ok && sv.held.Load()
}

// supervise is one lease's loop: acquire, hold, and after losing it or
// the connector ending, ask again.
func (s *supervisor) supervise(ctx context.Context, name string, r runner, sv *supervised) {
	log := s.log.With("lease", name)
	var wait time.Duration
	standby := false // logged "held elsewhere" since the last change
	var lastErr error
	for {
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = s.timing.Retry

		sent := time.Now()
		actx, cancel := context.WithTimeout(ctx, s.timing.TTL-s.timing.Margin)
		got, err := s.leases.AcquireLease(actx, name, s.holder, s.timing.TTL)
		cancel()
		if ctx.Err() != nil {
			if got {
				s.release(name, log)
			}
			return
		}
		switch {
		case err != nil:
			if lastErr == nil {
				log.Warn("cannot ask for the lease; retrying", "err", err, "retry", s.timing.Retry)
			}
			lastErr = err
			continue
		case !got:
			if !standby {
				log.Info("lease held by another replica; standing by", "retry", s.timing.Retry)
				standby = true
			}
			lastErr = nil
			continue
		}
		standby, lastErr = false, nil
		if s.hold(ctx, name, r, sv, sent, log) {
			wait = s.timing.Restart
		}
	}
}

// hold runs r while renewing the lease acquired at sent, and returns once
// r has returned: ctx ended, the lease was lost, or r ended by itself
// (ended reports that).
func (s *supervisor) hold(ctx context.Context, name string, r runner, sv *supervised, sent time.Time, log *slog.Logger) (ended bool) {
	log.Info("lease acquired; connector starting")
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 1)
	sv.held.Store(true)
	go func() { done <- r.Run(runCtx) }()
	// stopRun cancels the connector and waits for it to return.
	stopRun := func() error {
		sv.held.Store(false)
		stop()
		return <-done
	}

	deadline := sent.Add(s.timing.TTL - s.timing.Margin)
	tick := time.NewTicker(s.timing.Renew)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := stopRun(); err != nil {
				log.Warn("connector ended with an error", "err", err)
			}
			s.release(name, log)
			log.Info("connector stopped; lease released")
			return false
		case err := <-done:
			sv.held.Store(false)
			s.release(name, log)
			log.Error("connector ended by itself; lease released, restarting it", "err", err, "in", s.timing.Restart)
			return true
		case <-tick.C:
			sent := time.Now()
			rctx, cancel := context.WithDeadline(ctx, deadline)
			ok, err := s.leases.RenewLease(rctx, name, s.holder, s.timing.TTL)
			cancel()
			if ctx.Err() != nil {
				continue // shutting down: the case above
			}
			if err == nil && ok {
				deadline = sent.Add(s.timing.TTL - s.timing.Margin)
				continue
			}
			reason := "taken over"
			if err != nil {
				reason = "renewal failed"
				if errors.Is(err, context.DeadlineExceeded) {
					reason = "renewal too slow"
				}
			}
			log.Warn("lease lost; connector stopping", "reason", reason, "err", err)
			if err := stopRun(); err != nil {
				log.Warn("connector ended with an error", "err", err)
			}
			log.Info("connector stopped after losing its lease")
			return false
		}
	}
}

func (s *supervisor) release(name string, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
	defer cancel()
	if err := s.leases.ReleaseLease(ctx, name, s.holder); err != nil {
		log.Warn("release lease; it expires by itself", "err", err)
	}
}
