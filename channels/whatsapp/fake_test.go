package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wasl-dev/wasl/message"
)

// fakeClient stands in for *whatsmeow.Client: no WhatsApp server can be
// reached from tests. It behaves as whatsmeow does where the channel relies
// on it: Connected arrives after ConnectContext, asynchronously, and only
// for a paired device; the QR channel is fed by the test.
type fakeClient struct {
	mu        sync.Mutex
	id        *types.JID
	connected bool
	loggedIn  bool
	handlers  []whatsmeow.EventHandlerWithSuccessStatus

	connects    int
	disconnects int
	connectErr  error

	qr chan whatsmeow.QRChannelItem

	sent    []sentMessage
	sendErr error
	onWA    map[string]bool // phone with + → registered
	lookups int

	media       []byte // what WhatsApp's media server serves
	downloadErr error
	downloads   int
	written     int64 // bytes the last download got into its file
	writeErr    error // what stopped it, if anything
	directPath  string
	mediaKey    []byte

	lids map[types.JID]types.JID

	logouts   int
	logoutErr error
}

type sentMessage struct {
	to  types.JID
	msg *waE2E.Message
	id  types.MessageID
}

func newFakeClient(paired bool) *fakeClient {
	f := &fakeClient{qr: make(chan whatsmeow.QRChannelItem, 8)}
	if paired {
		f.pair()
	}
	return f
}

func (f *fakeClient) pair() {
	f.mu.Lock()
	defer f.mu.Unlock()
	jid := types.NewADJID("966112345678", 0, 12)
	f.id = &jid
}

func (f *fakeClient) AddEventHandlerWithSuccessStatus(h whatsmeow.EventHandlerWithSuccessStatus) uint32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handlers = append(f.handlers, h)
	return uint32(len(f.handlers))
}

// emit dispatches evt as whatsmeow does; the result is whether every
// handler succeeded (whether whatsmeow would acknowledge).
func (f *fakeClient) emit(evt any) bool {
	f.mu.Lock()
	hs := append([]whatsmeow.EventHandlerWithSuccessStatus(nil), f.handlers...)
	switch evt.(type) {
	case *events.Connected:
		f.loggedIn = true
	case *events.Disconnected, *events.LoggedOut:
		f.connected, f.loggedIn = false, false
	}
	f.mu.Unlock()
	ok := true
	for _, h := range hs {
		ok = h(evt) && ok
	}
	return ok
}

func (f *fakeClient) ConnectContext(ctx context.Context) error {
	f.mu.Lock()
	f.connects++
	if f.connectErr != nil {
		err := f.connectErr
		f.mu.Unlock()
		return err
	}
	if f.connected {
		f.mu.Unlock()
		return whatsmeow.ErrAlreadyConnected
	}
	f.connected = true
	paired := f.id != nil
	f.mu.Unlock()
	if paired {
		go f.emit(&events.Connected{})
	}
	return nil
}

func (f *fakeClient) Disconnect() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.disconnects++
	f.connected, f.loggedIn = false, false
}

func (f *fakeClient) IsConnected() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connected
}

func (f *fakeClient) IsLoggedIn() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loggedIn
}

func (f *fakeClient) GetQRChannel(ctx context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id != nil {
		return nil, whatsmeow.ErrQRStoreContainsID
	}
	return f.qr, nil
}

func (f *fakeClient) SendMessage(ctx context.Context, to types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(extra) != 1 || extra[0].ID == "" {
		return whatsmeow.SendResponse{}, errors.New("fake: want exactly one SendRequestExtra with an ID")
	}
	if f.sendErr != nil {
		return whatsmeow.SendResponse{}, f.sendErr
	}
	f.sent = append(f.sent, sentMessage{to: to, msg: msg, id: extra[0].ID})
	return whatsmeow.SendResponse{ID: extra[0].ID, Timestamp: time.Now()}, nil
}

func (f *fakeClient) IsOnWhatsApp(ctx context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lookups++
	var res []types.IsOnWhatsAppResponse
	for _, p := range phones {
		user := p[1:]
		res = append(res, types.IsOnWhatsAppResponse{Query: p, JID: types.NewJID(user, types.DefaultUserServer), IsIn: f.onWA[p]})
	}
	return res, nil
}

// DownloadMediaWithPathToFile serves f.media as whatsmeow writes a
// download: in 32 KiB chunks into file, stopping at the first write error.
func (f *fakeClient) DownloadMediaWithPathToFile(ctx context.Context, directPath string, encFileHash, fileHash, mediaKey []byte,
	fileLength int, mediaType whatsmeow.MediaType, mmsType string, file whatsmeow.File) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.downloads++
	f.directPath, f.mediaKey = directPath, mediaKey
	f.written, f.writeErr = 0, nil
	if f.downloadErr != nil {
		return f.downloadErr
	}
	for rest := f.media; len(rest) > 0; {
		n := min(len(rest), 32<<10)
		w, err := file.Write(rest[:n])
		f.written += int64(w)
		if err != nil {
			f.writeErr = err
			return fmt.Errorf("failed to download media from last host: %w", err)
		}
		rest = rest[n:]
	}
	return nil
}

func (f *fakeClient) downloadStats() (downloads int, written int64, writeErr error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.downloads, f.written, f.writeErr
}

func (f *fakeClient) ID() (types.JID, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.id == nil {
		return types.JID{}, false
	}
	return *f.id, true
}

func (f *fakeClient) PNForLID(ctx context.Context, lid types.JID) (types.JID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lids[lid], nil
}

func (f *fakeClient) Forget(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.id = nil
	return nil
}

func (f *fakeClient) Logout(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.logoutErr != nil {
		return f.logoutErr
	}
	f.id = nil
	f.connected, f.loggedIn = false, false
	f.logouts++
	return nil
}

func (f *fakeClient) counts() (connects, disconnects int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.connects, f.disconnects
}

// fakeDevices hands out fresh devices; the fake clients ignore them.
type fakeDevices struct{}

func (fakeDevices) GetFirstDevice(ctx context.Context) (*store.Device, error) {
	return &store.Device{}, nil
}

// fakeIngester records what it is given and fails as told.
type fakeIngester struct {
	mu       sync.Mutex
	got      []message.Inbound
	calls    int
	failures int // fail this many calls first; -1: always
	// poison fails every message that is not quarantined, as a message
	// that breaks the pipeline while the store works.
	poison bool
}

func (f *fakeIngester) Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.failures < 0 || f.calls <= f.failures {
		return message.Outcome{}, errors.New("store unavailable")
	}
	if f.poison && !in.Quarantined {
		return message.Outcome{}, errors.New("render reply: template breaks on this text")
	}
	f.got = append(f.got, in)
	return message.Outcome{MessageID: int64(len(f.got))}, nil
}

func (f *fakeIngester) set(failures int, poison bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.failures, f.poison = 0, failures, poison
}

func (f *fakeIngester) snapshot() (calls int, got []message.Inbound) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls, append([]message.Inbound(nil), f.got...)
}

type fakeAlerter struct {
	mu    sync.Mutex
	texts []string
}

func (a *fakeAlerter) Alert(ctx context.Context, channelID int64, text string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.texts = append(a.texts, text)
}

func (a *fakeAlerter) all() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.texts...)
}

// harness is a channel whose clients come, in order, from clients.
type harness struct {
	ch      *Channel
	sink    *fakeIngester
	alert   *fakeAlerter
	mu      sync.Mutex
	clients []*fakeClient
	made    int
}

func newHarness(t *testing.T, clients ...*fakeClient) *harness {
	t.Helper()
	h := &harness{sink: &fakeIngester{}, alert: &fakeAlerter{}, clients: clients}
	cfg := testConfig()
	cfg.MinBackoff, cfg.MaxBackoff = time.Millisecond, 4*time.Millisecond
	cfg.MaxMediaBytes = 1 << 20
	ch, err := newChannel(cfg, fakeDevices{}, h.sink, h.alert, quiet())
	if err != nil {
		t.Fatal(err)
	}
	ch.newClient = func(*store.Device) client {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.made >= len(h.clients) {
			t.Errorf("channel asked for client %d, the test has %d", h.made+1, len(h.clients))
			return newFakeClient(false)
		}
		h.made++
		return h.clients[h.made-1]
	}
	h.ch = ch
	return h
}

func (h *harness) clientsMade() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.made
}

// run starts Run and stops it at the end of the test.
func (h *harness) run(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.ch.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitFor polls cond: the deadline only keeps a broken test from hanging,
// no timing is asserted.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func waitState(t *testing.T, ch *Channel, want State) Status {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := ch.waitStatus(ctx, func(s Status) bool { return s.State == want })
	if err != nil {
		t.Fatalf("state = %s (%s), want %s", st.State, st.Error, want)
	}
	return st
}

// quiet keeps the channel's log lines out of test output.
func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }
