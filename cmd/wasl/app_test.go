package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/config"
)

// The WhatsApp pairing state is served to operators behind the API token,
// and an unpaired device says it needs pairing.
func TestWhatsAppStatusRoute(t *testing.T) {
	bank, err := filepath.Abs("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	yaml := "data_dir: " + t.TempDir() + "\nknowledge_bank: " + bank + "\napi_token: s3cret\nchannels:\n  - {name: wa, kind: whatsapp}\n"
	cfg, err := config.Parse([]byte(yaml), "wasl.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	a, err := newApp(context.Background(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.store.Close() })
	srv := httptest.NewServer(a.mux)
	t.Cleanup(srv.Close)

	get := func(path, token string) (*http.Response, []byte) {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	if resp, _ := get("/api/v1/channels/wa/whatsapp", ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("without token: %s", resp.Status)
	}
	if resp, _ := get("/api/v1/channels/nope/whatsapp", "s3cret"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown channel: %s", resp.Status)
	}
	// Run loads the (unpaired) device and waits for a pairing; it never
	// connects anywhere.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); wa, _ := a.registry.whatsappChannel("wa"); _ = wa.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var state string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, body := get("/api/v1/channels/wa/whatsapp", "s3cret")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status route: %s %s", resp.Status, body)
		}
		var st struct {
			State string `json:"state"`
		}
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatal(err)
		}
		if state = st.State; state == "needs_pairing" {
			return
		}
	}
	t.Errorf("unpaired device state = %q, want needs_pairing", state)
}
