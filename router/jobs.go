package router

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// SendArgs is the job that sends one outbound message.
type SendArgs struct {
	OutboundID int64 `json:"outbound_id"`
	// ChannelID is the outbound's channel, so that the binary can route
	// the job to the replica that drives the channel (a WhatsApp linked
	// device sends only through its one connection). The worker reads the
	// channel from the outbound row; 0 (older jobs) works anywhere.
	ChannelID int64 `json:"channel_id,omitempty"`
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

// MediaFetcher downloads a message's attachment with the channel's
// credentials (Twilio: its URL; WhatsApp: its descriptor).
type MediaFetcher interface {
	// OpenMedia starts the download of a: the content, to be read as a
	// stream and closed, and its type ("" when unknown). Errors wrapped
	// with channels.Permanent will not succeed on retry.
	OpenMedia(ctx context.Context, a message.Attachment) (body io.ReadCloser, contentType string, err error)
	// MaxMediaBytes is the most content the channel keeps of one attachment.
	MaxMediaBytes() int64
}

// Fetchers finds the media fetcher of a channel.
type Fetchers interface {
	Fetcher(channelID int64) (MediaFetcher, bool)
}

// SendWorker sends queued outbound messages. The store's claim makes a job
// that finds its message already sent a no-op, so a retried or rescued job
// never sends a reply twice; a send interrupted by a crash is retried with
// the same Message-ID (email) or provider idempotency id (WhatsApp).
//
// Workers that start or end together share their claims and their
// outcomes' writes: group commit, one statement and one commit for the
// batch where each had its own.
type SendWorker struct {
	river.WorkerDefaults[SendArgs]
	Store   *store.Store
	Senders Senders
	// SendTimeout bounds one attempt (default one minute).
	SendTimeout time.Duration
	Log         *slog.Logger

	once   sync.Once
	claims *group[int64, store.Claim]
	marks  *group[store.OutboundMark, error]
}

// sendBatch is the most claims or outcomes written at once.
const sendBatch = 64

// groups makes the worker's claim and outcome groups on its first job.
func (w *SendWorker) groups() {
	w.once.Do(func() {
		// SQLite serializes its writers: a second batch under way would
		// only wait for the first.
		parallel := 2
		if w.Store.Dialect() == store.SQLite {
			parallel = 1
		}
		w.claims = newGroup("send claims", w.Store.ClaimOutbounds, sendBatch, parallel, w.log())
		w.marks = newGroup("send outcomes", w.Store.MarkOutbounds, sendBatch, parallel, w.log())
	})
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
	w.groups()
	c, err := w.claims.submit(ctx, job.Args.OutboundID)
	if err == nil {
		err = c.Err
	}
	if errors.Is(err, store.ErrNotFound) {
		return river.JobCancel(fmt.Errorf("outbound %d does not exist", job.Args.OutboundID))
	}
	if err != nil {
		return fmt.Errorf("claim outbound %d: %w", job.Args.OutboundID, err)
	}
	o := c.Outbound
	if !c.Claimed {
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

// outcomeTimeout bounds one write of a send's outcome; outcomeRetryFor is
// how long that write is tried again while the store does not take it.
const (
	outcomeTimeout  = 10 * time.Second
	outcomeRetryFor = 2 * time.Minute
)

// record writes what a send came to, in one statement with the outcomes
// of the sends that ended meanwhile (w.marks); River then completes the
// job with the other jobs finished meanwhile, in one statement for them
// all (its batch completer). A job whose completion a
// crash cut short is rescued and run again, and its claim finds the
// reply sent: a no-op. It does not share the job's context:
// a hard stop or the job timeout may end that just as the channel answers,
// and an outcome left unwritten keeps the message "sending", to be sent
// again by a later attempt. A write the store refuses (the database is
// down or restarting) is tried again for outcomeRetryFor: after a send
// that succeeded the job completes, so nothing else would ever mark it.
func (w *SendWorker) record(ctx context.Context, id int64, state message.DeliveryState, providerID, errText string) error {
	ctx = context.WithoutCancel(ctx)
	deadline := time.Now().Add(outcomeRetryFor)
	wait := 100 * time.Millisecond
	for {
		actx, cancel := context.WithTimeout(ctx, outcomeTimeout)
		err, berr := w.marks.submit(actx, store.OutboundMark{ID: id, State: state, ProviderID: providerID, Error: errText})
		cancel()
		if berr != nil {
			err = berr
		}
		if err == nil || errors.Is(err, store.ErrNotFound) || time.Now().Add(wait).After(deadline) {
			return err
		}
		w.log().WarnContext(ctx, "cannot record a send's outcome yet; retrying", "outbound", id, "state", state, "err", err, "retry_in", wait)
		time.Sleep(wait)
		wait = min(2*wait, 5*time.Second)
	}
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

// MediaWorker fetches attachments the channels could only describe (a
// Twilio media URL, a WhatsApp media descriptor) into the blob store,
// outside the webhook or event handler that received the message. Content
// streams to the blob store under the channel's size limit, so memory stays
// flat whatever the sender claims; an attachment that cannot be had (too
// large, gone, or still failing at the last attempt) is kept without
// content, with the reason.
type MediaWorker struct {
	river.WorkerDefaults[FetchMediaArgs]
	Store    *store.Store
	Fetchers Fetchers
	// FetchTimeout bounds one attempt at a message's media (default five
	// minutes: a large video over a slow link).
	FetchTimeout time.Duration
	Log          *slog.Logger
}

// Timeout bounds one attempt.
func (w *MediaWorker) Timeout(*river.Job[FetchMediaArgs]) time.Duration {
	if w.FetchTimeout <= 0 {
		return 5 * time.Minute
	}
	return w.FetchTimeout
}

// Work fetches every attachment of the message still pending. A retryable
// failure returns an error, so River tries again later; the attachments
// already settled are not fetched again.
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
		err := fmt.Errorf("channel %d cannot fetch media (disabled or removed?)", job.Args.ChannelID)
		for _, a := range atts {
			if merr := w.missing(ctx, a, err.Error()); merr != nil {
				return merr
			}
		}
		return river.JobCancel(err)
	}
	var retry error
	for _, a := range atts {
		err := w.fetch(ctx, f, a)
		switch {
		case err == nil:
		case channels.IsPermanent(err):
			err = w.missing(ctx, a, reason(err))
		case job.Attempt >= job.MaxAttempts:
			err = w.missing(ctx, a, fmt.Sprintf("gave up after %d attempts: %v", job.Attempt, err))
		}
		if err != nil {
			retry = errors.Join(retry, fmt.Errorf("attachment %d: %w", a.ID, err))
		}
	}
	return retry
}

// fetch downloads one attachment into the blob store and records it.
func (w *MediaWorker) fetch(ctx context.Context, f MediaFetcher, a store.Attachment) error {
	limit := f.MaxMediaBytes()
	if a.Size > limit {
		// The channel's own figure, before any download.
		return channels.Permanent(tooLarge(limit))
	}
	body, ctype, err := f.OpenMedia(ctx, message.Attachment{
		Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, URL: a.URL, Descriptor: a.Descriptor,
	})
	if err != nil {
		return err
	}
	defer body.Close()
	sha, size, err := w.Store.PutBlobFrom(ctx, body, limit)
	if errors.Is(err, store.ErrTooLarge) {
		// The declared size was wrong: cut off at the limit.
		return channels.Permanent(tooLarge(limit))
	}
	if err != nil {
		return fmt.Errorf("download into the blob store: %w", err)
	}
	if ctype == "" {
		ctype = a.ContentType
	}
	if err := w.Store.SetAttachmentContent(ctx, a.ID, sha, size, ctype); err != nil {
		return fmt.Errorf("record attachment %d: %w", a.ID, err)
	}
	return nil
}

// reason is a permanent error as staff read it, without the marker.
func reason(err error) string {
	var p *channels.PermanentError
	if errors.As(err, &p) && err == error(p) {
		return p.Err.Error()
	}
	return err.Error()
}

func tooLarge(limit int64) error {
	return fmt.Errorf("larger than the %d-byte limit", limit)
}

// missing keeps a without content, with the reason. Failing that, the job
// must run again.
func (w *MediaWorker) missing(ctx context.Context, a store.Attachment, reason string) error {
	const maxReason = 500
	if len(reason) > maxReason {
		reason = strings.ToValidUTF8(reason[:maxReason], "") + "…"
	}
	if err := w.Store.SetAttachmentMissing(ctx, a.ID, reason); err != nil {
		return fmt.Errorf("record why it is missing (%s): %w", reason, err)
	}
	w.log().WarnContext(ctx, "attachment kept without content", "attachment", a.ID, "message", a.MessageID, "filename", a.Filename, "reason", reason)
	return nil
}

func (w *MediaWorker) log() *slog.Logger {
	if w.Log == nil {
		return slog.Default()
	}
	return w.Log
}
