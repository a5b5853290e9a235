package inbox

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// ChangeFeed is what the hub reads: the store's change feed.
type ChangeFeed interface {
	LastChangeID(ctx context.Context) (int64, error)
	Changes(ctx context.Context, afterID int64, limit int) ([]store.Change, error)
	PruneChanges(ctx context.Context, before time.Time) error
	ListenChanges(ctx context.Context, wake func()) error
}

// Hub fans the store's change feed out to the browsers that are open. One
// reader per process follows the feed: woken by PostgreSQL's NOTIFY (so a
// change committed on any replica reaches every replica's browsers at
// once), and polling as well — the only way on SQLite, and a safety net
// when the listening connection drops.
type Hub struct {
	feed ChangeFeed
	poll time.Duration
	log  *slog.Logger

	mu   sync.Mutex
	subs map[*subscription]struct{}
	wake chan struct{}
}

type subscription struct {
	p  Principal
	ch chan store.Change
}

// NewHub makes a hub; poll is how often it reads the feed without being
// woken (default one second).
func NewHub(feed ChangeFeed, poll time.Duration, log *slog.Logger) *Hub {
	if poll <= 0 {
		poll = time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Hub{feed: feed, poll: poll, log: log, subs: map[*subscription]struct{}{}, wake: make(chan struct{}, 1)}
}

// Subscribe returns the changes p may see, from now on, until cancel. A
// subscriber too slow to keep up loses changes (the page then refreshes
// on the next one; nothing is lost from the store).
func (h *Hub) Subscribe(p Principal) (<-chan store.Change, func()) {
	s := &subscription{p: p, ch: make(chan store.Change, 64)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s.ch, func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
	}
}

// Notify makes the hub read the feed now (after a commit in this process).
func (h *Hub) Notify() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Visible reports whether p may see a change (the rule of CanSee).
func Visible(p Principal, c store.Change) bool {
	return p.Operator() || c.Department == "" || p.User.InDepartment(c.Department) || (c.AssigneeID != 0 && c.AssigneeID == p.User.ID)
}

// Run follows the feed until ctx ends.
func (h *Hub) Run(ctx context.Context) error {
	last, err := h.feed.LastChangeID(ctx)
	for err != nil {
		h.log.WarnContext(ctx, "live updates: read the change feed", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
		last, err = h.feed.LastChangeID(ctx)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		h.listen(ctx)
	}()
	tick := time.NewTicker(h.poll)
	defer tick.Stop()
	prune := time.NewTicker(10 * time.Minute)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-prune.C:
			if err := h.feed.PruneChanges(ctx, time.Now().Add(-time.Hour)); err != nil {
				h.log.WarnContext(ctx, "live updates: prune", "err", err)
			}
			continue
		case <-tick.C:
		case <-h.wake:
		}
		last = h.read(ctx, last)
	}
}

func (h *Hub) read(ctx context.Context, last int64) int64 {
	for {
		changes, err := h.feed.Changes(ctx, last, 500)
		if err != nil {
			if ctx.Err() == nil {
				h.log.WarnContext(ctx, "live updates: read the change feed", "err", err)
			}
			return last
		}
		if len(changes) == 0 {
			return last
		}
		h.mu.Lock()
		for _, c := range changes {
			for s := range h.subs {
				if !Visible(s.p, c) {
					continue
				}
				select {
				case s.ch <- c:
				default:
				}
			}
		}
		h.mu.Unlock()
		last = changes[len(changes)-1].ID
		if len(changes) < 500 {
			return last
		}
	}
}

// listen keeps a LISTEN connection open where the store has one,
// reconnecting with backoff.
func (h *Hub) listen(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := h.feed.ListenChanges(ctx, h.Notify)
		if errors.Is(err, store.ErrNoListen) {
			return // SQLite: polling it is
		}
		if ctx.Err() != nil {
			return
		}
		h.log.WarnContext(ctx, "live updates: listening connection lost; polling meanwhile", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}
