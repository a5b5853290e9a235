package whatsapp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/message"
)

func TestHandleMessage(t *testing.T) {
	pixel, err := os.ReadFile("testdata/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		evt         func(t *testing.T) *events.Message
		setup       func(f *fakeClient)
		ingested    bool
		text        string // substring of the ingested text
		from        string
		descriptor  bool // an attachment listed with a descriptor, no content
		downloads   int
		quarantined bool
	}{
		{
			name:     "text",
			evt:      func(t *testing.T) *events.Message { return dm(t, "conversation_ar.json") },
			ingested: true, text: "جهاز عرض", from: "+966501234567",
		},
		{
			name:     "image listed with its descriptor, not downloaded by the handler",
			evt:      func(t *testing.T) *events.Message { return dm(t, "image_caption.json") },
			setup:    func(f *fakeClient) { f.media = pixel },
			ingested: true, text: "صورة العطل", from: "+966501234567", descriptor: true, downloads: 0,
		},
		{
			name:     "media over the limit listed all the same",
			evt:      func(t *testing.T) *events.Message { return dm(t, "image_large.json") },
			setup:    func(f *fakeClient) { f.media = pixel },
			ingested: true, text: "big photo", from: "+966501234567", descriptor: true, downloads: 0,
		},
		{
			name: "LID sender resolved from whatsmeow's LID map",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Sender, e.Info.Chat = customerLID, customerLID
				return e
			},
			setup: func(f *fakeClient) {
				f.lids = map[types.JID]types.JID{customerLID: types.NewJID("966509876543", types.DefaultUserServer)}
			},
			ingested: true, text: "السلام", from: "+966509876543",
		},
		{
			name: "unknown LID sender ingested as quarantined",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Sender, e.Info.Chat = customerLID, customerLID
				return e
			},
			ingested: true, text: "السلام", from: "", quarantined: true,
		},
		{
			name: "group chat not ingested",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Chat = groupChat
				return e
			},
			ingested: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClient(true)
			if tt.setup != nil {
				tt.setup(f)
			}
			h := newHarness(t, f)
			cli, err := h.ch.loadClient(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h.ch.cli = cli

			if acked := f.emit(tt.evt(t)); !acked {
				t.Fatal("handler failed: message would not be acknowledged")
			}
			_, got := h.sink.snapshot()
			if !tt.ingested {
				if len(got) != 0 {
					t.Fatalf("ingested %+v, want nothing", got)
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("ingested %d messages, want 1", len(got))
			}
			in := got[0]
			if !strings.Contains(in.Text, tt.text) {
				t.Errorf("Text = %q, want it to contain %q", in.Text, tt.text)
			}
			if in.From.Value != tt.from {
				t.Errorf("From = %q, want %q", in.From.Value, tt.from)
			}
			if in.Quarantined != tt.quarantined {
				t.Errorf("Quarantined = %v (%s), want %v", in.Quarantined, in.QuarantineReason, tt.quarantined)
			}
			if !in.ReceivedAt.Equal(sentAt) {
				t.Errorf("ReceivedAt = %v, want the message's own timestamp %v", in.ReceivedAt, sentAt)
			}
			if f.downloads != tt.downloads {
				t.Errorf("downloads = %d, want %d", f.downloads, tt.downloads)
			}
			switch {
			case tt.descriptor && len(in.Attachments) != 1:
				t.Errorf("attachments = %+v, want one", in.Attachments)
			case tt.descriptor:
				if a := in.Attachments[0]; a.Content != nil || len(a.Descriptor) == 0 {
					t.Errorf("attachment with %d bytes of content and descriptor %q; want no content, a descriptor", len(a.Content), a.Descriptor)
				}
			case len(in.Attachments) != 0:
				t.Errorf("attachments = %+v, want none", in.Attachments)
			}
		})
	}
}

// The event handler stores a media message at once and returns: the
// download happens later, when the media job calls OpenMedia with the
// attachment as stored.
func TestMediaDownloadAfterTheHandler(t *testing.T) {
	pixel, err := os.ReadFile("testdata/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	f := online()
	f.media = pixel
	h := newHarness(t, f)
	cli, err := h.ch.loadClient(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h.ch.cli = cli

	if !f.emit(dm(t, "image_caption.json")) {
		t.Fatal("media message not acknowledged")
	}
	// The handler has returned: nothing was downloaded, the message is in.
	if n, _, _ := f.downloadStats(); n != 0 {
		t.Fatalf("%d downloads during the event handler, want none", n)
	}
	_, got := h.sink.snapshot()
	if len(got) != 1 || len(got[0].Attachments) != 1 {
		t.Fatalf("ingested %+v, want the message with its attachment", got)
	}
	att := got[0].Attachments[0]

	body, ctype, err := h.ch.OpenMedia(context.Background(), att)
	if err != nil {
		t.Fatalf("OpenMedia: %v", err)
	}
	data, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(data, pixel) || ctype != "image/png" {
		t.Errorf("media = %d bytes of %q (%v), want the %d-byte PNG", len(data), ctype, err, len(pixel))
	}
	if n, _, _ := f.downloadStats(); n != 1 || f.directPath != "/v/t62.7118-24/00000000_1_2_3.enc" || len(f.mediaKey) != 32 {
		t.Errorf("downloads = %d by path %q with a %d-byte key, want 1 by the message's own path and key", n, f.directPath, len(f.mediaKey))
	}
}

func TestOpenMedia(t *testing.T) {
	pixel, err := os.ReadFile("testdata/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	const limit = 1 << 20 // the harness's MaxMediaBytes
	tests := []struct {
		name      string
		fixture   string
		client    func() *fakeClient
		content   []byte // wanted; nil: an error
		permanent bool
		is        error
		downloads int
		maxWrite  int64 // the most the download may have written
	}{
		{
			name: "fits", fixture: "image_caption.json",
			client:  func() *fakeClient { f := online(); f.media = pixel; return f },
			content: pixel, downloads: 1, maxWrite: int64(len(pixel)),
		},
		{
			name: "declared 69 bytes, body over the limit: cut off while streaming", fixture: "image_caption.json",
			client:    func() *fakeClient { f := online(); f.media = make([]byte, 8<<20); return f },
			permanent: true, is: ErrMediaTooLarge, downloads: 1, maxWrite: limit + 16 + 10,
		},
		{
			name: "body just over the limit", fixture: "image_caption.json",
			client:    func() *fakeClient { f := online(); f.media = make([]byte, limit+1); return f },
			permanent: true, is: ErrMediaTooLarge, downloads: 1, maxWrite: limit + 1,
		},
		{
			name: "declared over the limit: not downloaded", fixture: "image_large.json",
			client:    func() *fakeClient { f := online(); f.media = pixel; return f },
			permanent: true, is: ErrMediaTooLarge, downloads: 0,
		},
		{
			name: "gone from WhatsApp's servers", fixture: "image_caption.json",
			client:    func() *fakeClient { f := online(); f.downloadErr = whatsmeow.ErrMediaDownloadFailedWith404; return f },
			permanent: true, downloads: 1,
		},
		{
			name: "network error, URL not repeated", fixture: "image_caption.json",
			client: func() *fakeClient {
				f := online()
				f.downloadErr = &url.Error{Op: "Get", URL: "https://mmg.whatsapp.net/v/t62.7118-24/00000000_1_2_3.enc?hash=secret", Err: errors.New("connection reset by peer")}
				return f
			},
			downloads: 1,
		},
		{
			name: "not connected", fixture: "image_caption.json",
			client: func() *fakeClient { f := newFakeClient(true); f.media = pixel; return f },
			is:     ErrNotConnected,
		},
		{
			name: "no media key", fixture: "document_ar.json",
			client:    func() *fakeClient { f := online(); f.media = pixel; return f },
			permanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.client()
			h := newHarness(t)
			h.ch.cli = f
			in, _, err := Translate(dm(t, tt.fixture), h.ch.cfg)
			if err != nil || len(in.Attachments) != 1 {
				t.Fatalf("Translate: %+v, %v", in.Attachments, err)
			}
			body, _, err := h.ch.OpenMedia(context.Background(), in.Attachments[0])
			downloads, written, _ := f.downloadStats()
			if downloads != tt.downloads {
				t.Errorf("downloads = %d, want %d", downloads, tt.downloads)
			}
			if written > tt.maxWrite {
				t.Errorf("the download wrote %d bytes, want at most %d", written, tt.maxWrite)
			}
			if tt.content != nil {
				if err != nil {
					t.Fatalf("OpenMedia: %v", err)
				}
				data, _ := io.ReadAll(body)
				body.Close()
				if !bytes.Equal(data, tt.content) {
					t.Errorf("content = %d bytes, want %d", len(data), len(tt.content))
				}
				return
			}
			if err == nil {
				body.Close()
				t.Fatal("OpenMedia succeeded, want an error")
			}
			if channels.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", channels.IsPermanent(err), tt.permanent, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			for _, secret := range []string{"mmg.whatsapp.net", "hash=", "00000000_1_2_3", "AAECAwQF"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the media's address or key (%s)", err, secret)
				}
			}
		})
	}
}

func TestIngestRetry(t *testing.T) {
	tests := []struct {
		name      string
		failures  int
		acked     bool
		calls     int
		ingested  int
		redeliver bool
	}{
		{name: "first attempt", failures: 0, acked: true, calls: 1, ingested: 1},
		{name: "succeeds on the third attempt", failures: 2, acked: true, calls: 3, ingested: 1},
		{name: "store stays down: left unacknowledged", failures: -1, acked: false, calls: ingestAttempts, ingested: 0, redeliver: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClient(true)
			h := newHarness(t, f)
			h.sink.failures = tt.failures
			cli, err := h.ch.loadClient(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h.ch.cli = cli

			acked := f.emit(dm(t, "conversation_ar.json"))
			calls, got := h.sink.snapshot()
			if acked != tt.acked || calls != tt.calls || len(got) != tt.ingested {
				t.Fatalf("acked %v after %d calls, %d ingested; want %v, %d, %d", acked, calls, len(got), tt.acked, tt.calls, tt.ingested)
			}
			h.ch.mu.Lock()
			redeliver := h.ch.redeliver
			h.ch.mu.Unlock()
			if redeliver != tt.redeliver {
				t.Errorf("redeliver = %v, want %v", redeliver, tt.redeliver)
			}
		})
	}
}

// Failures of one message are counted across redeliveries: the fifth
// stores it quarantined with the error and acknowledges it, unless the
// quarantined ingest fails too (the store is down), which leaves it for
// WhatsApp to deliver again with its count started afresh.
func TestIngestFailuresQuarantine(t *testing.T) {
	type delivery struct {
		failures int  // the sink fails this many calls first; -1: all
		poison   bool // the sink fails the message unless quarantined
		acked    bool
		calls    int // Ingest calls during this delivery
	}
	tests := []struct {
		name        string
		deliveries  []delivery
		quarantined bool   // what was stored in the end
		reason      string // substring of the quarantine reason
	}{
		{
			name: "message that breaks the pipeline",
			deliveries: []delivery{
				{poison: true, acked: false, calls: ingestAttempts},
				{poison: true, acked: true, calls: maxIngestFailures - ingestAttempts + 1},
			},
			quarantined: true, reason: "could not be stored after 5 attempts: render reply: template breaks on this text",
		},
		{
			name: "store down, then back",
			deliveries: []delivery{
				{failures: -1, acked: false, calls: ingestAttempts},
				{failures: -1, acked: false, calls: maxIngestFailures - ingestAttempts + 1},
				{failures: 1, acked: true, calls: 2},
			},
			quarantined: false,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClient(true)
			h := newHarness(t, f)
			cli, err := h.ch.loadClient(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h.ch.cli = cli
			for i, d := range tt.deliveries {
				h.sink.set(d.failures, d.poison)
				acked := f.emit(dm(t, "conversation_ar.json"))
				calls, _ := h.sink.snapshot()
				if acked != d.acked || calls != d.calls {
					t.Fatalf("delivery %d: acked %v after %d ingest calls, want %v after %d", i+1, acked, calls, d.acked, d.calls)
				}
			}
			_, got := h.sink.snapshot()
			if len(got) != 1 {
				t.Fatalf("stored %d messages, want 1", len(got))
			}
			in := got[0]
			if in.Quarantined != tt.quarantined || !strings.Contains(in.QuarantineReason, tt.reason) {
				t.Errorf("stored quarantined=%v reason %q; want %v, %q", in.Quarantined, in.QuarantineReason, tt.quarantined, tt.reason)
			}
			if in.ExternalID != "3A5F0C1E2D3B4A59687F" || len(in.Raw) == 0 || !strings.Contains(in.Text, "جهاز عرض") {
				t.Errorf("stored %q with %d raw bytes and text %q: want the message itself, raw event kept", in.ExternalID, len(in.Raw), in.Text)
			}
			h.ch.mu.Lock()
			left := len(h.ch.failures)
			h.ch.mu.Unlock()
			if left != 0 {
				t.Errorf("%d failure counts left after the message was stored", left)
			}
		})
	}
}

// An ingest that keeps failing makes Run reconnect, which is what makes
// WhatsApp deliver the unacknowledged message again.
func TestIngestFailureReconnects(t *testing.T) {
	f := newFakeClient(true)
	h := newHarness(t, f)
	h.sink.failures = ingestAttempts // fails one delivery, then works
	h.run(t)
	waitState(t, h.ch, StateConnected)

	if f.emit(dm(t, "conversation_ar.json")) {
		t.Fatal("message acknowledged although it was not stored")
	}
	waitFor(t, "reconnect", func() bool { c, _ := f.counts(); return c == 2 })
	waitState(t, h.ch, StateConnected)
	// WhatsApp delivers it again after the reconnect.
	if !f.emit(dm(t, "conversation_ar.json")) {
		t.Fatal("redelivered message not acknowledged")
	}
	if _, got := h.sink.snapshot(); len(got) != 1 || got[0].ExternalID != "3A5F0C1E2D3B4A59687F" {
		t.Fatalf("ingested %+v", got)
	}
}

func TestSend(t *testing.T) {
	out := message.Outbound{
		ID: 42, ChannelID: 7, Channel: message.WhatsApp,
		To:   message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
		Text: "شكراً لتواصلكم، تم استلام طلبكم رقم T-1024",
	}
	f := newFakeClient(true)
	f.connected, f.loggedIn = true, true
	h := newHarness(t, f)
	h.ch.cli = f

	d, err := h.ch.Send(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.sent) != 1 {
		t.Fatalf("sent %d messages", len(f.sent))
	}
	s := f.sent[0]
	if s.to != types.NewJID("966501234567", types.DefaultUserServer) {
		t.Errorf("to = %s", s.to)
	}
	if s.msg.GetConversation() != out.Text {
		t.Errorf("text = %q", s.msg.GetConversation())
	}
	if d.State != message.StateSent || d.ProviderID != s.id {
		t.Errorf("delivery = %+v, sent id %s", d, s.id)
	}
	if !regexp.MustCompile(`^3EB0[0-9A-F]{18}$`).MatchString(s.id) {
		t.Errorf("message id %q does not look like WhatsApp Web's", s.id)
	}

	// The same job again (a retry after a crash) uses the same id.
	if _, err := h.ch.Send(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	other := out
	other.ID = 43
	if _, err := h.ch.Send(context.Background(), other); err != nil {
		t.Fatal(err)
	}
	if f.sent[1].id != s.id {
		t.Errorf("retry sent id %s, first %s", f.sent[1].id, s.id)
	}
	if f.sent[2].id == s.id {
		t.Errorf("outbound 43 got the id of outbound 42")
	}

	// A local number is read in the default region.
	local := out
	local.ID, local.To.Value = 44, "0501234567"
	if _, err := h.ch.Send(context.Background(), local); err != nil {
		t.Fatal(err)
	}
	if f.sent[3].to.User != "966501234567" {
		t.Errorf("local number sent to %s", f.sent[3].to)
	}
}

func TestSendErrors(t *testing.T) {
	base := message.Outbound{
		ID: 42, To: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"}, Text: "hello",
	}
	tests := []struct {
		name      string
		out       func(message.Outbound) message.Outbound
		client    func() *fakeClient // nil: none yet
		permanent bool
		is        error
		lookups   int
	}{
		{
			name:   "no client yet",
			out:    func(o message.Outbound) message.Outbound { return o },
			client: nil,
			is:     ErrNotConnected,
		},
		{
			name:   "not connected",
			out:    func(o message.Outbound) message.Outbound { return o },
			client: func() *fakeClient { return newFakeClient(true) },
			is:     ErrNotConnected,
		},
		{
			name: "connection lost during send",
			out:  func(o message.Outbound) message.Outbound { return o },
			client: func() *fakeClient {
				f := online()
				f.sendErr = whatsmeow.ErrNotConnected
				return f
			},
			is: whatsmeow.ErrNotConnected,
		},
		{
			name: "number not on WhatsApp",
			out:  func(o message.Outbound) message.Outbound { return o },
			client: func() *fakeClient {
				f := online()
				f.sendErr = errors.New("no LID found for 966501234567@s.whatsapp.net from server")
				return f
			},
			permanent: true, lookups: 1,
		},
		{
			name: "send failed to a number that is on WhatsApp",
			out:  func(o message.Outbound) message.Outbound { return o },
			client: func() *fakeClient {
				f := online()
				f.sendErr = whatsmeow.ErrMessageTimedOut
				f.onWA = map[string]bool{"+966501234567": true}
				return f
			},
			is: whatsmeow.ErrMessageTimedOut, lookups: 1,
		},
		{
			name:      "invalid number",
			out:       func(o message.Outbound) message.Outbound { o.To.Value = "12ab"; return o },
			client:    online,
			permanent: true,
		},
		{
			name: "email recipient",
			out: func(o message.Outbound) message.Outbound {
				o.To = message.Party{Kind: message.IdentityEmail, Value: "a@example.edu"}
				return o
			},
			client:    online,
			permanent: true,
		},
		{
			name:      "empty text",
			out:       func(o message.Outbound) message.Outbound { o.Text = " \n"; return o },
			client:    online,
			permanent: true,
		},
		{
			name:      "no outbound id",
			out:       func(o message.Outbound) message.Outbound { o.ID = 0; return o },
			client:    online,
			permanent: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			var f *fakeClient
			if tt.client != nil {
				f = tt.client()
				h.ch.cli = f
			}
			_, err := h.ch.Send(context.Background(), tt.out(base))
			if err == nil {
				t.Fatal("no error")
			}
			if channels.IsPermanent(err) != tt.permanent {
				t.Errorf("permanent = %v, want %v: %v", channels.IsPermanent(err), tt.permanent, err)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want %v", err, tt.is)
			}
			if f != nil {
				if len(f.sent) != 0 {
					t.Errorf("sent %d messages", len(f.sent))
				}
				if f.lookups != tt.lookups {
					t.Errorf("IsOnWhatsApp lookups = %d, want %d", f.lookups, tt.lookups)
				}
			}
		})
	}
}

func online() *fakeClient {
	f := newFakeClient(true)
	f.connected, f.loggedIn = true, true
	return f
}

func TestOutboundMessageID(t *testing.T) {
	a, b := OutboundMessageID(7, 42), OutboundMessageID(7, 42)
	if a != b {
		t.Fatalf("not deterministic: %s %s", a, b)
	}
	for _, other := range []types.MessageID{OutboundMessageID(7, 43), OutboundMessageID(8, 42)} {
		if other == a {
			t.Errorf("collision: %s", a)
		}
	}
	if !regexp.MustCompile(`^3EB0[0-9A-F]{18}$`).MatchString(a) {
		t.Errorf("%q: wrong shape", a)
	}
}

// A paired device connects, reconnects after a drop, and after a logout
// raises an alert and waits for a new pairing instead of reconnecting.
func TestRunLifecycle(t *testing.T) {
	first := newFakeClient(true)
	second := newFakeClient(false)
	h := newHarness(t, first, second)
	h.run(t)

	st := waitState(t, h.ch, StateConnected)
	if st.JID != "966112345678@s.whatsapp.net" {
		t.Errorf("JID = %q", st.JID)
	}

	first.emit(&events.Disconnected{})
	waitFor(t, "reconnect", func() bool { c, _ := first.counts(); return c == 2 })
	waitState(t, h.ch, StateConnected)

	first.emit(&events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
	st = waitState(t, h.ch, StateLoggedOut)
	if !strings.Contains(st.Error, "logged out") {
		t.Errorf("Error = %q", st.Error)
	}
	waitFor(t, "old client dropped", func() bool { return h.ch.current() == nil })
	if c, _ := first.counts(); c != 2 {
		t.Errorf("connects after logout = %d, want still 2", c)
	}
	alerts := h.alert.all()
	if len(alerts) != 1 || !strings.Contains(alerts[0], `"wa-main" was logged out`) {
		t.Fatalf("alerts = %q", alerts)
	}
	if h.clientsMade() != 1 {
		t.Errorf("Run made %d clients while logged out", h.clientsMade())
	}

	// Sending while logged out is retryable: the job waits for re-pairing.
	_, err := h.ch.Send(context.Background(), message.Outbound{ID: 1, To: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"}, Text: "x"})
	if !errors.Is(err, ErrNotConnected) || channels.IsPermanent(err) {
		t.Errorf("send while logged out: %v", err)
	}

	// The operator pairs again; Run takes over the new device.
	pairAndScan(t, h.ch, second)
	waitState(t, h.ch, StateConnected)
	if got := h.ch.Status(); got.Error != "" || got.QRCode != "" {
		t.Errorf("status after re-pairing = %+v", got)
	}
	if c, _ := second.counts(); c != 1 {
		t.Errorf("new device connected %d times, want 1 (by Pair)", c)
	}
}

// pairAndScan runs Pair against f and plays the phone's part.
func pairAndScan(t *testing.T, ch *Channel, f *fakeClient) {
	t.Helper()
	var codes []string
	codeSeen := make(chan string, 4)
	done := make(chan error, 1)
	go func() {
		done <- ch.Pair(context.Background(), func(code string) {
			codes = append(codes, code)
			codeSeen <- code
		})
	}()
	f.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@first,code"}
	<-codeSeen
	if st := ch.Status(); st.State != StatePairing || st.QRCode != "2@first,code" {
		t.Errorf("while pairing: %+v", st)
	}
	f.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@second,code"}
	<-codeSeen
	waitFor(t, "second code in status", func() bool { return ch.Status().QRCode == "2@second,code" })

	// The phone scans: whatsmeow saves the device, reports success, and
	// logs in again as the new device.
	f.pair()
	f.emit(&events.PairSuccess{ID: types.NewADJID("966112345678", 0, 12)})
	f.qr <- whatsmeow.QRChannelSuccess
	f.emit(&events.Connected{})
	if err := <-done; err != nil {
		t.Fatalf("Pair: %v", err)
	}
	if strings.Join(codes, " ") != "2@first,code 2@second,code" {
		t.Errorf("onQR got %q", codes)
	}
}

func TestRunNeedsPairing(t *testing.T) {
	unpaired, fresh := newFakeClient(false), newFakeClient(false)
	h := newHarness(t, unpaired, fresh)
	h.run(t)
	waitState(t, h.ch, StateNeedsPairing)
	if c, _ := unpaired.counts(); c != 0 {
		t.Errorf("unpaired device connected %d times", c)
	}
	if err := h.ch.Run(context.Background()); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("second Run: %v", err)
	}

	pairAndScan(t, h.ch, fresh)
	st := waitState(t, h.ch, StateConnected)
	if st.JID != "966112345678@s.whatsapp.net" {
		t.Errorf("JID = %q", st.JID)
	}
	if err := h.ch.Pair(context.Background(), nil); !errors.Is(err, ErrAlreadyPaired) {
		t.Errorf("Pair when paired: %v", err)
	}
}

// The pair command runs Pair without Run: it disconnects when done.
func TestPairWithoutRun(t *testing.T) {
	f := newFakeClient(false)
	h := newHarness(t, f)
	pairAndScan(t, h.ch, f)
	if f.IsConnected() {
		t.Error("still connected after Pair without Run")
	}
	if st := h.ch.Status(); st.JID != "966112345678@s.whatsapp.net" {
		t.Errorf("status = %+v", st)
	}
}

func TestPairFailures(t *testing.T) {
	tests := []struct {
		name string
		item whatsmeow.QRChannelItem
		want string
	}{
		{"codes ran out", whatsmeow.QRChannelTimeout, "no QR code was scanned in time"},
		{"phone refused", whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventError, Error: whatsmeow.ErrPairInvalidDeviceSignature}, "invalid device signature"},
		{"client outdated", whatsmeow.QRChannelClientOutdated, "outdated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClient(false)
			h := newHarness(t, f)
			f.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: "2@code"}
			f.qr <- tt.item
			err := h.ch.Pair(context.Background(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Pair = %v, want %q", err, tt.want)
			}
			st := h.ch.Status()
			if st.State != StateNeedsPairing || st.QRCode != "" || !strings.Contains(st.Error, tt.want) {
				t.Errorf("status = %+v", st)
			}
			if f.IsConnected() {
				t.Error("left connected")
			}
		})
	}
}

func TestRunConnectErrorBacksOff(t *testing.T) {
	f := newFakeClient(true)
	f.connectErr = errors.New("dial tcp: connection refused")
	h := newHarness(t, f)
	h.run(t)
	waitFor(t, "three attempts", func() bool { c, _ := f.counts(); return c >= 3 })
	st := h.ch.Status()
	if st.State != StateConnecting || !strings.Contains(st.Error, "connection refused") {
		t.Errorf("status = %+v", st)
	}
	f.mu.Lock()
	f.connectErr = nil
	f.mu.Unlock()
	waitState(t, h.ch, StateConnected)
}

func TestOperatorAlerts(t *testing.T) {
	tests := []struct {
		name  string
		evt   any
		alert string
	}{
		{"session taken over", &events.StreamReplaced{}, "another process connected"},
		{"temporary ban", &events.TemporaryBan{Code: events.TempBanSentToTooManyPeople}, "temporarily banned"},
		{"client outdated", &events.ClientOutdated{}, "outdated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeClient(true)
			h := newHarness(t, f)
			cli, err := h.ch.loadClient(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			h.ch.cli = cli
			f.emit(tt.evt)
			alerts := h.alert.all()
			if len(alerts) != 1 || !strings.Contains(alerts[0], tt.alert) {
				t.Fatalf("alerts = %q", alerts)
			}
			h.ch.mu.Lock()
			dropped, hold := h.ch.dropped, h.ch.holdUntil
			h.ch.mu.Unlock()
			if !dropped || hold.IsZero() {
				t.Errorf("dropped = %v, holdUntil = %v: want a held reconnect", dropped, hold)
			}
		})
	}
}

// Events of a client the channel no longer uses change nothing.
func TestStaleClientEventsIgnored(t *testing.T) {
	old, cur := newFakeClient(true), newFakeClient(true)
	h := newHarness(t, old, cur)
	oldCli, _ := h.ch.loadClient(context.Background())
	curCli, _ := h.ch.loadClient(context.Background())
	_ = oldCli
	h.ch.cli = curCli
	old.emit(&events.LoggedOut{})
	if h.ch.isLoggedOut() || len(h.alert.all()) != 0 {
		t.Fatal("logout of a stale client applied")
	}
}

func TestStatusJSON(t *testing.T) {
	b, err := json.Marshal(Status{State: StatePairing, QRCode: "2@abc", Error: ""})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["state"] != "pairing" || m["qr_code"] != "2@abc" || m["since"] == nil {
		t.Errorf("JSON = %s", b)
	}
	if _, ok := m["error"]; ok {
		t.Errorf("empty error serialized: %s", b)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(testConfig(), nil, &fakeIngester{}, nil, nil); err == nil {
		t.Error("nil container accepted")
	}
	tests := []struct {
		name string
		cfg  func(*Config)
		sink Ingester
	}{
		{"nil ingester", func(*Config) {}, nil},
		{"negative media limit", func(c *Config) { c.MaxMediaBytes = -1 }, &fakeIngester{}},
		{"backoff range inverted", func(c *Config) { c.MinBackoff, c.MaxBackoff = 10, 5 }, &fakeIngester{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			tt.cfg(&cfg)
			if _, err := newChannel(cfg, fakeDevices{}, tt.sink, nil, nil); err == nil {
				t.Error("accepted")
			}
		})
	}
	ch, err := newChannel(testConfig(), fakeDevices{}, &fakeIngester{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.cfg.MaxMediaBytes != DefaultMaxMediaBytes || ch.cfg.MinBackoff != DefaultMinBackoff || ch.cfg.MaxBackoff != DefaultMaxBackoff {
		t.Errorf("defaults = %+v", ch.cfg)
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{min: 1, max: 5}
	var got []int64
	for range 5 {
		got = append(got, int64(b.next()))
	}
	b.reset()
	got = append(got, int64(b.next()))
	want := []int64{1, 2, 4, 5, 5, 1}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff = %v, want %v", got, want)
		}
	}
}

func TestPrintQR(t *testing.T) {
	var buf bytes.Buffer
	PrintQR(&buf, "2@Q2hhbm5lbA==,bm9pc2U=,aWRlbnRpdHk=,YWR2")
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) < 10 || !strings.ContainsAny(buf.String(), "▀▄█") {
		t.Fatalf("not a QR code:\n%s", buf.String())
	}
	for _, l := range lines[1:] {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Fatalf("ragged QR code:\n%s", buf.String())
		}
	}
}

func TestWALogger(t *testing.T) {
	var buf bytes.Buffer
	log := newWALogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log.Sub("Client").Infof("connected to %s", "server")
	log.Sub("Recv").Debugf("<iq secret-node/>")
	log.Sub("Send").Debugf("<pair-device ref=secret/>")
	log.Sub("QRChannel").Debugf("Emitting QR code %s", "2@ref,noise,identity,secret-adv-key")
	log.Warnf("careful")
	log.Sub("Client").Warnf("Failed to download media: %s, trying with next host...",
		`Get "https://mmg.whatsapp.net/v/t62.7118-24/secret-path.enc?ccb=11-4&oh=secret-token&hash=c2VjcmV0&mms-type=image&__wa-mms=": EOF`)
	out := buf.String()
	if !strings.Contains(out, "https://mmg.whatsapp.net/…") {
		t.Errorf("media host not kept: %s", out)
	}
	if !strings.Contains(out, "connected to server") || !strings.Contains(out, "module=whatsmeow/Client") || !strings.Contains(out, "careful") {
		t.Errorf("log = %s", out)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("raw protocol nodes logged: %s", out)
	}
}
