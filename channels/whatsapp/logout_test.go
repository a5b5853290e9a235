package whatsapp

import (
	"context"
	"errors"
	"testing"
)

// TestLogout: the operator's "log out device" unlinks the device, the
// channel shows logged_out and stops reconnecting, and a new pairing
// brings it back.
func TestLogout(t *testing.T) {
	f := newFakeClient(true)
	h := newHarness(t, f, newFakeClient(false))
	if err := h.ch.Logout(context.Background()); !errors.Is(err, ErrNotConnected) {
		t.Errorf("Logout before Run = %v, want ErrNotConnected", err)
	}
	h.run(t)
	waitState(t, h.ch, StateConnected)

	f.mu.Lock()
	f.logoutErr = errors.New("error sending logout request: websocket closed")
	f.mu.Unlock()
	if err := h.ch.Logout(context.Background()); err == nil || h.ch.Status().State != StateConnected {
		t.Fatalf("a failed logout: %v, state %s; want an error and no change", err, h.ch.Status().State)
	}
	f.mu.Lock()
	f.logoutErr = nil
	f.mu.Unlock()

	if err := h.ch.Logout(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, h.ch, StateLoggedOut)
	if f.logouts != 1 || st.Error == "" {
		t.Errorf("logouts %d, status %+v", f.logouts, st)
	}
	connects, _ := f.counts()
	// Pairing again uses a new client; the old one is never reconnected.
	pairAndScan(t, h.ch, h.clients[1])
	waitState(t, h.ch, StateConnected)
	if c, _ := f.counts(); c != connects {
		t.Errorf("the logged-out client reconnected (%d → %d)", connects, c)
	}
}
