package message

import (
	"testing"
	"time"
)

// The one grammar for durations in the config and the knowledge bank.
func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"90s", 90 * time.Second, false},
		{"30m", 30 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"2d30m", 48*time.Hour + 30*time.Minute, false},
		{" 2d ", 48 * time.Hour, false},
		{"0", 0, false},
		{"0d", 0, false},
		{"", 0, true},
		{"d", 0, true},
		{"1d1d", 0, true},
		{"-2h", 0, true},
		{"+2h", 0, true},
		{"1d-2h", 0, true},
		{"-1d", 0, true},
		{"3 days", 0, true},
		{"2 working days", 0, true},
		{"1.5d", 0, true},
		{"soon", 0, true},
		{"7", 0, true},
		{"106751d", 106751 * 24 * time.Hour, false},
		{"106752d", 0, true},    // past time.Duration's range
		{"106751d24h", 0, true}, // so is this sum
		{"99999999999999999999d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseDuration(%q) = %v, %v; want error %v", tt.in, got, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}
