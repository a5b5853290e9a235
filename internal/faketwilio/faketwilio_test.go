package faketwilio

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

const (
	account = "AC3f1e5b0a9c2d4e6f8a0b1c2d3e4f5a6b"
	token   = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
	apiURL  = "https://api.twilio.com/2010-04-01/Accounts/" + account + "/Messages.json"
)

func post(t *testing.T, s *Server, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, apiURL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("decode reply: %v", err)
	}
	return resp.StatusCode, body
}

func TestCreateMessage(t *testing.T) {
	s := Start(t, account, token)
	status, body := post(t, s, account, token, url.Values{
		"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {"مرحبا"},
		"StatusCallback": {"https://wasl.example.edu/webhooks/twilio/x/status"},
	})
	if status != http.StatusCreated {
		t.Fatalf("status %d %v, want 201", status, body)
	}
	sid, _ := body["sid"].(string)
	if !strings.HasPrefix(sid, "SM") || len(sid) != 34 {
		t.Errorf("sid %q, want SM + 32 hex", sid)
	}
	for k, want := range map[string]any{
		"status": "queued", "to": "+966501234567", "from": "+966115550100", "body": "مرحبا",
		"num_segments": "1", "account_sid": account, "direction": "outbound-api", "error_code": nil,
	} {
		if body[k] != want {
			t.Errorf("%s = %#v, want %#v", k, body[k], want)
		}
	}
	sent := s.Sent()
	if len(sent) != 1 || sent[0].SID != sid || sent[0].StatusCallback != "https://wasl.example.edu/webhooks/twilio/x/status" {
		t.Errorf("Sent = %+v", sent)
	}
}

func TestCreateMessageErrors(t *testing.T) {
	tests := []struct {
		name       string
		user, pass string
		form       url.Values
		fail       bool
		wantStatus int
		wantCode   float64
	}{
		{"no auth", "", "", url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {"x"}}, false, 401, 20003},
		{"wrong token", account, "nope", url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {"x"}}, false, 401, 20003},
		{"no To", account, token, url.Values{"From": {"+966115550100"}, "Body": {"x"}}, false, 400, 21604},
		{"no From", account, token, url.Values{"To": {"+966501234567"}, "Body": {"x"}}, false, 400, 21603},
		{"no Body", account, token, url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}}, false, 400, 21602},
		{"invalid To", account, token, url.Values{"To": {"0501"}, "From": {"+966115550100"}, "Body": {"x"}}, false, 400, 21211},
		{"channel mismatch", account, token, url.Values{"To": {"+966501234567"}, "From": {"whatsapp:+14155238886"}, "Body": {"x"}}, false, 400, 21910},
		{"too long", account, token, url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {strings.Repeat("x", 1601)}}, false, 400, 21617},
		{"scripted failure", account, token, url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {"x"}}, true, 429, 20429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t, account, token)
			if tt.fail {
				s.FailNext(1, 429, 20429, "Too Many Requests")
			}
			status, body := post(t, s, tt.user, tt.pass, tt.form)
			if status != tt.wantStatus || body["code"] != tt.wantCode || body["status"] != float64(tt.wantStatus) {
				t.Errorf("got %d %v, want %d with code %v", status, body, tt.wantStatus, tt.wantCode)
			}
			if body["more_info"] != fmt.Sprintf("https://www.twilio.com/docs/errors/%.0f", tt.wantCode) {
				t.Errorf("more_info = %v", body["more_info"])
			}
			if msg, _ := body["message"].(string); msg == "" {
				t.Errorf("error body without message: %v", body)
			}
			if len(s.Sent()) != 0 {
				t.Errorf("a refused message was recorded as sent")
			}
			if reqs := s.Requests(); len(reqs) != 1 || reqs[0].Status != tt.wantStatus {
				t.Errorf("Requests = %+v", reqs)
			}
		})
	}
}

func TestFailNextDropsConnection(t *testing.T) {
	s := Start(t, account, token)
	s.FailNext(1, 0, 0, "")
	req, _ := http.NewRequest(http.MethodPost, apiURL, strings.NewReader("To=%2B966501234567"))
	req.SetBasicAuth(account, token)
	if resp, err := s.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("got HTTP %d, want a connection error", resp.StatusCode)
	}
}

func TestMediaRedirectsToCDN(t *testing.T) {
	s := Start(t, account, token)
	u := s.AddMedia("image/png", []byte("PNG"))
	if !strings.HasPrefix(u, "https://api.twilio.com/2010-04-01/Accounts/"+account+"/Messages/MM") || !strings.Contains(u, "/Media/ME") {
		t.Fatalf("media URL %q", u)
	}
	for _, auth := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if auth {
			req.SetBasicAuth(account, token)
		}
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := http.StatusUnauthorized
		if auth {
			want = http.StatusOK
		}
		if resp.StatusCode != want {
			t.Fatalf("auth=%v: status %d, want %d", auth, resp.StatusCode, want)
		}
		if auth && (string(data) != "PNG" || resp.Header.Get("Content-Type") != "image/png" || resp.Request.URL.Host != MediaHost) {
			t.Errorf("got %q %q from %s", data, resp.Header.Get("Content-Type"), resp.Request.URL)
		}
	}
}

func TestClientRefusesOtherHosts(t *testing.T) {
	s := Start(t, account, token)
	resp, err := s.Client().Get("https://example.com/")
	if err == nil {
		resp.Body.Close()
		t.Fatal("the fake's client reached a real host")
	}
}

// Twilio's documented example
// (https://www.twilio.com/docs/usage/security#validating-requests).
func TestSignature(t *testing.T) {
	form := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	if got := Signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", form); got != "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" {
		t.Fatalf("Signature = %q", got)
	}
}

func TestInboundAndStatusForms(t *testing.T) {
	s := Start(t, account, token)
	f := s.InboundForm(Inbound{From: "whatsapp:+966501234567", To: "whatsapp:+14155238886", Body: "hi", ProfileName: "Sara",
		Media: []Media{{ContentType: "image/jpeg", Data: []byte("J")}}})
	for k, want := range map[string]string{
		"From": "whatsapp:+966501234567", "To": "whatsapp:+14155238886", "Body": "hi", "ProfileName": "Sara",
		"NumMedia": "1", "MediaContentType0": "image/jpeg", "WaId": "966501234567", "AccountSid": account,
		"MessageType": "image", "SmsStatus": "received",
	} {
		if got := f.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if sid := f.Get("MessageSid"); !strings.HasPrefix(sid, "MM") || f.Get("SmsMessageSid") != sid {
		t.Errorf("MessageSid %q", sid)
	}
	if !strings.Contains(f.Get("MediaUrl0"), "/Messages/"+f.Get("MessageSid")+"/Media/ME") {
		t.Errorf("MediaUrl0 %q does not belong to the message", f.Get("MediaUrl0"))
	}

	if _, _, err := s.StatusForm("SMnope", "sent", 0); err == nil {
		t.Error("StatusForm for an unknown sid succeeded")
	}
	status, body := post(t, s, account, token, url.Values{"To": {"+966501234567"}, "From": {"+966115550100"}, "Body": {"x"}, "StatusCallback": {"https://w.example/s"}})
	if status != 201 {
		t.Fatal(body)
	}
	u, sf, err := s.StatusForm(body["sid"].(string), "undelivered", 30003)
	if err != nil || u != "https://w.example/s" || sf.Get("MessageStatus") != "undelivered" || sf.Get("ErrorCode") != "30003" {
		t.Errorf("StatusForm = %q %v %v", u, sf, err)
	}
	req, err := s.WebhookRequest(u, sf)
	if err != nil {
		t.Fatal(err)
	}
	if got := req.Header.Get("X-Twilio-Signature"); got != Signature(token, u, sf) {
		t.Errorf("signature %q", got)
	}
}
