package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

// stubFetcher stands in for a channel's media download (WhatsApp's servers
// and Twilio cannot be reached from here): it serves size bytes, or fails.
type stubFetcher struct {
	limit int64
	size  int64
	ctype string
	err   error

	mu     sync.Mutex
	opened []message.Attachment
	read   int64 // bytes the worker took from the body
}

func (f *stubFetcher) MaxMediaBytes() int64 { return f.limit }

func (f *stubFetcher) OpenMedia(ctx context.Context, a message.Attachment) (io.ReadCloser, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.opened = append(f.opened, a)
	if f.err != nil {
		return nil, "", f.err
	}
	return io.NopCloser(&countReader{f: f, r: io.LimitReader(&pattern{}, f.size)}), f.ctype, nil
}

func (f *stubFetcher) stats() (opened int, read int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.opened), f.read
}

type countReader struct {
	f *stubFetcher
	r io.Reader
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.f.mu.Lock()
	c.f.read += int64(n)
	c.f.mu.Unlock()
	return n, err
}

// pattern is an endless, repeating byte stream.
type pattern struct{ n int }

func (s *pattern) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(s.n % 251)
		s.n++
	}
	return len(p), nil
}

type oneFetcher struct{ f MediaFetcher }

func (o oneFetcher) Fetcher(int64) (MediaFetcher, bool) { return o.f, o.f != nil }

// TestMediaWorker ingests a WhatsApp image whose content the channel could
// only describe, then works its fetch job against downloads of every kind,
// on both stores. Content streams into the blob store under the channel's
// limit: a body larger than its declared size is cut off at the limit and
// the attachment kept without content, with the reason.
func TestMediaWorker(t *testing.T) {
	const limit = 1 << 20
	descriptor := []byte(`{"direct_path":"/v/t62.7118-24/x","media_key":"a2V5"}`)
	tests := []struct {
		name     string
		declared int64 // the attachment's size as the channel announced it
		fetcher  func() *stubFetcher
		attempt  int // of 8
		retry    bool
		content  int64  // bytes stored; 0: none
		reason   string // why there is no content; "" while it may still come
		maxRead  int64  // the most the worker may read of the body
		ctype    string
	}{
		{
			name: "fits", declared: 69, fetcher: func() *stubFetcher { return &stubFetcher{limit: limit, size: 4096, ctype: "image/png"} }, attempt: 1,
			content: 4096, maxRead: 4096, ctype: "image/png",
		},
		{
			name: "declared small, body over the limit", declared: 69, fetcher: func() *stubFetcher { return &stubFetcher{limit: limit, size: 1 << 30} }, attempt: 1,
			reason: "larger than the 1048576-byte limit", maxRead: limit + 1, ctype: "image/jpeg",
		},
		{
			name: "declared over the limit: not downloaded", declared: limit + 1, fetcher: func() *stubFetcher { return &stubFetcher{limit: limit, size: 10} }, attempt: 1,
			reason: "larger than the 1048576-byte limit", ctype: "image/jpeg",
		},
		{
			name: "gone at the provider", declared: 69, fetcher: func() *stubFetcher {
				return &stubFetcher{limit: limit, err: channels.Permanent(errors.New("media download: HTTP 404"))}
			}, attempt: 1,
			reason: "media download: HTTP 404", ctype: "image/jpeg",
		},
		{
			name: "not connected: retried", declared: 69, fetcher: func() *stubFetcher { return &stubFetcher{limit: limit, err: errors.New("whatsapp: not connected")} }, attempt: 3,
			retry: true, ctype: "image/jpeg",
		},
		{
			name: "still failing at the last attempt", declared: 69, fetcher: func() *stubFetcher { return &stubFetcher{limit: limit, err: errors.New("whatsapp: not connected")} }, attempt: 8,
			reason: "gave up after 8 attempts: whatsapp: not connected", ctype: "image/jpeg",
		},
	}
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					e := newEnv(t, dsn(t))
					ctx := context.Background()
					in := e.phone(message.WhatsApp, "3EB0MEDIA"+fmt.Sprint(len(tt.name)), "+966501234567", "صورة العطل")
					in.Attachments = []message.Attachment{{Filename: "whatsapp-image.jpg", ContentType: "image/jpeg", Size: tt.declared, Descriptor: descriptor}}
					r := e.process(t, in)
					if n := e.count(t, `SELECT COUNT(*) FROM river_job WHERE kind = 'fetch_media'`); n != 1 {
						t.Fatalf("fetch jobs = %d, want the one the ingest enqueued", n)
					}

					f := tt.fetcher()
					w := &MediaWorker{Store: e.st, Fetchers: oneFetcher{f}, Log: quiet}
					job := &river.Job[FetchMediaArgs]{
						JobRow: &rivertype.JobRow{Attempt: tt.attempt, MaxAttempts: FetchMediaArgs{}.InsertOpts().MaxAttempts},
						Args:   FetchMediaArgs{MessageID: r.MessageID, ChannelID: e.wa},
					}
					err := w.Work(ctx, job)
					if (err != nil) != tt.retry {
						t.Fatalf("Work = %v, want retry %v", err, tt.retry)
					}
					opened, read := f.stats()
					if read > tt.maxRead {
						t.Errorf("worker read %d bytes of the body, want at most %d", read, tt.maxRead)
					}
					if opened > 0 && !bytes.Equal(f.opened[0].Descriptor, descriptor) {
						t.Errorf("fetcher got descriptor %q, want the channel's", f.opened[0].Descriptor)
					}

					m, err := e.st.Message(ctx, r.MessageID)
					if err != nil {
						t.Fatal(err)
					}
					if len(m.Attachments) != 1 {
						t.Fatalf("attachments = %+v, want the one", m.Attachments)
					}
					a := m.Attachments[0]
					if a.MissingReason != tt.reason || a.ContentType != tt.ctype || a.Filename != "whatsapp-image.jpg" {
						t.Errorf("attachment = %+v, want reason %q, type %s", a, tt.reason, tt.ctype)
					}
					if tt.content == 0 {
						if a.SHA256 != "" {
							t.Errorf("attachment has content %s, want none", a.SHA256)
						}
					} else {
						blob, err := e.st.OpenBlob(context.Background(), a.SHA256)
						if err != nil {
							t.Fatal(err)
						}
						got, _ := io.ReadAll(blob)
						blob.Close()
						want, _ := io.ReadAll(io.LimitReader(&pattern{}, tt.content))
						if a.Size != tt.content || !bytes.Equal(got, want) {
							t.Errorf("stored %d bytes (size %d), want the %d served", len(got), a.Size, tt.content)
						}
					}
					pending, err := e.st.PendingAttachments(ctx, r.MessageID)
					if err != nil || (len(pending) == 1) != tt.retry {
						t.Errorf("pending after the attempt: %d (%v), want pending only when retried", len(pending), err)
					}
					if !tt.retry {
						// Settled: running the job again changes nothing.
						if err := w.Work(ctx, job); err != nil {
							t.Errorf("second Work: %v", err)
						}
						if again, _ := f.stats(); again != opened {
							t.Errorf("second Work opened the media again")
						}
					}
					if strings.Contains(a.MissingReason, "media_key") || strings.Contains(a.MissingReason, "direct_path") {
						t.Errorf("reason leaks the descriptor: %q", a.MissingReason)
					}
				})
			}
		})
	}
}
