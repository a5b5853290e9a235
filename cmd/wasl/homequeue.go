package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/router"
)

// Some channels can only be worked by the replica that drives them: a
// WhatsApp linked device sends and downloads media through its one
// connection, which only the holder of its lease has. Their jobs go to a
// River queue of their own (homeQueues, at insert), and only the lease
// holder works that queue (workingQueue, under the supervisor), so a reply
// waits for the replica that can send it instead of failing on the others
// and backing off. Other channels' jobs (SMTP, Twilio's REST API) run on
// any replica.

// channelQueue is the River queue of a channel's jobs.
func channelQueue(channelID int64) string { return fmt.Sprintf("channel_%d", channelID) }

// channelQueueWorkers is how many jobs of one such channel run at once.
const channelQueueWorkers = 2

// homeQueues is a River insert middleware: it puts the send and media jobs
// of the channels added to it on their channel's queue.
type homeQueues struct {
	river.MiddlewareDefaults

	mu       sync.RWMutex
	channels map[int64]bool
}

func newHomeQueues() *homeQueues { return &homeQueues{channels: map[int64]bool{}} }

// add routes channelID's jobs to its own queue from now on.
func (h *homeQueues) add(channelID int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.channels[channelID] = true
}

func (h *homeQueues) queueOf(args rivertype.JobArgs) (string, bool) {
	var id int64
	switch a := args.(type) {
	case router.SendArgs:
		id = a.ChannelID
	case router.FetchMediaArgs:
		id = a.ChannelID
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	if id == 0 || !h.channels[id] {
		return "", false
	}
	return channelQueue(id), true
}

// InsertMany implements rivertype.JobInsertMiddleware.
func (h *homeQueues) InsertMany(ctx context.Context, many []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	for _, p := range many {
		if q, ok := h.queueOf(p.Args); ok {
			p.Queue = q
		}
	}
	return doInner(ctx)
}

// queues is what workingQueue needs of River's client (Client.Queues()).
type queues interface {
	Add(name string, cfg river.QueueConfig) error
	Remove(ctx context.Context, name string) error
}

// queueDrainTimeout bounds the wait for a channel queue's running jobs
// when its replica lets the channel go.
const queueDrainTimeout = 30 * time.Second

// workingQueue runs a connector and, while it runs, works its channel's
// queue on this replica. Under the supervisor that is exactly while this
// replica holds the channel's lease.
type workingQueue struct {
	r      runner
	queues queues
	queue  string
	log    *slog.Logger
}

func (w workingQueue) Run(ctx context.Context) error {
	var already *river.QueueAlreadyAddedError
	if err := w.queues.Add(w.queue, river.QueueConfig{MaxWorkers: channelQueueWorkers}); err != nil && !errors.As(err, &already) {
		return fmt.Errorf("work queue %s: %w", w.queue, err)
	}
	defer func() {
		// Stop taking the channel's jobs; those running finish (a send
		// whose connection is gone fails and is retried by the next holder).
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), queueDrainTimeout)
		defer cancel()
		if err := w.queues.Remove(rctx, w.queue); err != nil {
			w.log.Warn("stop working the channel's queue", "queue", w.queue, "err", err)
		}
	}()
	return w.r.Run(ctx)
}
