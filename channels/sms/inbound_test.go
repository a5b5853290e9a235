package sms

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

const mediaBase = "https://api.twilio.com/2010-04-01/Accounts/" + testAccount + "/Messages/"

func TestInboundHandler(t *testing.T) {
	tests := []struct {
		name   string
		config func(*Config)
		body   string
		want   message.Inbound // Raw and ReceivedAt are checked apart
	}{
		{
			name: "Arabic SMS",
			body: fixture(t, "inbound_sms_arabic.form"),
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "SM6d2f0c1b3a5e4d7c9b8a0f1e2d3c4b5a",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				To:   []string{"+966115550100"},
				Text: "السلام عليكم، أحتاج جهاز عرض للقاعة ٣٠٢ يوم الأحد",
			},
		},
		{
			name:   "WhatsApp with image and profile name",
			config: func(c *Config) { c.From = "whatsapp:+14155238886" },
			body:   fixture(t, "inbound_whatsapp_image.form"),
			want: message.Inbound{
				ChannelID: 7, Channel: message.WhatsApp, ExternalID: "MM0a1b2c3d4e5f60718293a4b5c6d7e8f9",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567", Name: "محمد العتيبي"},
				To:   []string{"+14155238886"},
				Text: "صورة العطل في جهاز العرض",
				Attachments: []message.Attachment{{
					Filename:    "ME11112222333344445555666677778888.jpg",
					ContentType: "image/jpeg",
					URL:         mediaBase + "MM0a1b2c3d4e5f60718293a4b5c6d7e8f9/Media/ME11112222333344445555666677778888",
				}},
			},
		},
		{
			name: "MMS with two media, national From number",
			body: fixture(t, "inbound_mms_two_media.form"),
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "MM99998888777766665555444433332222",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				To:   []string{"+966115550100"},
				Text: "Clearance form and receipt attached",
				Attachments: []message.Attachment{
					{Filename: "MEaaaabbbbccccddddeeeeffff00001111.png", ContentType: "image/png",
						URL: mediaBase + "MM99998888777766665555444433332222/Media/MEaaaabbbbccccddddeeeeffff00001111"},
					{Filename: "ME22223333444455556666777788889999.pdf", ContentType: "application/pdf",
						URL: mediaBase + "MM99998888777766665555444433332222/Media/ME22223333444455556666777788889999"},
				},
			},
		},
		{
			name: "alphanumeric sender is quarantined, not refused",
			body: fixture(t, "inbound_alphanumeric_sender.form"),
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "SM0f0e0d0c0b0a09080706050403020100",
				From:        message.Party{Kind: message.IdentityPhone, Value: "STC"},
				To:          []string{"+966115550100"},
				Text:        "Your verification code is 4821",
				Quarantined: true, QuarantineReason: "sender is not a phone number",
			},
		},
		{
			name: "invalid UTF-8 and NUL in body are replaced and quarantined",
			body: "MessageSid=SM1&From=%2B966501234567&To=%2B966115550100&Body=ok%FF%00end",
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "SM1",
				From:        message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				To:          []string{"+966115550100"},
				Text:        "ok\uFFFDend",
				Quarantined: true, QuarantineReason: "Body was not valid UTF-8",
			},
		},
		{
			name: "NumMedia beyond Twilio's limit keeps the media present",
			body: "MessageSid=MM2&From=%2B966501234567&NumMedia=99&MediaUrl0=https%3A%2F%2Fapi.twilio.com%2Fm%2FME1&MediaContentType0=image%2Fgif",
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "MM2",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				Attachments: []message.Attachment{
					{Filename: "ME1.gif", ContentType: "image/gif", URL: "https://api.twilio.com/m/ME1"},
				},
				Quarantined: true, QuarantineReason: `NumMedia "99" is not a number from 0 to 10`,
			},
		},
		{
			name: "missing media URL and odd content type",
			body: "MessageSid=MM3&From=%2B966501234567&NumMedia=2&MediaUrl1=https%3A%2F%2Fapi.twilio.com%2Fm%2FME2&MediaContentType1=not+a+type",
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "MM3",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				Attachments: []message.Attachment{
					{Filename: "ME2.bin", ContentType: "application/octet-stream", URL: "https://api.twilio.com/m/ME2"},
				},
				Quarantined: true, QuarantineReason: "MediaUrl0 is missing",
			},
		},
		{
			name: "media URL that is not https",
			body: "MessageSid=MM4&From=%2B966501234567&NumMedia=1&MediaUrl0=http%3A%2F%2F10.0.0.1%2Fx&MediaContentType0=image%2Fpng",
			want: message.Inbound{
				ChannelID: 7, Channel: message.SMS, ExternalID: "MM4",
				From: message.Party{Kind: message.IdentityPhone, Value: "+966501234567"},
				Attachments: []message.Attachment{
					{Filename: "x.png", ContentType: "image/png", URL: "http://10.0.0.1/x"},
				},
				Quarantined: true, QuarantineReason: "MediaUrl0 \"http://10.0.0.1/x\" is not an https URL",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newChannel(t, tt.config)
			sink := &fakeSink{}
			w := serve(c.InboundHandler(sink), signedPost(t, testToken, testPublic+inboundPath, inboundPath, tt.body))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d (%s), want 200", w.Code, w.Body)
			}
			if ct := w.Header().Get("Content-Type"); ct != "text/xml" {
				t.Errorf("Content-Type %q, want text/xml", ct)
			}
			if got := w.Body.String(); got != `<?xml version="1.0" encoding="UTF-8"?><Response></Response>` {
				t.Errorf("body %q, want empty TwiML", got)
			}
			calls := sink.calls()
			if len(calls) != 1 {
				t.Fatalf("sink called %d times, want 1", len(calls))
			}
			got := calls[0]
			if string(got.Raw) != tt.body {
				t.Errorf("Raw = %q, want the request body", got.Raw)
			}
			if !got.ReceivedAt.Equal(testNow) {
				t.Errorf("ReceivedAt = %v, want %v", got.ReceivedAt, testNow)
			}
			if !strings.Contains(got.QuarantineReason, tt.want.QuarantineReason) || (tt.want.QuarantineReason == "") != (got.QuarantineReason == "") {
				t.Errorf("QuarantineReason = %q, want it to contain %q", got.QuarantineReason, tt.want.QuarantineReason)
			}
			got.Raw, got.ReceivedAt, got.QuarantineReason = nil, tt.want.ReceivedAt, tt.want.QuarantineReason
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Inbound =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

func TestInboundHandlerOutcomes(t *testing.T) {
	body := fixture(t, "inbound_sms_arabic.form")
	tests := []struct {
		name      string
		body      string
		sinkErr   error
		posts     int
		wantCodes []int
		wantCalls int
		wantLog   string
	}{
		{"replayed MessageSid still answers 200 (the pipeline dedupes)", body, nil, 2, []int{200, 200}, 2, "duplicate=true"},
		{"store down and no spool configured: 503", body, errStoreDown, 1, []int{503}, 1, "connection refused"},
		{"missing MessageSid", "From=%2B966501234567&Body=hi", nil, 1, []int{400}, 0, "MessageSid is missing"},
		{"missing From", "MessageSid=SM9&Body=hi", nil, 1, []int{400}, 0, "From is missing"},
		{"From with only a prefix", "MessageSid=SM9&From=whatsapp%3A&Body=hi", nil, 1, []int{400}, 0, "names no sender"},
		{"MessageSid that is no sid", "MessageSid=SM%27%3B--&From=%2B966501234567", nil, 1, []int{400}, 0, "is not a Twilio sid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := newChannel(t, nil)
			sink := &fakeSink{err: tt.sinkErr}
			h := c.InboundHandler(sink)
			for i := range tt.posts {
				w := serve(h, signedPost(t, testToken, testPublic+inboundPath, inboundPath, tt.body))
				if w.Code != tt.wantCodes[i] {
					t.Errorf("post %d: status %d (%s), want %d", i+1, w.Code, w.Body, tt.wantCodes[i])
				}
				if w.Code == 503 && strings.Contains(w.Body.String(), "connection refused") {
					t.Errorf("503 body leaks the store error: %q", w.Body)
				}
			}
			if n := len(sink.calls()); n != tt.wantCalls {
				t.Errorf("sink called %d times, want %d", n, tt.wantCalls)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
		})
	}
}

// Behind a proxy Twilio signs the public URL while the request reaches Wasl
// on an internal address.
func TestInboundBehindProxy(t *testing.T) {
	body := fixture(t, "inbound_sms_arabic.form")
	public := "https://sms.example.edu" + inboundPath + "?tenant=uni"
	for _, trust := range []bool{true, false} {
		c, _ := newChannel(t, func(cfg *Config) {
			cfg.PublicURL = "http://10.0.0.5:8080"
			cfg.TrustForwardedHeaders = trust
		})
		sink := &fakeSink{}
		r := signedPost(t, testToken, public, inboundPath+"?tenant=uni", body)
		r.Header.Set("X-Forwarded-Proto", "https")
		r.Header.Set("X-Forwarded-Host", "sms.example.edu")
		w := serve(c.InboundHandler(sink), r)
		want := http.StatusForbidden
		if trust {
			want = http.StatusOK
		}
		if w.Code != want {
			t.Errorf("trust=%v: status %d, want %d", trust, w.Code, want)
		}
	}
}

// The context the sink sees outlives the request's: a client that hangs up
// must not roll back a message that is being committed.
func TestInboundIgnoresClientCancel(t *testing.T) {
	c, _ := newChannel(t, nil)
	sink := &fakeSink{}
	r := signedPost(t, testToken, testPublic+inboundPath, inboundPath, fixture(t, "inbound_sms_arabic.form"))
	ctx, cancel := context.WithCancel(r.Context())
	cancel()
	w := serve(c.InboundHandler(sink), r.WithContext(ctx))
	if w.Code != http.StatusOK || len(sink.calls()) != 1 {
		t.Fatalf("status %d, sink calls %d; want 200 and 1", w.Code, len(sink.calls()))
	}
}

func TestMediaFilename(t *testing.T) {
	tests := []struct {
		url, ct, want string
	}{
		{mediaBase + "MM1/Media/ME1", "image/jpeg", "ME1.jpg"},
		{mediaBase + "MM1/Media/ME1", "audio/ogg; codecs=opus", "ME1.ogg"},
		{mediaBase + "MM1/Media/ME1", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "ME1.docx"},
		{mediaBase + "MM1/Media/ME1", "application/x-unknown-thing", "ME1.bin"},
		{"https://api.twilio.com/", "image/png", "media3.png"},
		{"https://api.twilio.com/../../etc/passwd", "text/plain", "passwd.txt"},
		{"::not a url", "image/png", "media3.png"},
	}
	for _, tt := range tests {
		if got := mediaFilename(tt.url, tt.ct, 3); got != tt.want {
			t.Errorf("mediaFilename(%q, %q) = %q, want %q", tt.url, tt.ct, got, tt.want)
		}
	}
}

func TestDescribeError(t *testing.T) {
	tests := []struct{ code, msg, want string }{
		{"", "", ""},
		{"30003", "", "twilio error 30003: unreachable destination handset (https://www.twilio.com/docs/errors/30003)"},
		{"30003", "Custom text", "twilio error 30003: Custom text (https://www.twilio.com/docs/errors/30003)"},
		{"39999", "", "twilio error 39999 (https://www.twilio.com/docs/errors/39999)"},
		{"x", "", "twilio error x"},
	}
	for _, tt := range tests {
		if got := describeError(tt.code, tt.msg); got != tt.want {
			t.Errorf("describeError(%q, %q) = %q, want %q", tt.code, tt.msg, got, tt.want)
		}
	}
}
