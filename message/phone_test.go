package message

import "testing"

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region, want string
		wantErr           bool
	}{
		{"+966501234567", "SA", "+966501234567", false},
		{"0501234567", "SA", "+966501234567", false},
		{"whatsapp:+966501234567", "SA", "+966501234567", false},
		{"00966 50 123 4567", "SA", "+966501234567", false},
		{"+1 (415) 555-2671", "SA", "+14155552671", false},
		{"tel:+44 20 7946 0958", "", "+442079460958", false},
		{"", "SA", "", true},
		{"hello", "SA", "", true},
		{"12", "SA", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.raw, tt.region)
		if (err != nil) != tt.wantErr {
			t.Errorf("NormalizePhone(%q) error = %v, wantErr %v", tt.raw, err, tt.wantErr)
			continue
		}
		if got != tt.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tt.raw, got, tt.want)
		}
	}
}
