package whatsapptest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/channels/whatsapp"
	"github.com/wasl-dev/wasl/message"
)

type sink struct{}

func (sink) Ingest(context.Context, message.Inbound) (message.Outcome, error) {
	return message.Outcome{}, nil
}

type alerts struct{}

func (alerts) Alert(context.Context, int64, string) {}

// TestFakeDrivesAChannel: through the fake, a real channel goes from
// needs_pairing to a QR code, to connected with the phone's number, and to
// logged_out when the phone unlinks it — the states the operator page shows.
func TestFakeDrivesAChannel(t *testing.T) {
	var cs Clients
	ch, err := whatsapp.NewWithClients(whatsapp.Config{ChannelID: 1, Name: "wa", DefaultRegion: "SA"}, cs.New, sink{}, alerts{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ch.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	wait := func(what string, ok func(whatsapp.Status) bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !ok(ch.Status()) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: status %+v", what, ch.Status())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	wait("needs pairing", func(s whatsapp.Status) bool { return s.State == whatsapp.StateNeedsPairing })
	paired := make(chan error, 1)
	go func() { paired <- ch.Pair(ctx, nil) }()
	wait("a pairing client", func(whatsapp.Status) bool { return cs.Made() == 2 })
	cs.Last().ShowQR("2@code-one")
	wait("the QR code", func(s whatsapp.Status) bool { return s.State == whatsapp.StatePairing && s.QRCode == "2@code-one" })
	cs.Last().Scan("966501112233")
	if err := <-paired; err != nil {
		t.Fatal(err)
	}
	wait("connected", func(s whatsapp.Status) bool {
		return s.State == whatsapp.StateConnected && s.JID == "966501112233@s.whatsapp.net" && s.QRCode == ""
	})
	cs.Last().UnlinkFromPhone()
	wait("logged out", func(s whatsapp.Status) bool { return s.State == whatsapp.StateLoggedOut })
}
