package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// Live reconfiguration: channels added, changed, disabled or deleted in the
// web UI take effect without a restart, on every replica. Each replica
// polls the channel rows (liveTiming.Poll, and at once when its own UI
// changed one) and, for every UI channel whose revision moved, stops its
// connector, builds it again from the row and starts it; the connectors
// that must run on one replica at a time (a mailbox, a linked device) run
// under their lease (leaseRunner). The file's channels are started once
// and never touched.
//
// The replica that runs a connector also reports its status to the
// channel_status table, so the operator page on any replica shows it.

// leaseRunner runs a connector under a named lease: Start returns at once
// and keeps r running while this replica holds the lease; Stop ends it and
// waits; Holds says whether it runs here now.
type leaseRunner interface {
	Start(ctx context.Context, name string, r runner) error
	Stop(name string)
	Holds(name string) bool
}

// liveTiming is how often replicas look at the channel rows and report
// connector status.
type liveTiming struct {
	Poll   time.Duration // channel rows
	Report time.Duration // status, when it changed
	Beat   time.Duration // status, even unchanged, so the page can tell a live report from a dead replica's
}

func defaultLiveTiming() liveTiming {
	return liveTiming{Poll: 2 * time.Second, Report: time.Second, Beat: 10 * time.Second}
}

// liveChannels runs the gateway's channels.
type liveChannels struct {
	a      *app
	timing liveTiming
	// replica names this replica in channel_status; serve sets it.
	replica string
	nudge   chan struct{}

	mu      sync.Mutex
	ctx     context.Context // the connectors' (serve's intake)
	leases  leaseRunner
	running map[int64]*liveConn
	failed  map[int64]failedBuild // UI channels whose row could not be built, by id
	wg      sync.WaitGroup
}

// liveConn is one running connector.
type liveConn struct {
	c        *connector
	revision int64 // of the row it was built from; 0 for the file's
	action   int64 // the row's ActionSeq when last looked at
	cancel   context.CancelFunc
	done     chan struct{} // the everywhere runners have returned
	reported []byte        // the status last written
	beat     time.Time
}

type failedBuild struct {
	revision int64
	err      string
}

func newLiveChannels(a *app) *liveChannels {
	return &liveChannels{a: a, timing: defaultLiveTiming(),
		nudge: make(chan struct{}, 1), running: map[int64]*liveConn{}, failed: map[int64]failedBuild{}}
}

// Changed asks for a look at the channel rows now (this replica's UI just
// changed one).
func (l *liveChannels) Changed() {
	select {
	case l.nudge <- struct{}{}:
	default:
	}
}

// run starts the file's channels and the UI's, then follows the rows until
// ctx ends, and stops everything before it returns.
func (l *liveChannels) run(ctx context.Context, leases leaseRunner) {
	l.mu.Lock()
	l.ctx, l.leases = ctx, leases
	l.mu.Unlock()
	// A file channel's last action was carried out by an earlier run.
	seq := map[int64]int64{}
	if rows, err := l.a.store.Channels(ctx); err == nil {
		for _, row := range rows {
			seq[row.ID] = row.ActionSeq
		}
	}
	for _, c := range l.a.fileChannels {
		l.start(c, 0, seq[c.id])
	}
	l.reconcile(ctx)
	poll := time.NewTicker(l.timing.Poll)
	defer poll.Stop()
	report := time.NewTicker(l.timing.Report)
	defer report.Stop()
	for {
		select {
		case <-ctx.Done():
			l.stopAll()
			return
		case <-poll.C:
			l.reconcile(ctx)
		case <-l.nudge:
			l.reconcile(ctx)
		case <-report.C:
			l.report(ctx)
		}
	}
}

// start runs c: its everywhere runners here, its leased one under its lease.
func (l *liveChannels) start(c *connector, revision, action int64) {
	l.a.registry.install(c)
	ctx, cancel := context.WithCancel(l.ctx)
	lc := &liveConn{c: c, revision: revision, action: action, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, r := range c.everywhere {
		wg.Go(func() {
			if err := r.Run(ctx); err != nil && ctx.Err() == nil {
				l.a.log.Error("channel runner ended", "channel", c.name, "err", err)
			}
		})
	}
	l.wg.Go(func() { wg.Wait(); close(lc.done) })
	if c.leased != nil {
		if err := l.leases.Start(ctx, leaseName(c.id), c.leased); err != nil {
			l.a.log.Error("start channel", "channel", c.name, "err", err)
		}
	}
	l.mu.Lock()
	l.running[c.id] = lc
	l.mu.Unlock()
	l.a.log.Info("channel started", "channel", c.name, "channel_id", c.id, "kind", string(c.kind), "revision", revision)
}

// stop ends a channel's connector and takes it out of the registry.
func (l *liveChannels) stop(id int64) {
	l.mu.Lock()
	lc := l.running[id]
	delete(l.running, id)
	l.mu.Unlock()
	if lc == nil {
		return
	}
	if lc.c.leased != nil {
		l.leases.Stop(leaseName(id))
	}
	lc.cancel()
	<-lc.done
	l.a.registry.uninstall(id)
	l.a.log.Info("channel stopped", "channel", lc.c.name, "channel_id", id)
}

func (l *liveChannels) stopAll() {
	l.mu.Lock()
	ids := make([]int64, 0, len(l.running))
	for id := range l.running {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	for _, id := range ids {
		l.stop(id)
	}
	l.wg.Wait()
}

// reconcile brings the running UI channels in line with their rows.
func (l *liveChannels) reconcile(ctx context.Context) {
	rows, err := l.a.store.Channels(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.a.log.Warn("read channels; the running ones go on as they are", "err", err)
		}
		return
	}
	for _, row := range rows {
		l.mu.Lock()
		lc, failed := l.running[row.ID], l.failed[row.ID]
		l.mu.Unlock()
		if row.Source != store.SourceUI {
			// The file's channels run as the file says; only an
			// operator's request (pair, log out) reaches them.
			if lc != nil {
				l.act(ctx, lc, row)
			}
			continue
		}
		want := row.Enabled && row.DeletedAt == nil
		switch {
		case !want && lc != nil:
			l.stop(row.ID)
		case !want:
			l.mu.Lock()
			delete(l.failed, row.ID)
			l.mu.Unlock()
		case lc != nil && lc.revision == row.Revision:
			l.act(ctx, lc, row)
		case lc == nil && failed.revision == row.Revision:
			// Built and failed at this revision: wait for an edit.
		default:
			if lc != nil {
				l.stop(row.ID)
			}
			c, err := l.build(ctx, row)
			if err != nil {
				l.a.log.Error("channel cannot start", "channel", row.Name, "channel_id", row.ID, "err", err)
				l.mu.Lock()
				l.failed[row.ID] = failedBuild{revision: row.Revision, err: err.Error()}
				l.mu.Unlock()
				l.putStatus(ctx, row.ID, inbox.ConnectorStatus{State: inbox.StateError, Error: err.Error(), Since: time.Now()})
				continue
			}
			l.mu.Lock()
			delete(l.failed, row.ID)
			l.mu.Unlock()
			l.start(c, row.Revision, row.ActionSeq)
		}
	}
}

// build makes a UI channel's connector from its row: the settings, and
// the credentials decrypted with the key.
func (l *liveChannels) build(ctx context.Context, row store.Channel) (*connector, error) {
	var ch config.Channel
	if err := json.Unmarshal(row.Config, &ch); err != nil {
		return nil, fmt.Errorf("stored settings: %w", err)
	}
	fields, err := secrets.OpenFields(l.a.key, row.ID, row.Secret)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	ch = ch.WithSecrets(fields)
	ch.Name, ch.Kind = row.Name, row.Kind
	return l.a.buildConnector(ctx, row.ID, ch, true)
}

// act carries out a request an operator made for a channel (pair, log
// out) if this replica drives it.
func (l *liveChannels) act(ctx context.Context, lc *liveConn, row store.Channel) {
	if row.ActionSeq == lc.action {
		return
	}
	lc.action = row.ActionSeq
	if lc.c.leased == nil || !l.leases.Holds(leaseName(row.ID)) {
		return // whoever drives it acts
	}
	log := l.a.log.With("channel", row.Name, "action", row.Action)
	switch {
	case lc.c.wa != nil && row.Action == inbox.ActionPair:
		// Pairing runs until the phone scans or the codes run out; its
		// codes reach the page through the status.
		l.wg.Go(func() {
			if err := lc.c.wa.Pair(l.ctx, nil); err != nil && l.ctx.Err() == nil {
				log.Warn("whatsapp pairing ended without a device", "err", err)
			}
		})
	case lc.c.wa != nil && row.Action == inbox.ActionLogout:
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := lc.c.wa.Logout(lctx); err != nil {
			log.Warn("whatsapp logout", "err", err)
		}
	default:
		log.Warn("unknown channel action")
	}
	l.report(ctx)
}

// report writes the status of the connectors this replica drives when it
// changed, and every Beat regardless.
func (l *liveChannels) report(ctx context.Context) {
	l.mu.Lock()
	var mine []*liveConn
	for _, lc := range l.running {
		// A leased connector reports from the replica that holds it; one
		// without a connection of its own (Twilio) from every replica alike.
		if lc.c.leased == nil || l.leases.Holds(leaseName(lc.c.id)) {
			mine = append(mine, lc)
		}
	}
	l.mu.Unlock()
	for _, lc := range mine {
		b, err := json.Marshal(connectorStatus(lc.c))
		if err != nil {
			continue
		}
		if bytes.Equal(b, lc.reported) && time.Since(lc.beat) < l.timing.Beat {
			continue
		}
		if err := l.a.store.PutChannelStatus(ctx, store.ChannelStatus{ChannelID: lc.c.id, Replica: l.replica, Status: b}); err != nil {
			if ctx.Err() == nil {
				l.a.log.Warn("report channel status", "channel", lc.c.name, "err", err)
			}
			continue
		}
		lc.reported, lc.beat = b, time.Now()
	}
}

func (l *liveChannels) putStatus(ctx context.Context, id int64, st inbox.ConnectorStatus) {
	b, _ := json.Marshal(st)
	if err := l.a.store.PutChannelStatus(ctx, store.ChannelStatus{ChannelID: id, Replica: l.replica, Status: b}); err != nil && ctx.Err() == nil {
		l.a.log.Warn("report channel status", "channel_id", id, "err", err)
	}
}

// connectorStatus is what the operator page shows of a running connector.
func connectorStatus(c *connector) inbox.ConnectorStatus {
	switch {
	case c.imap != nil:
		st := inbox.ConnectorStatus{State: inbox.StateConnected}
		for _, m := range c.imap.Status() {
			st.Mailboxes = append(st.Mailboxes, inbox.MailboxStatus{Name: m.Mailbox, Connected: m.Connected, Idle: m.Idle,
				LastSync: m.LastSync, Fetched: m.Fetched, SyncDone: m.SyncDone, SyncTotal: m.SyncTotal, Error: m.Error, ErrorAt: m.ErrorAt})
			switch {
			case m.Error != "":
				st.State, st.Error, st.ErrorAt = inbox.StateReconnecting, m.Error, m.ErrorAt
			case !m.Connected && st.State == inbox.StateConnected:
				st.State = inbox.StateConnecting
			}
		}
		return st
	case c.wa != nil:
		w := c.wa.Status()
		st := inbox.ConnectorStatus{State: string(w.State), Since: w.Since, Error: w.Error,
			WhatsApp: &inbox.WhatsAppStatus{QRCode: w.QRCode, Phone: phoneOf(w.JID)}}
		if w.Error != "" {
			st.ErrorAt = w.Since
		}
		return st
	}
	return inbox.ConnectorStatus{State: inbox.StateRunning}
}

// phoneOf is the number of a WhatsApp JID ("966501112233@s.whatsapp.net").
func phoneOf(jid string) string {
	for i := 0; i < len(jid); i++ {
		if jid[i] == '@' || jid[i] == ':' || jid[i] == '.' {
			return "+" + jid[:i]
		}
	}
	if jid == "" {
		return ""
	}
	return "+" + jid
}
