package whatsapp

import (
	"context"
	"time"
)

// State is where the channel's link to WhatsApp stands.
type State string

// The channel states.
const (
	StateNeedsPairing State = "needs_pairing" // no device: run Pair
	StatePairing      State = "pairing"       // QR code shown, waiting for the phone
	StateConnecting   State = "connecting"    // paired, (re)connecting
	StateConnected    State = "connected"
	StateLoggedOut    State = "logged_out" // unlinked from the phone: needs pairing again
)

// Status is the channel's state as the operator page shows it.
type Status struct {
	State  State     `json:"state"`
	QRCode string    `json:"qr_code,omitempty"` // the raw code to render, while pairing
	JID    string    `json:"jid,omitempty"`
	Since  time.Time `json:"since"`
	Error  string    `json:"error,omitempty"`
}

// Status reports the channel's state.
func (c *Channel) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// setStatusLocked changes the state; Since moves only when State does.
func (c *Channel) setStatusLocked(state State, errText string) {
	st := c.status
	if st.State != state {
		st.Since = time.Now()
	}
	st.State = state
	st.Error = errText
	if state != StatePairing {
		st.QRCode = ""
	}
	if c.cli != nil {
		if jid, ok := c.cli.ID(); ok {
			st.JID = jid.ToNonAD().String()
		} else {
			st.JID = ""
		}
	}
	if st != c.status {
		c.status = st
		close(c.changed)
		c.changed = make(chan struct{})
	}
}

func (c *Channel) setStatus(state State, errText string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setStatusLocked(state, errText)
}

// unpairedStateLocked is the state to show without a device: logged out
// stays visible until a new pairing succeeds.
func (c *Channel) unpairedStateLocked() State {
	if c.loggedOut {
		return StateLoggedOut
	}
	return StateNeedsPairing
}

// waitStatus blocks until ok(status) or ctx ends.
func (c *Channel) waitStatus(ctx context.Context, ok func(Status) bool) (Status, error) {
	for {
		c.mu.Lock()
		st, ch := c.status, c.changed
		c.mu.Unlock()
		if ok(st) {
			return st, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return st, ctx.Err()
		}
	}
}
