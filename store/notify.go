package store

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// notifyEvery is the least time between two wake-ups of the change feed's
// listeners: commits within it share one NOTIFY.
const notifyEvery = 20 * time.Millisecond

// changeNotifier wakes the change feed's listeners (ListenChanges, on
// every replica) after this process's commits, with NOTIFY outside them.
// Inside, as a trigger did, every writing transaction took PostgreSQL's
// one notification-queue lock at commit and held it until its WAL flush,
// so concurrent commits queued on each other's flushes instead of sharing
// one (migration 00025). A commit is always followed by a NOTIFY sent
// after it; a NOTIFY lost to a database failure leaves the listeners to
// their poll.
type changeNotifier struct {
	db   *sql.DB
	log  *slog.Logger
	kick chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

func startChangeNotifier(db *sql.DB, log *slog.Logger) *changeNotifier {
	ctx, stop := context.WithCancel(context.Background())
	n := &changeNotifier{db: db, log: log, kick: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	go n.run(ctx)
	return n
}

// committed says a transaction committed; it never waits.
func (n *changeNotifier) committed() {
	select {
	case n.kick <- struct{}{}:
	default: // a NOTIFY is due already, after this commit
	}
}

func (n *changeNotifier) run(ctx context.Context) {
	defer close(n.done)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		}
		nctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := n.db.ExecContext(nctx, "NOTIFY wasl_changes")
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			n.log.Warn("live updates: cannot notify the other replicas; they poll meanwhile", "err", err)
			failing = true
		case err == nil && failing:
			n.log.Info("live updates: notifying the other replicas again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyEvery):
		}
	}
}

func (n *changeNotifier) close() {
	n.stop()
	<-n.done
}
