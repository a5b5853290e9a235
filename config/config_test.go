package config

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

const good = `
data_dir: /var/lib/wasl
knowledge_bank: bank.yaml
api_token: ${TOKEN}
auto_reply_window: 1d
auto_reply_cap: {max: 5, within: 12h}
channels:
  - name: support
    kind: email
    imap: {addr: "imap.example.edu:993", username: support, password: "${IMAP_PASS}"}
    smtp: {addr: "smtp.example.edu:587", from: "Support <support@example.edu>"}
  - name: sms
    kind: sms
    twilio: {account_sid: AC1, auth_token: "${TWILIO_TOKEN:-dev-token}", from: "+966500000000"}
`

func TestParseGood(t *testing.T) {
	cfg, err := Parse([]byte(good), "/etc/wasl/wasl.yaml", env(map[string]string{"TOKEN": "t0k", "IMAP_PASS": "p#ss: word"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.APIToken != "t0k" {
		t.Errorf("api token = %q", cfg.APIToken)
	}
	if got := cfg.Channels[0].IMAP.Password; got != "p#ss: word" {
		t.Errorf("password with YAML-special characters = %q", got)
	}
	if got := cfg.Channels[1].Twilio.AuthToken; got != "dev-token" {
		t.Errorf("default from ${VAR:-default} = %q", got)
	}
	if got := cfg.AutoReplyWindow.D(0); got != 24*time.Hour {
		t.Errorf("1d = %v", got)
	}
	if got := cfg.AutoReplyCap; got.Max != 5 || got.Within.D(0) != 12*time.Hour {
		t.Errorf("auto_reply_cap = %+v", got)
	}
	if got := cfg.Resolve(cfg.KnowledgeBank); got != "/etc/wasl/bank.yaml" {
		t.Errorf("Resolve = %q", got)
	}
	if got := cfg.Channels[0].IMAP.Mailboxes; len(got) != 1 || got[0] != "INBOX" {
		t.Errorf("default mailboxes = %v", got)
	}
	r := cfg.Redacted()
	if r.Channels[0].IMAP.Password == "p#ss: word" || r.APIToken == "t0k" || cfg.Channels[0].IMAP.Password != "p#ss: word" {
		t.Error("Redacted leaked a secret or changed the original")
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"missing env", "knowledge_bank: b.yaml\napi_token: ${NOPE}\n", "w.yaml:2: environment variable NOPE is not set"},
		{"unknown field", "knowledge_bank: b.yaml\nbogus: 1\n", `w.yaml:2: unknown field "bogus"`},
		{"bad duration", "knowledge_bank: b.yaml\nauto_reply_window: soon\n", `invalid duration "soon"`},
		{"negative cap", "knowledge_bank: b.yaml\nauto_reply_cap: {max: -1}\n", "auto_reply_cap.max -1"},
		{"unknown cap field", "knowledge_bank: b.yaml\nauto_reply_cap: {per: 1h}\n", `w.yaml:2: unknown field "per"`},
		{"no bank", "data_dir: x\n", "knowledge_bank is required"},
		{"bad kind", "knowledge_bank: b\nchannels: [{name: x, kind: fax}]\n", `channel "x": kind "fax"`},
		{"email without smtp", "knowledge_bank: b\nchannels: [{name: x, kind: email, imap: {addr: 'a:1', username: u, password: p}}]\n", "smtp.addr and smtp.from"},
		{"dup names", "knowledge_bank: b\nchannels: [{name: w, kind: whatsapp}, {name: w, kind: whatsapp}]\n", "name used twice"},
		{"two whatsapp", "knowledge_bank: b\nchannels: [{name: w, kind: whatsapp}, {name: v, kind: whatsapp}]\n", "only one enabled whatsapp channel"},
		{"bad name", "knowledge_bank: b\nchannels: [{name: 'My Channel', kind: whatsapp}]\n", "name must be lower-case"},
		{"bad db", "knowledge_bank: b\ndatabase_url: mysql://x\n", "database_url must be"},
		{"empty file", "", "knowledge_bank is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "w.yaml", env(nil))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestEnvOverrides(t *testing.T) {
	cfg, err := Parse([]byte("knowledge_bank: b\n"), "w.yaml", env(map[string]string{"WASL_DATABASE_URL": "postgres://u:secret@h/db", "WASL_API_TOKEN": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DatabaseURL != "postgres://u:secret@h/db" || cfg.APIToken != "x" {
		t.Errorf("env overrides not applied: %+v", cfg)
	}
	if r := cfg.Redacted(); strings.Contains(r.DatabaseURL, "secret") {
		t.Errorf("redacted URL leaks: %s", r.DatabaseURL)
	}
}

func TestEnvIntoNumber(t *testing.T) {
	cfg, err := Parse([]byte("knowledge_bank: b\njobs: {workers: \"${W}\"}\n"), "w.yaml", env(map[string]string{"W": "7"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Jobs.Workers != 7 {
		t.Errorf("workers = %d", cfg.Jobs.Workers)
	}
}

func TestRescueAfterSendTimeout(t *testing.T) {
	_, err := Parse([]byte("knowledge_bank: b\njobs: {send_timeout: 2m, rescue_after: 1m}\n"), "w.yaml", env(nil))
	if err == nil || !strings.Contains(err.Error(), "rescue_after") {
		t.Fatalf("error = %v", err)
	}
}

// Durations read the grammar the knowledge bank's SLAs use
// (message.ParseDuration), days and hours together included.
func TestDurations(t *testing.T) {
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"36h", 36 * time.Hour},
		{"7d", 7 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"2d30m", 48*time.Hour + 30*time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			cfg, err := Parse([]byte("knowledge_bank: b\nconversation_window: "+tt.value+"\n"), "w.yaml", env(nil))
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ConversationWindow.D(0); got != tt.want {
				t.Errorf("conversation_window: %s = %s, want %s", tt.value, got, tt.want)
			}
		})
	}
}

func TestFirstSync(t *testing.T) {
	channel := func(v string) string {
		return "knowledge_bank: b\nchannels:\n  - name: support\n    kind: email\n" +
			"    imap:\n      addr: imap.example.edu:993\n      username: u\n      password: p\n" + v +
			"    smtp: {addr: 'smtp.example.edu:587', from: support@example.edu}\n"
	}
	tests := []struct {
		name, yaml string
		want       string // String of the parsed value; "" means an error is wanted
		wantErr    string
	}{
		{"default", channel(""), "now", ""},
		{"now", channel("      first_sync: now\n"), "now", ""},
		{"all", channel("      first_sync: ALL\n"), "all", ""},
		{"since", channel("      first_sync: since:2026-09-01\n"), "since:2026-09-01", ""},
		{"since, quoted with a space", channel("      first_sync: \"since: 2026-09-01\"\n"), "since:2026-09-01", ""},
		{"from env", channel("      first_sync: ${FIRST}\n"), "since:2026-10-15", ""},
		{"unknown word", channel("      first_sync: yesterday\n"), "", `w.yaml: line 9: first_sync "yesterday": want now, all or since:YYYY-MM-DD`},
		{"bad date", channel("      first_sync: since:2026-13-01\n"), "", `line 9: first_sync "since:2026-13-01": "2026-13-01" is not a date`},
		{"bare date", channel("      first_sync: 2026-09-01\n"), "", `line 9: first_sync "2026-09-01": want now, all or since:`},
		{"mapping", channel("      first_sync:\n        since: 2026-09-01\n"), "", "line 10: first_sync: want now, all or since:YYYY-MM-DD (e.g. since:2026-09-01), one value, not a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml), "w.yaml", env(map[string]string{"FIRST": "since:2026-10-15"}))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fs := cfg.Channels[0].IMAP.FirstSync
			if got := fs.String(); got != tt.want {
				t.Errorf("first_sync = %q, want %q", got, tt.want)
			}
			if fs.Mode == FirstSyncSince && (fs.Since.Hour() != 0 || fs.Since.Location() != time.UTC) {
				t.Errorf("since = %v, want midnight UTC of the day", fs.Since)
			}
			// Stored channel settings show the written form.
			b, err := json.Marshal(cfg.Redacted().Channels[0].IMAP)
			if err != nil || !strings.Contains(string(b), `"first_sync":"`+tt.want+`"`) {
				t.Errorf("JSON %s (%v) lacks first_sync %q", b, err, tt.want)
			}
			var back IMAP
			if err := json.Unmarshal(b, &back); err != nil || back.FirstSync.String() != fs.String() || !back.FirstSync.Since.Equal(fs.Since) {
				t.Errorf("first_sync back from JSON = %+v, %v; want %+v", back.FirstSync, err, fs)
			}
		})
	}
}

// TestChannelSecrets: a channel's settings are stored without their
// secrets, which go back in by name; nothing else changes on the way.
func TestChannelSecrets(t *testing.T) {
	ch := Channel{Name: "mail", Kind: message.Email,
		IMAP: &IMAP{Addr: "imap.example.edu:993", Username: "u", Password: "imap-pass", Mailboxes: []string{"INBOX"}, PollInterval: Duration(time.Minute), FirstSync: FirstSync{Mode: FirstSyncNow}},
		SMTP: &SMTP{Addr: "smtp.example.edu:587", Username: "u", Password: "smtp-pass", From: "s@example.edu"}}
	if err := ValidateChannel(ch); err != nil {
		t.Fatal(err)
	}
	bare := ch.WithoutSecrets()
	b, err := json.Marshal(bare)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "pass") {
		t.Errorf("stored settings carry a secret: %s", b)
	}
	if ch.IMAP.Password != "imap-pass" {
		t.Error("WithoutSecrets changed the original")
	}
	var back Channel
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	full := back.WithSecrets(ch.Secrets())
	if !reflect.DeepEqual(full, ch) {
		t.Errorf("round trip:\n got %+v %+v %+v\nwant %+v %+v %+v", full, full.IMAP, full.SMTP, ch, ch.IMAP, ch.SMTP)
	}
	sms := Channel{Name: "sms", Kind: message.SMS, Twilio: &Twilio{AccountSID: "AC1", AuthToken: "tok"}}
	if s := sms.Secrets(); len(s) != 1 || s[SecretTwilioAuthToken] != "tok" {
		t.Errorf("Secrets of an SMS channel = %v", s)
	}
	for _, tc := range []struct {
		ch   Channel
		want string
	}{
		{Channel{Name: "Bad Name", Kind: message.WhatsApp}, "name must be lower-case"},
		{Channel{Name: "sms", Kind: message.SMS, Twilio: &Twilio{AccountSID: "AC1", AuthToken: "t"}}, "twilio.from or twilio.messaging_service_sid"},
		{Channel{Name: "x", Kind: "fax"}, `kind "fax"`},
	} {
		if err := ValidateChannel(tc.ch); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ValidateChannel(%+v) = %v, want %q", tc.ch, err, tc.want)
		}
	}
}

func TestSecretKeySettings(t *testing.T) {
	cfg, err := Parse([]byte(good+"\nsecret_key_file: keys/secret.key\n"), "/etc/wasl/wasl.yaml", env(map[string]string{"WASL_SECRET_KEY": "a2V5", "TOKEN": "t", "IMAP_PASS": "p"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecretKey != "a2V5" || cfg.Resolve(cfg.SecretKeyFile) != "/etc/wasl/keys/secret.key" {
		t.Errorf("SecretKey %q, file %q", cfg.SecretKey, cfg.Resolve(cfg.SecretKeyFile))
	}
	if r := cfg.Redacted(); r.SecretKey == "a2V5" {
		t.Error("Redacted keeps the secret key")
	}
}
