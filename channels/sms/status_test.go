package sms

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

func TestStatusHandler(t *testing.T) {
	const sid = "SM5e4d3c2b1a0f9e8d7c6b5a4f3e2d1c0b"
	tests := []struct {
		name     string
		body     string
		known    bool
		updErr   error
		wantCode int
		want     []update
		wantLog  string
	}{
		{"delivered", fixture(t, "status_delivered.form"), true, nil, 200,
			[]update{{7, sid, message.StateDelivered, ""}}, "twilio status recorded"},
		{"undelivered with error code", fixture(t, "status_undelivered_30003.form"), true, nil, 200,
			[]update{{7, sid, message.StateUndelivered, "twilio error 30003: unreachable destination handset (https://www.twilio.com/docs/errors/30003)"}}, ""},
		{"WhatsApp read counts as delivered", fixture(t, "status_whatsapp_read.form"), true, nil, 200,
			[]update{{7, sid, message.StateDelivered, ""}}, ""},
		{"each Twilio status", "MessageSid=" + sid + "&MessageStatus=sending", true, nil, 200,
			[]update{{7, sid, message.StateSending, ""}}, ""},
		{"failed with message", "MessageSid=" + sid + "&MessageStatus=failed&ErrorCode=21610", true, nil, 200,
			[]update{{7, sid, message.StateFailed, "twilio error 21610: recipient has unsubscribed (replied STOP) (https://www.twilio.com/docs/errors/21610)"}}, ""},
		{"legacy SmsSid/SmsStatus only", "SmsSid=" + sid + "&SmsStatus=sent", true, nil, 200,
			[]update{{7, sid, message.StateSent, ""}}, ""},
		{"unknown message answers 200 and logs", fixture(t, "status_delivered.form"), false, nil, 200,
			[]update{{7, sid, message.StateDelivered, ""}}, "does not know"},
		{"unknown status is ignored", "MessageSid=" + sid + "&MessageStatus=receiving", true, nil, 200,
			nil, "unknown status"},
		{"store down answers 503", fixture(t, "status_delivered.form"), true, errStoreDown, 503,
			[]update{{7, sid, message.StateDelivered, ""}}, "status not recorded"},
		{"missing MessageStatus", "MessageSid=" + sid, true, nil, 400, nil, "MessageSid or MessageStatus missing"},
		{"missing MessageSid", "MessageStatus=sent", true, nil, 400, nil, "MessageSid or MessageStatus missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, logs := newChannel(t, nil)
			upd := &fakeUpdater{known: map[string]bool{sid: tt.known}, err: tt.updErr}
			w := serve(c.StatusHandler(upd), signedPost(t, testToken, testPublic+statusPath, statusPath, tt.body))
			if w.Code != tt.wantCode {
				t.Errorf("status %d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tt.wantCode)
			}
			if got := upd.calls(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("updates = %+v, want %+v", got, tt.want)
			}
			if !strings.Contains(logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, logs)
			}
		})
	}
}

// Every status Twilio documents for outbound messages maps to a state.
func TestDeliveryState(t *testing.T) {
	tests := map[string]message.DeliveryState{
		"accepted": message.StateQueued, "scheduled": message.StateQueued, "queued": message.StateQueued,
		"sending": message.StateSending, "sent": message.StateSent,
		"delivered": message.StateDelivered, "read": message.StateDelivered,
		"undelivered": message.StateUndelivered, "failed": message.StateFailed, "canceled": message.StateFailed,
		"DELIVERED": message.StateDelivered,
	}
	for status, want := range tests {
		if got, ok := deliveryState(status); !ok || got != want {
			t.Errorf("deliveryState(%q) = %q, %v; want %q", status, got, ok, want)
		}
	}
	for _, status := range []string{"", "received", "receiving", "bogus"} {
		if got, ok := deliveryState(status); ok {
			t.Errorf("deliveryState(%q) = %q, want unknown", status, got)
		}
	}
}

// A status callback signed for the inbound URL is refused on the status URL.
func TestStatusNotReplayableFromInbound(t *testing.T) {
	c, _ := newChannel(t, nil)
	upd := &fakeUpdater{}
	w := serve(c.StatusHandler(upd), signedPost(t, testToken, testPublic+inboundPath, statusPath, fixture(t, "status_delivered.form")))
	if w.Code != http.StatusForbidden || len(upd.calls()) != 0 {
		t.Fatalf("status %d, %d updates; want 403 and none", w.Code, len(upd.calls()))
	}
}
