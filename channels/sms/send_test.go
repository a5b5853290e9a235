package sms

import (
	"context"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

func fakeChannel(t *testing.T, mutate func(*Config)) (*Channel, *faketwilio.Server, *syncBuffer) {
	t.Helper()
	fake := faketwilio.Start(t, testAccount, testToken)
	c, logs := newChannel(t, func(cfg *Config) {
		cfg.HTTPClient = fake.Client()
		if mutate != nil {
			mutate(cfg)
		}
	})
	return c, fake, logs
}

// reply is an outbound message as the store hands it to the sender: its
// Channel is the channel row's kind, sms for every Twilio channel.
func reply(to, text string) message.Outbound {
	return message.Outbound{ID: 42, ChannelID: 7, Channel: ConfigKind, To: message.Party{Kind: message.IdentityPhone, Value: to}, Text: text, Auto: true}
}

func TestSendForm(t *testing.T) {
	const arabic = "شكرًا لتواصلك. سجّل طلبك من الرابط: https://uni.example.edu/forms/av"
	tests := []struct {
		name     string
		config   func(*Config)
		to       string
		want     map[string]string // form fields; "" means absent
		wantKind message.Kind
	}{
		{"SMS from a number", nil, "+966501234567", map[string]string{
			"To": "+966501234567", "From": "+966115550100", "MessagingServiceSid": "",
		}, message.SMS},
		{"national recipient number is normalized", nil, "0501234567", map[string]string{
			"To": "+966501234567", "From": "+966115550100",
		}, message.SMS},
		{"Messaging Service only", func(c *Config) { c.From = ""; c.MessagingServiceSID = testService }, "+966501234567", map[string]string{
			"To": "+966501234567", "From": "", "MessagingServiceSid": testService,
		}, message.SMS},
		{"Messaging Service and a sender from its pool", func(c *Config) { c.MessagingServiceSID = testService }, "+966501234567", map[string]string{
			"From": "+966115550100", "MessagingServiceSid": testService,
		}, message.SMS},
		{"WhatsApp adds the prefix to To", func(c *Config) { c.From = "whatsapp:+14155238886" }, "+966501234567", map[string]string{
			"To": "whatsapp:+966501234567", "From": "whatsapp:+14155238886",
		}, message.WhatsApp},
		{"WhatsApp recipient already prefixed", func(c *Config) { c.From = "whatsapp:+14155238886" }, "whatsapp:+966501234567", map[string]string{
			"To": "whatsapp:+966501234567",
		}, message.WhatsApp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake, _ := fakeChannel(t, tt.config)
			if c.Kind() != tt.wantKind {
				t.Errorf("Kind = %q, want %q", c.Kind(), tt.wantKind)
			}
			d, err := c.Send(context.Background(), reply(tt.to, arabic))
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			sent := fake.Sent()
			if len(sent) != 1 {
				t.Fatalf("fake got %d messages, want 1", len(sent))
			}
			if d.ProviderID != sent[0].SID || d.State != message.StateQueued {
				t.Errorf("Delivery = %+v, want {%s queued}", d, sent[0].SID)
			}
			form := sent[0].Form
			want := map[string]string{"Body": arabic, "StatusCallback": testPublic + statusPath}
			for k, v := range tt.want {
				want[k] = v
			}
			for k, v := range want {
				if got := form.Get(k); got != v {
					t.Errorf("form %s = %q, want %q", k, got, v)
				}
			}
			if req := fake.Requests()[0]; !req.Authorized || req.Host != faketwilio.APIHost {
				t.Errorf("request %+v: want basic auth with the account's credentials to %s", req, faketwilio.APIHost)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name          string
		status, code  int
		msg           string
		wantPermanent bool
	}{
		{"invalid To", 400, 21211, "The 'To' number +9665 is not a valid phone number.", true},
		{"unsubscribed", 400, 21610, "Attempt to send to unsubscribed recipient", true},
		{"not a mobile", 400, 21614, "'To' number is not a valid mobile number", true},
		{"other 400", 400, 21999, "Something about the request", true},
		{"not found", 404, 20404, "The requested resource was not found", true},
		{"too many requests", 429, 20429, "Too Many Requests", false},
		{"internal error", 500, 20500, "Internal Server Error", false},
		{"unavailable", 503, 20503, "Service Unavailable", false},
		{"credentials", 401, 20003, "Authenticate", false},
		{"connection dropped", 0, 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake, _ := fakeChannel(t, nil)
			fake.FailNext(1, tt.status, tt.code, tt.msg)
			_, err := c.Send(context.Background(), reply("+966501234567", "hello"))
			if err == nil {
				t.Fatal("Send succeeded, want an error")
			}
			if got := channels.IsPermanent(err); got != tt.wantPermanent {
				t.Errorf("IsPermanent = %v, want %v (err: %v)", got, tt.wantPermanent, err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q lacks Twilio's message %q", err, tt.msg)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Errorf("error leaks the auth token: %v", err)
			}
			// Send never retries by itself.
			if n := len(fake.Requests()); n != 1 {
				t.Errorf("fake got %d requests, want exactly 1", n)
			}
			// The next send goes through: FailNext was spent.
			if _, err := c.Send(context.Background(), reply("+966501234567", "hello")); err != nil {
				t.Errorf("second Send: %v", err)
			}
		})
	}
}

func TestSendRefusedLocally(t *testing.T) {
	tests := []struct {
		name string
		out  message.Outbound
	}{
		{"recipient is no phone number", reply("hello", "hi")},
		{"empty text", reply("+966501234567", " \n")},
		{"email channel's outbound", func() message.Outbound { o := reply("+966501234567", "hi"); o.Channel = message.Email; return o }()},
		{"linked-device WhatsApp channel's outbound", func() message.Outbound { o := reply("+966501234567", "hi"); o.Channel = message.WhatsApp; return o }()},
		{"other channel id", func() message.Outbound { o := reply("+966501234567", "hi"); o.ChannelID = 8; return o }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, fake, _ := fakeChannel(t, nil)
			_, err := c.Send(context.Background(), tt.out)
			if !channels.IsPermanent(err) {
				t.Errorf("err = %v, want permanent", err)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("fake got %d requests, want none", n)
			}
		})
	}
}

func TestSendWrongCredentials(t *testing.T) {
	fake := faketwilio.Start(t, testAccount, "ffffffffffffffffffffffffffffffff")
	c, _ := newChannel(t, func(cfg *Config) { cfg.HTTPClient = fake.Client() })
	_, err := c.Send(context.Background(), reply("+966501234567", "hi"))
	if err == nil || channels.IsPermanent(err) || !strings.Contains(err.Error(), "credentials") {
		t.Fatalf("err = %v, want a retryable error about credentials", err)
	}
}

func TestSendNetworkError(t *testing.T) {
	fake := faketwilio.New(testAccount, testToken)
	client := fake.Client()
	fake.Close() // nothing listens any more
	c, _ := newChannel(t, func(cfg *Config) { cfg.HTTPClient = client })
	_, err := c.Send(context.Background(), reply("+966501234567", "hi"))
	if err == nil || channels.IsPermanent(err) {
		t.Fatalf("err = %v, want a retryable error", err)
	}
}

func TestSendHonoursContext(t *testing.T) {
	c, fake, _ := fakeChannel(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Send(ctx, reply("+966501234567", "hi"))
	if !errors.Is(err, context.Canceled) || channels.IsPermanent(err) {
		t.Fatalf("err = %v, want retryable context.Canceled", err)
	}
	if n := len(fake.Sent()); n != 0 {
		t.Errorf("fake accepted %d messages after cancel", n)
	}
}

// The whole loop: Send, then Twilio's status callbacks for that message
// reach the updater.
func TestSendThenStatusCallback(t *testing.T) {
	c, fake, _ := fakeChannel(t, nil)
	d, err := c.Send(context.Background(), reply("+966501234567", "hi"))
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	upd := &fakeUpdater{known: map[string]bool{d.ProviderID: true}}
	h := c.StatusHandler(upd)
	for _, st := range []struct {
		status string
		code   int
	}{{"sent", 0}, {"undelivered", 30003}} {
		u, form, err := fake.StatusForm(d.ProviderID, st.status, st.code)
		if err != nil {
			t.Fatal(err)
		}
		if u != c.StatusCallbackURL() {
			t.Fatalf("callback URL %q, want %q", u, c.StatusCallbackURL())
		}
		req, err := fake.WebhookRequest(u, form)
		if err != nil {
			t.Fatal(err)
		}
		if w := serve(h, req); w.Code != http.StatusOK {
			t.Fatalf("%s: status %d (%s)", st.status, w.Code, w.Body)
		}
	}
	want := []update{
		{7, d.ProviderID, message.StateSent, ""},
		{7, d.ProviderID, message.StateUndelivered, "twilio error 30003: unreachable destination handset (https://www.twilio.com/docs/errors/30003)"},
	}
	if got := upd.calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("updates = %+v, want %+v", got, want)
	}
}

// An inbound message built by the fake, as Twilio posts it, goes through
// the handler; its media can then be fetched.
func TestFakeInboundRoundTrip(t *testing.T) {
	c, fake, _ := fakeChannel(t, func(cfg *Config) { cfg.From = "whatsapp:+14155238886" })
	jpeg := []byte("\xff\xd8\xff\xe0 fake jpeg")
	form := fake.InboundForm(faketwilio.Inbound{
		From: "whatsapp:+966501234567", To: "whatsapp:+14155238886",
		Body: "الجهاز لا يعمل", ProfileName: "سارة",
		Media: []faketwilio.Media{{ContentType: "image/jpeg", Data: jpeg}},
	})
	req, err := fake.WebhookRequest(c.InboundURL(), form)
	if err != nil {
		t.Fatal(err)
	}
	sink := &fakeSink{}
	if w := serve(c.InboundHandler(sink), req); w.Code != http.StatusOK {
		t.Fatalf("status %d (%s)", w.Code, w.Body)
	}
	in := sink.calls()[0]
	if in.Channel != message.WhatsApp || in.From.Value != "+966501234567" || in.From.Name != "سارة" || in.Text != "الجهاز لا يعمل" || in.Quarantined {
		t.Errorf("Inbound = %+v", in)
	}
	if len(in.Attachments) != 1 {
		t.Fatalf("attachments = %+v, want 1", in.Attachments)
	}
	data, ct, err := fetchAll(c, in.Attachments[0].URL)
	if err != nil || string(data) != string(jpeg) || ct != "image/jpeg" {
		t.Errorf("OpenMedia = %q, %q, %v", data, ct, err)
	}
}

// TestCheckAccount is "test connection" for Twilio: fetch the account with
// the channel's credentials through the same client as the sends. Twilio's
// own error text comes back on a refusal; the account's auth token, which
// Twilio's answer carries, never does.
func TestCheckAccount(t *testing.T) {
	for _, tc := range []struct {
		name, token, want string
	}{
		{"good", testToken, ""},
		{"wrong token", "ffffffffffffffffffffffffffffffff", "20003"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := faketwilio.Start(t, testAccount, tc.token)
			c, _ := newChannel(t, func(cfg *Config) { cfg.HTTPClient = fake.Client() })
			name, err := c.CheckAccount(context.Background())
			switch {
			case tc.want == "" && (err != nil || name != "Wasl test account"):
				t.Fatalf("CheckAccount = %q, %v", name, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "Authenticate")):
				t.Fatalf("CheckAccount = %v, want Twilio's %s Authenticate", err, tc.want)
			}
			if err != nil && (strings.Contains(err.Error(), testToken) || strings.Contains(err.Error(), tc.token)) {
				t.Errorf("the error shows a token: %v", err)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 || reqs[0].Method != http.MethodGet || reqs[0].Path != "/2010-04-01/Accounts/"+testAccount+".json" || !reqs[0].HasAuth {
				t.Errorf("requests at the fake: %+v", reqs)
			}
			if len(fake.Sent()) != 0 {
				t.Error("a check sent a message")
			}
		})
	}
}
