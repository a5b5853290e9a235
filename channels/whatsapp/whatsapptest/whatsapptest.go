// Package whatsapptest is a stand-in for whatsmeow's client, for tests of
// other packages that drive a real whatsapp.Channel (the operator's pairing
// page): no WhatsApp server can be reached from tests. Like whatsmeow, it
// reports Connected after ConnectContext only for a paired device, feeds QR
// codes through the channel GetQRChannel returns, and says LoggedOut when
// the phone unlinks the device.
package whatsapptest

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/wasl-dev/wasl/channels/whatsapp"
)

// Client is one fake whatsmeow client.
type Client struct {
	mu        sync.Mutex
	id        *types.JID
	connected bool
	handlers  []whatsmeow.EventHandlerWithSuccessStatus
	qr        chan whatsmeow.QRChannelItem
	sent      []string
}

var _ whatsapp.Client = (*Client)(nil)

// NewClient makes a client; a paired one already has a device.
func NewClient(paired bool) *Client {
	c := &Client{qr: make(chan whatsmeow.QRChannelItem, 16)}
	if paired {
		jid := types.NewADJID("966112345678", 0, 12)
		c.id = &jid
	}
	return c
}

// Clients makes fake clients for whatsapp.NewWithClients and keeps them,
// so a test can reach the one the channel is using.
type Clients struct {
	mu     sync.Mutex
	made   []*Client
	Paired bool // the first client made has a paired device
}

// New makes the next client.
func (cs *Clients) New() whatsapp.Client {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	c := NewClient(cs.Paired && len(cs.made) == 0)
	cs.made = append(cs.made, c)
	return c
}

// Made counts the clients made so far.
func (cs *Clients) Made() int {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return len(cs.made)
}

// Last is the client made last (nil before any).
func (cs *Clients) Last() *Client {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if len(cs.made) == 0 {
		return nil
	}
	return cs.made[len(cs.made)-1]
}

// ShowQR hands the pairing a new QR code, as whatsmeow does every 20–60 s.
func (c *Client) ShowQR(code string) {
	c.qr <- whatsmeow.QRChannelItem{Event: whatsmeow.QRChannelEventCode, Code: code}
}

// Scan is the phone scanning the code: the device is saved under phone's
// number, pairing succeeds, and the client logs in as the new device.
func (c *Client) Scan(phone string) {
	jid := types.NewADJID(phone, 0, 12)
	c.mu.Lock()
	c.id = &jid
	c.mu.Unlock()
	c.emit(&events.PairSuccess{ID: jid})
	c.qr <- whatsmeow.QRChannelSuccess
	c.emit(&events.Connected{})
}

// UnlinkFromPhone is the phone removing the linked device: WhatsApp logs
// it out.
func (c *Client) UnlinkFromPhone() {
	c.emit(&events.LoggedOut{Reason: events.ConnectFailureLoggedOut})
}

func (c *Client) emit(evt any) bool {
	c.mu.Lock()
	hs := append([]whatsmeow.EventHandlerWithSuccessStatus(nil), c.handlers...)
	switch evt.(type) {
	case *events.Disconnected, *events.LoggedOut:
		c.connected = false
	}
	c.mu.Unlock()
	ok := true
	for _, h := range hs {
		ok = h(evt) && ok
	}
	return ok
}

// AddEventHandlerWithSuccessStatus is whatsmeow's.
func (c *Client) AddEventHandlerWithSuccessStatus(h whatsmeow.EventHandlerWithSuccessStatus) uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = append(c.handlers, h)
	return uint32(len(c.handlers))
}

// ConnectContext connects; a paired device then reports Connected.
func (c *Client) ConnectContext(context.Context) error {
	c.mu.Lock()
	if c.connected {
		c.mu.Unlock()
		return whatsmeow.ErrAlreadyConnected
	}
	c.connected = true
	paired := c.id != nil
	c.mu.Unlock()
	if paired {
		go c.emit(&events.Connected{})
	}
	return nil
}

// Disconnect is whatsmeow's.
func (c *Client) Disconnect() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.connected = false
}

// IsConnected is whatsmeow's.
func (c *Client) IsConnected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// IsLoggedIn is whatsmeow's.
func (c *Client) IsLoggedIn() bool { return c.IsConnected() }

// GetQRChannel is whatsmeow's: refused for a paired device.
func (c *Client) GetQRChannel(context.Context) (<-chan whatsmeow.QRChannelItem, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id != nil {
		return nil, whatsmeow.ErrQRStoreContainsID
	}
	return c.qr, nil
}

// SendMessage records the text sent.
func (c *Client) SendMessage(_ context.Context, _ types.JID, msg *waE2E.Message, extra ...whatsmeow.SendRequestExtra) (whatsmeow.SendResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(extra) != 1 || extra[0].ID == "" {
		return whatsmeow.SendResponse{}, errors.New("whatsapptest: want exactly one SendRequestExtra with an ID")
	}
	c.sent = append(c.sent, msg.GetConversation())
	return whatsmeow.SendResponse{ID: extra[0].ID, Timestamp: time.Now()}, nil
}

// IsOnWhatsApp says every number is.
func (c *Client) IsOnWhatsApp(_ context.Context, phones []string) ([]types.IsOnWhatsAppResponse, error) {
	var res []types.IsOnWhatsAppResponse
	for _, p := range phones {
		res = append(res, types.IsOnWhatsAppResponse{Query: p, JID: types.NewJID(p[1:], types.DefaultUserServer), IsIn: true})
	}
	return res, nil
}

// DownloadMediaWithPathToFile has no media to serve.
func (c *Client) DownloadMediaWithPathToFile(context.Context, string, []byte, []byte, []byte, int, whatsmeow.MediaType, string, whatsmeow.File) error {
	return whatsmeow.ErrMediaDownloadFailedWith404
}

// ID is the paired device's JID.
func (c *Client) ID() (types.JID, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id == nil {
		return types.JID{}, false
	}
	return *c.id, true
}

// PNForLID knows no LIDs.
func (c *Client) PNForLID(context.Context, types.JID) (types.JID, error) { return types.JID{}, nil }

// Forget deletes the device.
func (c *Client) Forget(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id = nil
	return nil
}

// Logout unlinks and deletes the device, as whatsmeow's does (no event).
func (c *Client) Logout(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.id == nil {
		return whatsmeow.ErrNotLoggedIn
	}
	c.id, c.connected = nil, false
	return nil
}
