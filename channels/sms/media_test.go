package sms

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

// fetchAll opens a media URL and reads it whole (small media only).
func fetchAll(c *Channel, mediaURL string) ([]byte, string, error) {
	body, ct, err := c.OpenMedia(context.Background(), message.Attachment{URL: mediaURL})
	if err != nil {
		return nil, "", err
	}
	defer body.Close()
	data, err := io.ReadAll(body)
	return data, ct, err
}

func TestOpenMedia(t *testing.T) {
	c, fake, _ := fakeChannel(t, nil)
	pdf := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{'x'}, 4096)...)
	u := fake.AddMedia("application/pdf", pdf)

	data, ct, err := fetchAll(c, u)
	if err != nil {
		t.Fatalf("OpenMedia: %v", err)
	}
	if !bytes.Equal(data, pdf) || ct != "application/pdf" {
		t.Errorf("got %d bytes of %q, want %d bytes of application/pdf", len(data), ct, len(pdf))
	}
	reqs := fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("requests = %+v, want the API call and the CDN redirect", reqs)
	}
	if api := reqs[0]; api.Host != faketwilio.APIHost || !api.Authorized {
		t.Errorf("API request %+v: want the account's credentials", api)
	}
	if cdn := reqs[1]; cdn.Host != faketwilio.MediaHost || cdn.HasAuth {
		t.Errorf("CDN request %+v: credentials must not follow the redirect off twilio.com", cdn)
	}
}

func TestOpenMediaErrors(t *testing.T) {
	tests := []struct {
		name          string
		url           func(fake *faketwilio.Server) string
		limit         int64
		token         string
		wantPermanent bool
		wantErr       string
		wantRequests  int
	}{
		{"over the size limit", func(f *faketwilio.Server) string {
			return f.AddMedia("image/png", bytes.Repeat([]byte{1}, 2048))
		}, 1024, "", true, "over the limit of 1024 bytes", 2},
		{"unknown media", func(f *faketwilio.Server) string {
			return "https://api.twilio.com/2010-04-01/Accounts/" + testAccount + "/Messages/MM1/Media/MEnope"
		}, 0, "", true, "404", 1},
		{"wrong credentials", func(f *faketwilio.Server) string {
			return f.AddMedia("image/png", []byte{1})
		}, 0, "ffffffffffffffffffffffffffffffff", false, "check AccountSID and AuthToken", 1},
		{"not a Twilio host", func(*faketwilio.Server) string {
			return "https://attacker.example.com/collect"
		}, 0, "", true, "refusing to send the account's credentials", 0},
		{"twilio look-alike host", func(*faketwilio.Server) string {
			return "https://api.twilio.com.attacker.example/x"
		}, 0, "", true, "refusing", 0},
		{"plain http", func(*faketwilio.Server) string {
			return "http://api.twilio.com/2010-04-01/x"
		}, 0, "", true, "refusing", 0},
		{"credentials in URL", func(*faketwilio.Server) string {
			return "https://u:p@api.twilio.com/2010-04-01/x"
		}, 0, "", true, "refusing", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := testToken
			if tt.token != "" {
				token = tt.token
			}
			fake := faketwilio.Start(t, testAccount, token)
			u := tt.url(fake) // registered before the channel exists: the fake's token may differ
			c, _ := newChannel(t, func(cfg *Config) {
				cfg.HTTPClient = fake.Client()
				cfg.MaxMediaBytes = tt.limit
			})
			_, _, err := c.OpenMedia(context.Background(), message.Attachment{URL: u})
			if err == nil {
				t.Fatal("OpenMedia succeeded, want an error")
			}
			if channels.IsPermanent(err) != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", channels.IsPermanent(err), tt.wantPermanent, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the token: %v", err)
			}
			if n := len(fake.Requests()); n != tt.wantRequests {
				t.Errorf("fake got %d requests, want %d", n, tt.wantRequests)
			}
		})
	}
}

// OpenMedia hands back the body as it arrives, not buffered: the caller
// (the media job) streams it under the limit. A body without Content-Type
// gets one sniffed from its first bytes.
func TestOpenMediaStreams(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length, no Content-Type.
		w.Header()["Content-Type"] = nil
		w.Write(append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 1016)...))
		w.(http.Flusher).Flush()
		<-release
		w.Write(bytes.Repeat([]byte{1}, 3072))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	target, _ := url.Parse(srv.URL)
	hc := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = target.Scheme, target.Host
		return http.DefaultTransport.RoundTrip(r)
	})}
	c, _ := newChannel(t, func(cfg *Config) { cfg.HTTPClient = hc; cfg.MaxMediaBytes = 1024 })
	body, ct, err := c.OpenMedia(context.Background(), message.Attachment{URL: "https://api.twilio.com/2010-04-01/Accounts/" + testAccount + "/Messages/MM1/Media/ME1"})
	if err != nil {
		t.Fatalf("OpenMedia: %v", err)
	}
	defer body.Close()
	if ct != "image/png" {
		t.Errorf("content type %q, want image/png sniffed from the first bytes", ct)
	}
	// The server holds back the rest: the first KiB can only be read if
	// OpenMedia returned without waiting for the whole body.
	first := make([]byte, 1024)
	if _, err := io.ReadFull(body, first); err != nil || !bytes.HasPrefix(first, []byte("\x89PNG")) {
		t.Fatalf("first KiB: %q, %v", first[:8], err)
	}
	close(release)
	rest, err := io.ReadAll(body)
	if err != nil || len(rest) != 3072 {
		t.Errorf("rest: %d bytes, %v; want 3072", len(rest), err)
	}
	if c.MaxMediaBytes() != 1024 {
		t.Errorf("MaxMediaBytes = %d, want the configured 1024", c.MaxMediaBytes())
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
