package sms

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/twilio/twilio-go/client"
)

// Twilio's documented example
// (https://www.twilio.com/docs/usage/security#validating-requests).
var docParams = url.Values{
	"CallSid": {"CA1234567890ABCDE"},
	"Caller":  {"+12349013030"},
	"Digits":  {"1234"},
	"From":    {"+12349013030"},
	"To":      {"+18005551212"},
}

const (
	docToken = "12345"
	docURL   = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docSig   = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
)

func TestSignTwilioExample(t *testing.T) {
	if got := Sign(docToken, docURL, docParams); got != docSig {
		t.Fatalf("Sign = %q, want %q", got, docSig)
	}
}

// The handler accepts the documented example's signature: it gets past the
// check to the missing MessageSid (400), where a forged one stops at 403.
func TestHandlerAcceptsTwilioExample(t *testing.T) {
	c, _ := newChannel(t, func(cfg *Config) {
		cfg.AuthToken = docToken
		cfg.PublicURL = "https://mycompany.com"
	})
	sink := &fakeSink{}
	upd := &fakeUpdater{}
	for _, h := range []http.Handler{c.InboundHandler(sink), c.StatusHandler(upd)} {
		r := httptest.NewRequest(http.MethodPost, "/myapp.php?foo=1&bar=2", strings.NewReader(docParams.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Twilio-Signature", docSig)
		w := serve(h, r)
		if w.Code != http.StatusBadRequest {
			t.Errorf("valid signature: status %d (%s), want 400 for the missing MessageSid", w.Code, w.Body)
		}
	}
	if len(sink.calls()) != 0 || len(upd.calls()) != 0 {
		t.Errorf("sink or updater called without a MessageSid")
	}
}

func TestSignAgreesWithValidator(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []rune("abcXYZ019 +-_.:/?&=%#أبجد٣😀\n")
	word := func(n int) string {
		var b strings.Builder
		for range rng.IntN(n) {
			b.WriteRune(alphabet[rng.IntN(len(alphabet))])
		}
		return b.String()
	}
	v := client.NewRequestValidator(testToken)
	for i := range 200 {
		form := url.Values{}
		params := map[string]string{}
		for range rng.IntN(8) {
			k, val := "K"+word(6), word(40)
			form.Set(k, val)
			params[k] = val
		}
		u := "https://wasl.example.edu/webhooks/twilio/x?n=" + url.QueryEscape(word(5))
		sig := Sign(testToken, u, form)
		if !v.Validate(u, params, sig) {
			t.Fatalf("case %d: validator rejects Sign's signature for %q %v", i, u, form)
		}
	}
}

func TestSignatureRefused(t *testing.T) {
	body := fixture(t, "inbound_sms_arabic.form")
	good := testPublic + inboundPath
	tests := []struct {
		name    string
		req     func(t *testing.T) *http.Request
		want    int
		logLine string
	}{
		{"missing signature", func(t *testing.T) *http.Request {
			r := signedPost(t, testToken, good, inboundPath, body)
			r.Header.Del("X-Twilio-Signature")
			return r
		}, http.StatusForbidden, "no X-Twilio-Signature"},
		{"forged signature", func(t *testing.T) *http.Request {
			r := signedPost(t, testToken, good, inboundPath, body)
			r.Header.Set("X-Twilio-Signature", docSig)
			return r
		}, http.StatusForbidden, "signature does not match"},
		{"signed with another token", func(t *testing.T) *http.Request {
			return signedPost(t, "0000000000000000000000000000000f", good, inboundPath, body)
		}, http.StatusForbidden, "signature does not match"},
		{"altered parameter", func(t *testing.T) *http.Request {
			r := signedPost(t, testToken, good, inboundPath, body)
			altered := strings.Replace(body, "From=%2B966501234567", "From=%2B966509999999", 1)
			if altered == body {
				t.Fatal("fixture did not contain the From to alter")
			}
			r2 := httptest.NewRequest(http.MethodPost, inboundPath, strings.NewReader(altered))
			r2.Header = r.Header
			return r2
		}, http.StatusForbidden, "signature does not match"},
		{"added parameter", func(t *testing.T) *http.Request {
			r := signedPost(t, testToken, good, inboundPath, body)
			r2 := httptest.NewRequest(http.MethodPost, inboundPath, strings.NewReader(body+"&Extra=1"))
			r2.Header = r.Header
			return r2
		}, http.StatusForbidden, "signature does not match"},
		{"repeated parameter", func(t *testing.T) *http.Request {
			// The validator signs only the first value: a second Body must not slip through.
			r := signedPost(t, testToken, good, inboundPath, body)
			r2 := httptest.NewRequest(http.MethodPost, inboundPath, strings.NewReader(body+"&Body=evil"))
			r2.Header = r.Header
			return r2
		}, http.StatusForbidden, "repeated form field"},
		{"wrong URL (host)", func(t *testing.T) *http.Request {
			return signedPost(t, testToken, "https://evil.example.com"+inboundPath, inboundPath, body)
		}, http.StatusForbidden, "signature does not match"},
		{"wrong URL (path)", func(t *testing.T) *http.Request {
			return signedPost(t, testToken, testPublic+"/webhooks/twilio/other", inboundPath, body)
		}, http.StatusForbidden, "signature does not match"},
		{"wrong URL (scheme)", func(t *testing.T) *http.Request {
			return signedPost(t, testToken, "http://wasl.example.edu"+inboundPath, inboundPath, body)
		}, http.StatusForbidden, "signature does not match"},
		{"query string not signed", func(t *testing.T) *http.Request {
			return signedPost(t, testToken, good, inboundPath+"?x=1", body)
		}, http.StatusForbidden, "signature does not match"},
		{"another account", func(t *testing.T) *http.Request {
			other := strings.Replace(body, testAccount, "AC00000000000000000000000000000000", 1)
			return signedPost(t, testToken, good, inboundPath, other)
		}, http.StatusForbidden, "signed for another account"},
		{"GET", func(t *testing.T) *http.Request {
			return httptest.NewRequest(http.MethodGet, inboundPath+"?"+body, nil)
		}, http.StatusMethodNotAllowed, ""},
		{"too large", func(t *testing.T) *http.Request {
			big := body + "&Pad=" + strings.Repeat("x", maxFormBytes)
			return signedPost(t, testToken, good, inboundPath, big)
		}, http.StatusRequestEntityTooLarge, "body too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := newChannel(t, nil)
			sink := &fakeSink{}
			upd := &fakeUpdater{known: map[string]bool{}}
			for _, h := range []http.Handler{c.InboundHandler(sink), c.StatusHandler(upd)} {
				w := serve(h, tt.req(t))
				if w.Code != tt.want {
					t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.want)
				}
			}
			if n := len(sink.calls()); n != 0 {
				t.Errorf("sink called %d times for a refused request", n)
			}
			if n := len(upd.calls()); n != 0 {
				t.Errorf("updater called %d times for a refused request", n)
			}
			if tt.logLine != "" && !strings.Contains(logs.String(), tt.logLine) {
				t.Errorf("log lacks %q:\n%s", tt.logLine, logs)
			}
		})
	}
}

// A valid request passes with the same setup as TestSignatureRefused, so
// the refusals above are about the defect each case introduces.
func TestSignatureAccepted(t *testing.T) {
	c, _ := newChannel(t, nil)
	sink := &fakeSink{}
	body := fixture(t, "inbound_sms_arabic.form")
	w := serve(c.InboundHandler(sink), signedPost(t, testToken, testPublic+inboundPath, inboundPath, body))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", w.Code, w.Body)
	}
	if n := len(sink.calls()); n != 1 {
		t.Fatalf("sink called %d times, want 1", n)
	}
}

func TestSignedURL(t *testing.T) {
	tests := []struct {
		name    string
		public  string
		trust   bool
		target  string
		headers map[string]string
		want    string
	}{
		{"public URL", "https://wasl.example.edu", false, "/webhooks/twilio/x", nil, "https://wasl.example.edu/webhooks/twilio/x"},
		{"trailing slash", "https://wasl.example.edu/", false, "/webhooks/twilio/x", nil, "https://wasl.example.edu/webhooks/twilio/x"},
		{"query kept", "https://wasl.example.edu", false, "/webhooks/twilio/x?tenant=1&b=%20", nil, "https://wasl.example.edu/webhooks/twilio/x?tenant=1&b=%20"},
		{"port kept", "https://wasl.example.edu:8443", false, "/w", nil, "https://wasl.example.edu:8443/w"},
		{"path prefix stripped by a proxy", "https://example.edu/wasl", false, "/webhooks/twilio/x", nil, "https://example.edu/wasl/webhooks/twilio/x"},
		{"forwarded headers ignored unless trusted", "https://wasl.example.edu", false, "/w",
			map[string]string{"X-Forwarded-Proto": "http", "X-Forwarded-Host": "evil.example.com"}, "https://wasl.example.edu/w"},
		{"forwarded headers trusted", "http://10.0.0.5:8080", true, "/w",
			map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "sms.example.edu"}, "https://sms.example.edu/w"},
		{"forwarded lists: leftmost", "http://10.0.0.5:8080", true, "/w",
			map[string]string{"X-Forwarded-Proto": "https, http", "X-Forwarded-Host": "sms.example.edu, lb.internal"}, "https://sms.example.edu/w"},
		{"trusted but absent", "https://wasl.example.edu", true, "/w", nil, "https://wasl.example.edu/w"},
		{"trusted but malformed", "https://wasl.example.edu", true, "/w",
			map[string]string{"X-Forwarded-Proto": "gopher", "X-Forwarded-Host": "a/b"}, "https://wasl.example.edu/w"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newChannel(t, func(cfg *Config) {
				cfg.PublicURL = tt.public
				cfg.TrustForwardedHeaders = tt.trust
			})
			r := httptest.NewRequest(http.MethodPost, tt.target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			if got := c.signedURL(r); got != tt.want {
				t.Errorf("signedURL = %q, want %q", got, tt.want)
			}
		})
	}
}
