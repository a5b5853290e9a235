package config

import (
	"strings"
	"testing"
	"time"
)

const intakeBase = `
knowledge_bank: bank.yaml
channels:
  - name: support
    kind: email
    imap: {addr: "imap.example.edu:993", username: support, password: p}
    smtp: {addr: "smtp.example.edu:587", from: "Support <support@example.edu>"}
  - name: sms
    kind: sms
    twilio: {account_sid: AC1, auth_token: t, from: "+966500000000"}
  - name: wa-twilio
    kind: sms
    twilio: {account_sid: AC1, auth_token: t, from: "whatsapp:+14155238886"}
`

func TestIntakeChannels(t *testing.T) {
	good := intakeBase + `  - name: forms
    kind: form
    form:
      reply_email: support
      reply_sms: sms
      reply_whatsapp: wa-twilio
      frame_ancestors: [https://uqu.edu.sa, "https://*.uqu.edu.sa"]
      min_fill_time: 2s
      per_ip: {max: 3, within: 1h}
  - name: phone
    kind: phone
    phone: {send_sms: sms, send_whatsapp: wa-twilio}
`
	cfg, err := Parse([]byte(good), "wasl.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	f := cfg.Channels[3].Form
	if f.ReplyWhatsApp != "wa-twilio" || len(f.FrameAncestors) != 2 || f.MinFillTime.D(0) != 2*time.Second || f.PerIP.Max != 3 {
		t.Errorf("form settings %+v", f)
	}
	if p := cfg.Channels[4].Phone; p.SendSMS != "sms" || p.SendWhatsApp != "wa-twilio" {
		t.Errorf("phone settings %+v", p)
	}

	tests := []struct {
		name, yaml, want string
	}{
		{"no reply email", "  - {name: forms, kind: form}\n", `channel "forms": form channels need form.reply_email`},
		{"reply email is sms", "  - {name: forms, kind: form, form: {reply_email: sms}}\n", `form.reply_email: channel "sms" is sms, want an email channel`},
		{"unknown channel", "  - {name: forms, kind: form, form: {reply_email: support, reply_sms: nope}}\n", `form.reply_sms: no channel named "nope"`},
		{"whatsapp number as sms", "  - {name: forms, kind: form, form: {reply_email: support, reply_sms: wa-twilio}}\n", `form.reply_sms: channel "wa-twilio" is not a Twilio SMS number`},
		{"sms number as whatsapp", "  - {name: phone, kind: phone, phone: {send_whatsapp: sms}}\n", `phone.send_whatsapp: channel "sms" is not WhatsApp`},
		{"frame any origin", "  - {name: forms, kind: form, form: {reply_email: support, frame_ancestors: ['*']}}\n", `form.frame_ancestors: "*": want an origin`},
		{"frame with a path", "  - {name: forms, kind: form, form: {reply_email: support, frame_ancestors: ['https://uqu.edu.sa/x']}}\n", `"https://uqu.edu.sa/x": want an origin`},
		{"frame two policies", "  - {name: forms, kind: form, form: {reply_email: support, frame_ancestors: ['https://a.sa; script-src *']}}\n", `want an origin`},
		{"two form channels", "  - {name: f1, kind: form, form: {reply_email: support}}\n  - {name: f2, kind: form, form: {reply_email: support}}\n", `only one enabled form channel is supported, found 2`},
		{"twilio on a phone line", "  - {name: phone, kind: phone, twilio: {account_sid: AC1}}\n", `a phone channel takes no imap, smtp, twilio or whatsapp settings`},
		{"max age under fill time", "  - {name: forms, kind: form, form: {reply_email: support, min_fill_time: 10m, max_age: 5m}}\n", `form.max_age must be longer than form.min_fill_time`},
		{"unknown setting", "  - {name: forms, kind: form, form: {reply_email: support, captcha: true}}\n", `unknown field "captcha"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(intakeBase+tt.yaml), "wasl.yaml", env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
