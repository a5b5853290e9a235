package router

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// batchIngester is what the Coalescer needs of the pipeline.
type batchIngester interface {
	IngestBatch(ctx context.Context, ins []message.Inbound, after func(ctx context.Context, tx *store.Tx) error) ([]Result, error)
}

// Coalescer is group commit for webhooks: a message that arrives while
// the coalescer's transactions are all under way waits for one to end and
// goes in with every other message that arrived meanwhile, in one
// transaction, as IngestBatch decides them (in arrival order, each
// deduplicated on its key). Each caller gets its answer only after that
// commit. Nothing waits on purpose: alone, a message is a transaction of
// its own at once; under load, one commit (its WAL flush, the ticket
// counter's lock, the River insert) serves many. A batch that fails is
// ingested again one message at a time, so one bad message fails only
// itself.
type Coalescer struct {
	ing      batchIngester
	maxBatch int
	slots    chan struct{} // one per transaction under way
	log      *slog.Logger

	mu    sync.Mutex
	queue []*waiter
}

type waiter struct {
	ctx  context.Context
	in   message.Inbound
	done chan waitResult // buffered: the drainer never blocks on a caller gone
}

type waitResult struct {
	out message.Outcome
	err error
}

// NewCoalescer groups the messages given to Ingest into batches of at most
// maxBatch, with at most parallel transactions at once (1 on SQLite, whose
// writes are serialized anyway).
func NewCoalescer(ing batchIngester, maxBatch, parallel int, log *slog.Logger) *Coalescer {
	return &Coalescer{ing: ing, maxBatch: max(1, maxBatch), slots: make(chan struct{}, max(1, parallel)), log: log}
}

// Ingest satisfies the connectors' Ingester: it returns once in is
// committed (or found a duplicate), or with ctx's error if ctx ends first
// — the message may still commit afterwards, which a later delivery of it
// finds as a duplicate.
func (c *Coalescer) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	w := &waiter{ctx: ctx, in: in, done: make(chan waitResult, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.slots <- struct{}{}:
		go c.drain()
	default:
		// Every transaction slot busy: a drainer takes the queue when its
		// transaction ends (it releases its slot only once the queue is
		// empty, under the same lock the append took).
	}
	select {
	case r := <-w.done:
		return r.out, r.err
	case <-ctx.Done():
		return message.Outcome{}, fmt.Errorf("ingest %s message %q: %w", in.Channel, in.ExternalID, ctx.Err())
	}
}

// drain ingests batches from the queue until it is empty, then frees its
// slot.
func (c *Coalescer) drain() {
	for {
		c.mu.Lock()
		var batch []*waiter
		for len(c.queue) > 0 && len(batch) < c.maxBatch {
			w := c.queue[0]
			c.queue[0] = nil
			c.queue = c.queue[1:]
			if w.ctx.Err() != nil {
				// Its caller has answered already (spooled it, or failed).
				continue
			}
			batch = append(batch, w)
		}
		if len(batch) == 0 {
			c.queue = nil
			<-c.slots
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.run(batch)
	}
}

func (c *Coalescer) run(batch []*waiter) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	ins := make([]message.Inbound, len(batch))
	for i, w := range batch {
		ins[i] = w.in
	}
	rs, err := c.ing.IngestBatch(ctx, ins, nil)
	if err != nil && len(batch) > 1 {
		// One message may have failed them all: each alone, so that only
		// it fails.
		c.log.Warn("webhook batch not stored; ingesting its messages one at a time", "messages", len(batch), "err", err)
		for _, w := range batch {
			if w.ctx.Err() == nil {
				c.run([]*waiter{w})
			}
		}
		return
	}
	for i, w := range batch {
		if err != nil {
			w.done <- waitResult{err: err}
		} else {
			w.done <- waitResult{out: rs[i].Outcome}
		}
	}
}

// batchContext outlives every caller's cancellation (a commit under way
// finishes, so that a retried delivery finds it) but not the latest of
// their deadlines.
func batchContext(batch []*waiter) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, w := range batch {
		dl, ok := w.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.WithoutCancel(w.ctx))
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].ctx), latest)
}
