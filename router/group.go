package router

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// group is group commit: an item submitted while the group's batches are
// all under way waits for one to end and goes in with every other item
// submitted meanwhile, in one call of do (in submission order). Nothing
// waits on purpose: alone, an item is a batch of its own at once; under
// load, one commit serves many. A batch that fails is run again one item at
// a time, so that one bad item fails only itself.
type group[T, R any] struct {
	what     string // a batch's items, for the log
	do       func(ctx context.Context, items []T) ([]R, error)
	maxBatch int
	slots    chan struct{} // one per batch under way
	log      *slog.Logger

	mu    sync.Mutex
	queue []*pending[T, R]
}

type pending[T, R any] struct {
	ctx  context.Context
	item T
	done chan outcome[R] // buffered: the drainer never blocks on a caller gone
}

type outcome[R any] struct {
	r   R
	err error
}

// newGroup runs do on batches of at most maxBatch items, at most parallel
// at once. do returns one result for each item, in order.
func newGroup[T, R any](what string, do func(ctx context.Context, items []T) ([]R, error), maxBatch, parallel int, log *slog.Logger) *group[T, R] {
	return &group[T, R]{what: what, do: do, maxBatch: max(1, maxBatch), slots: make(chan struct{}, max(1, parallel)), log: log}
}

// submit returns item's result once its batch ran, or ctx's error if ctx
// ends first — the batch may still run and commit it afterwards.
func (g *group[T, R]) submit(ctx context.Context, item T) (R, error) {
	p := &pending[T, R]{ctx: ctx, item: item, done: make(chan outcome[R], 1)}
	g.mu.Lock()
	g.queue = append(g.queue, p)
	g.mu.Unlock()
	select {
	case g.slots <- struct{}{}:
		go g.drain()
	default:
		// Every slot busy: a drainer takes the queue when its batch ends
		// (it releases its slot only once the queue is empty, under the
		// same lock the append took).
	}
	select {
	case o := <-p.done:
		return o.r, o.err
	case <-ctx.Done():
		var zero R
		return zero, ctx.Err()
	}
}

// drain runs batches from the queue until it is empty, then frees its slot.
func (g *group[T, R]) drain() {
	for {
		g.mu.Lock()
		var batch []*pending[T, R]
		for len(g.queue) > 0 && len(batch) < g.maxBatch {
			p := g.queue[0]
			g.queue[0] = nil
			g.queue = g.queue[1:]
			if p.ctx.Err() != nil {
				// Its caller has answered already.
				continue
			}
			batch = append(batch, p)
		}
		if len(batch) == 0 {
			g.queue = nil
			<-g.slots
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		g.run(batch)
	}
}

func (g *group[T, R]) run(batch []*pending[T, R]) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	items := make([]T, len(batch))
	for i, p := range batch {
		items[i] = p.item
	}
	rs, err := g.do(ctx, items)
	if err != nil && len(batch) > 1 {
		// One item may have failed them all: each alone, so that only it
		// fails.
		g.log.Warn("batch failed; running its items one at a time", "items", g.what, "n", len(batch), "err", err)
		for _, p := range batch {
			if p.ctx.Err() == nil {
				g.run([]*pending[T, R]{p})
			}
		}
		return
	}
	for i, p := range batch {
		if err != nil {
			p.done <- outcome[R]{err: err}
		} else {
			p.done <- outcome[R]{r: rs[i]}
		}
	}
}

// batchContext outlives every caller's cancellation (a commit under way
// finishes, so that a retry finds it) but not the latest of their
// deadlines.
func batchContext[T, R any](batch []*pending[T, R]) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		dl, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(p.ctx))
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}
