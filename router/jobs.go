package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// SendArgs is the job that sends one outbound message.
type SendArgs struct {
	OutboundID int64 `json:"outbound_id"`
}

// Kind names the job for River.
func (SendArgs) Kind() string { return "send_outbound" }

// InsertOpts keeps sends on their own queue with a bounded number of tries.
func (SendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueSend, MaxAttempts: 12}
}

// FetchMediaArgs is the job that downloads a message's remote attachments
// (Twilio media) into the blob store, outside the webhook.
type FetchMediaArgs struct {
	MessageID int64 `json:"message_id"`
	ChannelID int64 `json:"channel_id"`
}

// Kind names the job for River.
func (FetchMediaArgs) Kind() string { return "fetch_media" }

// InsertOpts puts media fetches on their own queue.
func (FetchMediaArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueMedia, MaxAttempts: 8}
}

// Queues.
const (
	QueueSend  = "send"
	QueueMedia = "media"
)

// Senders finds the sender of a channel.
type Senders interface {
	Sender(channelID int64) (channels.Sender, bool)
}

// MediaFetcher downloads a remote attachment with the channel's credentials.
type MediaFetcher interface {
	FetchMedia(ctx context.Context, url string) (data []byte, contentType string, err error)
}

// Fetchers finds the media fetcher of a channel.
type Fetchers interface {
	Fetcher(channelID int64) (MediaFetcher, bool)
}

// SendWorker sends queued outbound messages. The store's claim makes a job
// that finds its message already sent a no-op, so a retried or rescued job
// never sends a reply twice; a send interrupted by a crash is retried with
// the same Message-ID (email) or provider idempotency id (WhatsApp).
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Store   *store.Store
	Senders Senders
	// SendTimeout bounds one attempt (default one minute).
	SendTimeout time.Duration
	Log         *slog.Logger
}

// Timeout bounds one attempt.
func (w *SendWorker) Timeout(*river.Job[SendArgs]) time.Duration {
	if w.SendTimeout <= 0 {
		return time.Minute
	}
	return w.SendTimeout
}

// Work sends one message.
func (w *SendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	o, claimed, err := w.Store.ClaimOutbound(ctx, job.Args.OutboundID)
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("outbound %d does not exist", job.Args.OutboundID))
	}
	if err != nil {
		return fmt.Errorf("claim outbound %d: %w", job.Args.OutboundID, err)
	}
	if !claimed {
		return nil // already sent or finally failed
	}
	s, ok := w.Senders.Sender(o.ChannelID)
	if !ok {
		err := fmt.Errorf("no sender for channel %d (disabled or removed?)", o.ChannelID)
		w.fail(ctx, o.ID, job, err, false)
		return err
	}
	d, err := s.Send(ctx, o.Message())
	if err != nil {
		permanent := channels.IsPermanent(err)
		w.fail(ctx, o.ID, job, err, permanent)
		if permanent {
			return river.JobCancel(err)
		}
		return err
	}
	state := d.State
	if state == "" || state == message.StateQueued || state == message.StateSending {
		state = message.StateSent
	}
	if err := w.record(ctx, o.ID, state, d.ProviderID, ""); err != nil {
		// The message left; failing the job would send it again. Log loudly.
		w.log().ErrorContext(ctx, "reply sent but its state could not be saved", "outbound", o.ID, "err", err)
	}
	return nil
}

// outcomeTimeout bounds the write of a send's outcome.
const outcomeTimeout = 10 * time.Second

// record writes what a send came to. It does not share the job's context:
// a hard stop or the job timeout may end that just as the channel answers,
// and an outcome left unwritten keeps the message "sending", to be sent
// again by a later attempt.
func (w *SendWorker) record(ctx context.Context, id int64, state message.DeliveryState, providerID, errText string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outcomeTimeout)
	defer cancel()
	return w.Store.MarkOutbound(ctx, id, state, providerID, errText)
}

// fail records the error on the message; permanent errors (and the last
// attempt) make it visibly failed, others leave it queued for the retry.
func (w *SendWorker) fail(ctx context.Context, id int64, job *river.Job[SendArgs], sendErr error, permanent bool) {
	state := message.StateQueued
	if permanent || job.Attempt >= job.MaxAttempts {
		state = message.StateFailed
	}
	if err := w.record(ctx, id, state, "", sendErr.Error()); err != nil {
		w.log().ErrorContext(ctx, "record send failure", "outbound", id, "err", err)
	}
	w.log().WarnContext(ctx, "send failed", "outbound", id, "attempt", job.Attempt, "permanent", permanent, "err", sendErr)
}

func (w *SendWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}

// MediaWorker fetches remote attachments into the blob store.
type MediaWorker struct {
	river.WorkerDefaults[FetchMediaArgs]
	Store    *store.Store
	Fetchers Fetchers
}

// Work fetches every attachment of the message still without content.
func (w *MediaWorker) Work(ctx context.Context, job *river.Job[FetchMediaArgs]) error {
	atts, err := w.Store.PendingAttachments(ctx, job.Args.MessageID)
	if err != nil {
		return fmt.Errorf("pending attachments of message %d: %w", job.Args.MessageID, err)
	}
	if len(atts) == 0 {
		return nil
	}
	f, ok := w.Fetchers.Fetcher(job.Args.ChannelID)
	if !ok {
		return river.JobCancel(fmt.Errorf("channel %d cannot fetch media", job.Args.ChannelID))
	}
	for _, a := range atts {
		data, ctype, err := f.FetchMedia(ctx, a.URL)
		if err != nil {
			if channels.IsPermanent(err) {
				return river.JobCancel(fmt.Errorf("attachment %d: %w", a.ID, err))
			}
			return fmt.Errorf("attachment %d: %w", a.ID, err)
		}
		sha, err := w.Store.PutBlob(ctx, data)
		if err != nil {
			return err
		}
		if ctype == "" {
			ctype = a.ContentType
		}
		if err := w.Store.SetAttachmentContent(ctx, a.ID, sha, int64(len(data)), ctype); err != nil {
			return err
		}
	}
	return nil
}
