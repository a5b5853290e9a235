package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
	*group[message.Inbound, message.Outcome]
}

// NewCoalescer groups the messages given to Ingest into batches of at most
// maxBatch, with at most parallel transactions at once (1 on SQLite, whose
// writes are serialized anyway).
func NewCoalescer(ing batchIngester, maxBatch, parallel int, log *slog.Logger) *Coalescer {
	do := func(ctx context.Context, ins []message.Inbound) ([]message.Outcome, error) {
		rs, err := ing.IngestBatch(ctx, ins, nil)
		if err != nil {
			return nil, err
		}
		outs := make([]message.Outcome, len(rs))
		for i, r := range rs {
			outs[i] = r.Outcome
		}
		return outs, nil
	}
	return &Coalescer{newGroup("webhook messages", do, maxBatch, parallel, log)}
}

// Ingest satisfies the connectors' Ingester: it returns once in is
// committed (or found a duplicate), or with ctx's error if ctx ends first
// — the message may still commit afterwards, which a later delivery of it
// finds as a duplicate.
func (c *Coalescer) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	out, err := c.submit(ctx, in)
	if cerr := ctx.Err(); err != nil && cerr != nil && errors.Is(err, cerr) {
		return out, fmt.Errorf("ingest %s message %q: %w", in.Channel, in.ExternalID, err)
	}
	return out, err
}
