package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mdp/qrterminal/v3"
	"go.mau.fi/whatsmeow"
)

// pairSettle is how long Pair waits, after the phone accepted the code, for
// the new device's first login.
const pairSettle = time.Minute

// Pair links a new device by QR code: onQR gets each code to show (they
// rotate every 20–60 s) and Status carries it too. It returns once the phone
// accepted a code and the device logged in, or with an error when the codes
// ran out, the phone refused, or ctx ended. Run picks up the paired device;
// without Run (the pair command), Pair disconnects before returning.
func (c *Channel) Pair(ctx context.Context, onQR func(code string)) error {
	c.mu.Lock()
	if c.pairing {
		c.mu.Unlock()
		return ErrPairing
	}
	if c.cli != nil && !c.loggedOut {
		if jid, ok := c.cli.ID(); ok {
			c.mu.Unlock()
			return fmt.Errorf("%w as %s", ErrAlreadyPaired, jid.ToNonAD())
		}
	}
	c.pairing = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.pairing = false
		c.mu.Unlock()
		c.wake()
	}()

	cli, err := c.loadClient(ctx)
	if err != nil {
		return err
	}
	if jid, ok := cli.ID(); ok {
		if !c.isLoggedOut() {
			return fmt.Errorf("%w as %s", ErrAlreadyPaired, jid.ToNonAD())
		}
		// whatsmeow deletes a logged-out device itself; this covers the
		// case where that failed.
		if err := cli.Forget(ctx); err != nil {
			return fmt.Errorf("whatsapp channel %q: delete logged-out device: %w", c.cfg.Name, err)
		}
		if cli, err = c.loadClient(ctx); err != nil {
			return err
		}
	}
	qrs, err := cli.GetQRChannel(ctx)
	if err != nil {
		return fmt.Errorf("whatsapp channel %q: pairing: %w", c.cfg.Name, err)
	}

	c.mu.Lock()
	old := c.cli
	c.cli = cli
	c.setStatusLocked(StatePairing, "")
	c.mu.Unlock()
	if old != nil && old != cli {
		old.Disconnect()
	}

	fail := func(err error) error {
		cli.Disconnect()
		c.mu.Lock()
		c.setStatusLocked(c.unpairedStateLocked(), err.Error())
		c.mu.Unlock()
		return fmt.Errorf("whatsapp channel %q: pairing: %w", c.cfg.Name, err)
	}
	if err := cli.ConnectContext(ctx); err != nil {
		return fail(redact(err))
	}
	if err := c.readQRs(ctx, qrs, onQR); err != nil {
		return fail(err)
	}

	c.mu.Lock()
	c.loggedOut = false
	c.holdUntil = time.Time{}
	if c.status.State == StatePairing {
		c.setStatusLocked(StateConnecting, "")
	}
	running := c.running
	c.mu.Unlock()
	c.log.Info("whatsapp: device paired", "jid", c.Status().JID)

	// The phone has accepted; whatsmeow now reconnects as the new device.
	// Waiting for that login is what makes the link show as active.
	wctx, cancel := context.WithTimeout(ctx, pairSettle)
	defer cancel()
	_, werr := c.waitStatus(wctx, func(s Status) bool { return s.State == StateConnected })
	if !running {
		cli.Disconnect()
	}
	if werr != nil {
		c.log.Warn("whatsapp: paired, but the first login did not complete yet", "err", werr)
	}
	return nil
}

// readQRs follows whatsmeow's QR channel until it reports the outcome.
func (c *Channel) readQRs(ctx context.Context, qrs <-chan whatsmeow.QRChannelItem, onQR func(string)) error {
	for {
		var item whatsmeow.QRChannelItem
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case item, ok = <-qrs:
		}
		if !ok {
			return errors.New("QR channel closed without a result")
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			c.mu.Lock()
			c.setStatusLocked(StatePairing, "")
			if c.status.QRCode != item.Code {
				c.status.QRCode = item.Code
				close(c.changed)
				c.changed = make(chan struct{})
			}
			c.mu.Unlock()
			if onQR != nil {
				onQR(item.Code)
			}
		case whatsmeow.QRChannelSuccess.Event:
			return nil
		case whatsmeow.QRChannelTimeout.Event:
			return errors.New("no QR code was scanned in time")
		case whatsmeow.QRChannelEventError:
			return fmt.Errorf("phone refused the link: %w", item.Error)
		case whatsmeow.QRChannelClientOutdated.Event:
			return errors.New("WhatsApp says this client version is outdated; upgrade whatsmeow")
		case whatsmeow.QRChannelScannedWithoutMultidevice.Event:
			return errors.New("the phone scanned the code without multi-device support")
		default:
			return fmt.Errorf("unexpected pairing event %q", item.Event)
		}
	}
}

// PrintQR draws code as a QR code for a terminal (the pair command).
func PrintQR(w io.Writer, code string) {
	qrterminal.GenerateHalfBlock(code, qrterminal.L, w)
}
