package sms

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr string
	}{
		{"no channel id", func(c *Config) { c.ChannelID = 0 }, "ChannelID must be positive"},
		{"no name", func(c *Config) { c.Name = "" }, "Name"},
		{"name with a slash", func(c *Config) { c.Name = "a/b" }, "Name \"a/b\""},
		{"bad account sid", func(c *Config) { c.AccountSID = "AC123" }, "AccountSID \"AC123\""},
		{"missing token", func(c *Config) { c.AuthToken = "" }, "AuthToken is missing"},
		{"token with symbols", func(c *Config) { c.AuthToken = "abc$def" }, "AuthToken must contain only letters and digits"},
		{"no sender", func(c *Config) { c.From = "" }, "From or MessagingServiceSID is required"},
		{"From not E.164", func(c *Config) { c.From = "0501234567" }, "From \"0501234567\""},
		{"From WhatsApp without a number", func(c *Config) { c.From = "whatsapp:0501234567" }, "whatsapp:"},
		{"bad messaging service", func(c *Config) { c.MessagingServiceSID = "MGxyz" }, "MessagingServiceSID"},
		{"no public URL", func(c *Config) { c.PublicURL = "" }, "PublicURL: missing"},
		{"relative public URL", func(c *Config) { c.PublicURL = "wasl.example.edu" }, "absolute http(s) URL"},
		{"public URL with query", func(c *Config) { c.PublicURL = "https://x.example/?a=1" }, "query"},
		{"bad region", func(c *Config) { c.DefaultRegion = "Saudi" }, "DefaultRegion"},
		{"negative media limit", func(c *Config) { c.MaxMediaBytes = -1 }, "MaxMediaBytes"},
		{"negative budget", func(c *Config) { c.SegmentBudget = -2 }, "SegmentBudget"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AuthToken = "s3cr3tT0ken"
			tt.mutate(&cfg)
			_, err := New(cfg, nil)
			if err == nil {
				t.Fatal("New accepted the config")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "s3cr3tT0ken") {
				t.Errorf("error leaks the token: %v", err)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New(Config{}, nil)
	if err == nil {
		t.Fatal("New accepted an empty config")
	}
	for _, field := range []string{"ChannelID", "Name", "AccountSID", "AuthToken", "From", "PublicURL"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error lacks %s: %v", field, err)
		}
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		name     string
		mutate   func(*Config)
		wantKind message.Kind
	}{
		{"E.164 number", nil, message.SMS},
		{"short code", func(c *Config) { c.From = "88228" }, message.SMS},
		{"messaging service only", func(c *Config) { c.From = ""; c.MessagingServiceSID = testService }, message.SMS},
		{"WhatsApp sender", func(c *Config) { c.From = "whatsapp:+14155238886" }, message.WhatsApp},
		{"lower-case region", func(c *Config) { c.DefaultRegion = "sa" }, message.SMS},
		{"Twilio's example token", func(c *Config) { c.AuthToken = "12345" }, message.SMS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := newChannel(t, tt.mutate)
			if c.Kind() != tt.wantKind {
				t.Errorf("Kind = %q, want %q", c.Kind(), tt.wantKind)
			}
			if c.cfg.MaxMediaBytes != DefaultMaxMediaBytes || c.cfg.SegmentBudget != DefaultSegmentBudget {
				t.Errorf("defaults not applied: %d bytes, %d segments", c.cfg.MaxMediaBytes, c.cfg.SegmentBudget)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	c, _ := newChannel(t, func(cfg *Config) { cfg.PublicURL = "https://wasl.example.edu/" })
	if got, want := c.InboundURL(), "https://wasl.example.edu/webhooks/twilio/sa-sms"; got != want {
		t.Errorf("InboundURL = %q, want %q", got, want)
	}
	if got, want := c.StatusCallbackURL(), "https://wasl.example.edu/webhooks/twilio/sa-sms/status"; got != want {
		t.Errorf("StatusCallbackURL = %q, want %q", got, want)
	}
}

func TestConfigNeverPrintsToken(t *testing.T) {
	cfg := testConfig()
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "cfg", cfg)
	outputs := []string{
		fmt.Sprint(cfg), fmt.Sprintf("%v", cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg),
		fmt.Sprintf("%v", &cfg), logs.String(),
	}
	for _, out := range outputs {
		if strings.Contains(out, testToken) {
			t.Errorf("token printed: %s", out)
		}
		if !strings.Contains(out, testAccount) {
			t.Errorf("output lost the non-secret fields: %s", out)
		}
	}
}
