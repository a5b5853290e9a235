package sms

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzWebhook posts arbitrary form bodies, correctly signed when they parse
// (so the parsing behind the signature check is reached) and forged
// otherwise. Neither handler may panic, every answer must be one the
// handlers document, and whatever reaches the sink must be storable.
func FuzzWebhook(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.form"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(strings.TrimSpace(string(b)), true)
	}
	for _, s := range []string{
		"", "=", "&&&", "%", "%zz", "a;b", "MessageSid=&From=",
		"MessageSid=SM1&From=%2B966501234567&NumMedia=-1",
		"MessageSid=SM1&From=%2B966501234567&NumMedia=9223372036854775808",
		"MessageSid=SM1&From=%2B966501234567&NumMedia=3&MediaUrl2=%00",
		"MessageSid=SM1&From=whatsapp%3A&Body=%ED%A0%80",
		"MessageSid=SM1&From=%2B1&MessageStatus=delivered&ErrorCode=%FF",
		"MessageSid=SM1&MessageSid=SM2&From=%2B966501234567",
	} {
		f.Add(s, true)
		f.Add(s, false)
	}
	cfg := testConfig()
	c, err := New(cfg, discardLogger())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string, sign bool) {
		sink := &fakeSink{}
		upd := &fakeUpdater{known: map[string]bool{}}
		for _, h := range []struct {
			handler http.Handler
			path    string
		}{{c.InboundHandler(sink), inboundPath}, {c.StatusHandler(upd), statusPath}} {
			r := httptest.NewRequest(http.MethodPost, h.path, strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			signed := false
			if form, err := url.ParseQuery(body); err == nil && sign {
				r.Header.Set("X-Twilio-Signature", Sign(testToken, testPublic+h.path, form))
				signed = true
			} else {
				r.Header.Set("X-Twilio-Signature", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
			}
			w := serve(h.handler, r)
			switch w.Code {
			case 200, 400, 403, 413:
			default:
				t.Fatalf("%s: unexpected status %d (%s)", h.path, w.Code, w.Body)
			}
			if !signed && w.Code == 200 {
				t.Fatalf("%s: forged request accepted", h.path)
			}
		}
		for _, in := range sink.calls() {
			if in.ExternalID == "" || in.From.Value == "" {
				t.Fatalf("accepted a message without id or sender: %+v", in)
			}
			for _, s := range []string{in.Text, in.From.Value, in.From.Name, in.QuarantineReason} {
				if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
					t.Fatalf("unstorable string %q in %+v", s, in)
				}
			}
			for _, a := range in.Attachments {
				if !utf8.ValidString(a.URL) || !utf8.ValidString(a.Filename) || a.ContentType == "" {
					t.Fatalf("bad attachment %+v", a)
				}
			}
		}
		for _, u := range upd.calls() {
			if !utf8.ValidString(u.ErrText) || u.ProviderID == "" {
				t.Fatalf("bad update %+v", u)
			}
		}
	})
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
