package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"go.mau.fi/whatsmeow/store"
)

// ErrNotPaired: there is no linked device to log out.
var ErrNotPaired = errors.New("whatsapp: no device is paired")

// Logout unlinks the device from the organisation's phone (the operator's
// "log out device"): WhatsApp forgets it, the device store deletes it, and
// the channel shows logged_out until it is paired again. whatsmeow emits no
// event for a logout it was asked for, so the state is set here.
func (c *Channel) Logout(ctx context.Context) error {
	cli := c.current()
	if cli == nil {
		return ErrNotConnected
	}
	if _, ok := cli.ID(); !ok {
		return ErrNotPaired
	}
	if err := cli.Logout(ctx); err != nil {
		return fmt.Errorf("whatsapp channel %q: log out: %w", c.cfg.Name, redact(err))
	}
	c.mu.Lock()
	c.loggedOut = true
	c.setStatusLocked(StateLoggedOut, "logged out from the operator page")
	c.mu.Unlock()
	c.log.Info("whatsapp: device logged out by an operator")
	c.wake()
	return nil
}

// Client is what a Channel uses of whatsmeow's client. NewWithClients takes
// a maker of them, so that other packages' tests can drive a real Channel
// with a fake (package whatsapptest) where no WhatsApp server can be
// reached.
type Client = client

// NewWithClients is New with clients made by newClient instead of
// whatsmeow's, on a device store that holds no device: for tests.
func NewWithClients(cfg Config, newClient func() Client, sink Ingester, alert Alerter, log *slog.Logger) (*Channel, error) {
	c, err := newChannel(cfg, noDevices{}, sink, alert, log)
	if err != nil {
		return nil, err
	}
	c.newClient = func(*store.Device) client { return newClient() }
	return c, nil
}

// noDevices hands out a fresh device each time; fake clients ignore it.
type noDevices struct{}

func (noDevices) GetFirstDevice(context.Context) (*store.Device, error) { return &store.Device{}, nil }
