package router

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// gatedIngester is the real pipeline whose first batch waits for gate,
// so that what queues meanwhile is sure to go in the batches after it; it
// records each batch's size.
type gatedIngester struct {
	p    *Pipeline
	gate func(first int) error // first: the size of the first batch

	mu    sync.Mutex
	sizes []int
}

func (g *gatedIngester) IngestBatch(ctx context.Context, ins []message.Inbound, after func(context.Context, *store.Tx) error) ([]Result, error) {
	g.mu.Lock()
	first := len(g.sizes) == 0
	g.sizes = append(g.sizes, len(ins))
	g.mu.Unlock()
	if first {
		if err := g.gate(len(ins)); err != nil {
			return nil, err
		}
	}
	return g.p.IngestBatch(ctx, ins, after)
}

func (g *gatedIngester) batches() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]int(nil), g.sizes...)
}

// queued waits until c holds at least n messages in its queue.
func queued(c *Coalescer, n int) error {
	for deadline := time.Now().Add(time.Minute); ; {
		c.mu.Lock()
		got := len(c.queue)
		c.mu.Unlock()
		if got >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d queued after a minute, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

type ingested struct {
	out message.Outcome
	err error
}

// ingestAll gives every message to c at once and returns each answer.
func ingestAll(ctx context.Context, c *Coalescer, ins []message.Inbound) []ingested {
	res := make([]ingested, len(ins))
	var wg sync.WaitGroup
	for i, in := range ins {
		wg.Go(func() {
			out, err := c.Ingest(ctx, in)
			res[i] = ingested{out, err}
		})
	}
	wg.Wait()
	return res
}

// Webhooks that arrive while a transaction is under way go in together,
// each answered after that commit; every message is kept once, each second
// delivery of one is its duplicate, and the tickets they open are numbered
// without a gap, one per conversation.
func TestCoalescer(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			const senders, each = 12, 2
			var ins []message.Inbound
			for s := range senders {
				for m := range each {
					in := e.phone(message.SMS, fmt.Sprintf("SM%02d%d", s, m), fmt.Sprintf("+96650000%04d", s), "projector broken")
					ins = append(ins, in, in) // every message delivered twice
				}
			}
			g := &gatedIngester{p: e.p}
			c := NewCoalescer(g, 64, 1, quiet)
			g.gate = func(first int) error { return queued(c, len(ins)-first) }
			res := ingestAll(context.Background(), c, ins)

			ids := map[string]int64{}
			for i, r := range res {
				if r.err != nil {
					t.Fatalf("message %d (%s): %v", i, ins[i].ExternalID, r.err)
				}
				if r.out.MessageID == 0 {
					t.Fatalf("message %d (%s): no message id", i, ins[i].ExternalID)
				}
				if id, ok := ids[ins[i].ExternalID]; ok && id != r.out.MessageID {
					t.Errorf("%s stored as %d and %d", ins[i].ExternalID, id, r.out.MessageID)
				}
				ids[ins[i].ExternalID] = r.out.MessageID
			}
			fresh := map[string]int{}
			for i, r := range res {
				if !r.out.Duplicate {
					fresh[ins[i].ExternalID]++
				}
			}
			for sid := range ids {
				if fresh[sid] != 1 {
					t.Errorf("%s: %d deliveries not duplicates, want 1", sid, fresh[sid])
				}
			}
			if n := e.count(t, `SELECT count(*) FROM messages`); n != senders*each {
				t.Errorf("%d messages stored, want %d", n, senders*each)
			}
			// One ticket per sender (the second message joins it), numbered
			// 1..senders.
			if n := e.count(t, `SELECT count(*) FROM tickets`); n != senders {
				t.Errorf("%d tickets, want %d", n, senders)
			}
			if n := e.count(t, `SELECT max(number) FROM tickets`); n != senders {
				t.Errorf("highest ticket number %d, want %d (no gaps)", n, senders)
			}
			// The acknowledgement of each ticket; the second message joins
			// it within the reply window, unanswered.
			if n := e.count(t, `SELECT count(*) FROM outbound_messages`); n != senders {
				t.Errorf("%d automatic replies, want one per sender (%d)", n, senders)
			}
			sizes := g.batches()
			total := 0
			for _, n := range sizes {
				total += n
			}
			if len(sizes) > 2 || total != len(ins) || max(sizes[0], sizes[len(sizes)-1]) < len(ins)/2 {
				t.Errorf("batches %v, want what came first, then all the rest together", sizes)
			}
		})
	}
}

// A batch is cut at maxBatch; a message the pipeline refuses fails only
// itself (its batch is ingested again one at a time); a caller that gives
// up while queued gets its context's error and its message is left out.
func TestCoalescerFailures(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			var ins []message.Inbound
			for i := range 9 {
				ins = append(ins, e.phone(message.SMS, fmt.Sprintf("SMok%d", i), fmt.Sprintf("+9665100%05d", i), "how do I get clearance"))
			}
			ins[5].ExternalID = "" // refused: nothing to key it by
			g := &gatedIngester{p: e.p}
			c := NewCoalescer(g, 4, 1, quiet)
			gone, cancel := context.WithCancel(context.Background())
			goneDone := make(chan error, 1)
			var goneErr error
			firstBatch := make(chan int, 1)
			g.gate = func(first int) error {
				// The others and the one to abandon are queued behind the
				// first; the latter's caller gives up before the gate opens.
				firstBatch <- first
				if err := queued(c, len(ins)-first+1); err != nil {
					return err
				}
				cancel()
				goneErr = <-goneDone
				return nil
			}
			go func() {
				if err := queued(c, len(ins)-<-firstBatch); err != nil {
					goneDone <- err
					return
				}
				_, err := c.Ingest(gone, e.phone(message.SMS, "SMgone", "+966520000000", "how do I get clearance"))
				goneDone <- err
			}()
			res := ingestAll(context.Background(), c, ins)
			if !errors.Is(goneErr, context.Canceled) {
				t.Errorf("abandoned caller: %v, want context.Canceled", goneErr)
			}
			for i, r := range res {
				switch {
				case i == 5 && r.err == nil:
					t.Errorf("the message without an id was accepted")
				case i != 5 && r.err != nil:
					t.Errorf("message %d failed with the bad one: %v", i, r.err)
				}
			}
			if n := e.count(t, `SELECT count(*) FROM messages`); n != len(ins)-1 {
				t.Errorf("%d messages stored, want %d (all but the refused one, not the abandoned one)", n, len(ins)-1)
			}
			for _, s := range g.batches() {
				if s > 4 {
					t.Errorf("a batch of %d, over the limit of 4", s)
				}
			}
		})
	}
}
