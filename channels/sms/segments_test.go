package sms

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSegments(t *testing.T) {
	a := func(n int) string { return strings.Repeat("a", n) }
	ar := func(n int) string { return strings.Repeat("ب", n) }
	tests := []struct {
		name     string
		text     string
		want     int
		wantUCS2 bool
	}{
		{"empty", "", 0, false},
		{"one GSM char", "a", 1, false},
		{"GSM 160", a(160), 1, false},
		{"GSM 161", a(161), 2, false},
		{"GSM 306 = 2x153", a(306), 2, false},
		{"GSM 307", a(307), 3, false},
		{"GSM letters outside ASCII are one septet: 160", strings.Repeat("ΔÜ¿§äñàÇ", 20), 1, false},
		{"GSM letters outside ASCII are one septet: 161", strings.Repeat("ΔÜ¿§äñàÇ", 20) + "é", 2, false},
		{"extension chars count two: 80 €", strings.Repeat("€", 80), 1, false},
		{"extension chars count two: 81 €", strings.Repeat("€", 81), 2, false},
		{"extension brackets", strings.Repeat("{}", 40) + "x", 2, false},
		{"escape pair never split", a(152) + "€" + a(152), 3, false},
		{"escape pair fits at the end", a(151) + "€" + a(153), 2, false},
		{"Arabic 70", ar(70), 1, true},
		{"Arabic 71", ar(71), 2, true},
		{"Arabic 134 = 2x67", ar(134), 2, true},
		{"Arabic 135", ar(135), 3, true},
		{"one Arabic letter makes it all UCS-2", a(69) + "ب", 1, true},
		{"one Arabic letter makes it all UCS-2 (over)", a(70) + "ب", 2, true},
		{"Arabic-Indic digits are UCS-2", "٣٠٢", 1, true},
		{"backtick is not GSM", "`", 1, true},
		{"emoji count two units: 35", strings.Repeat("😀", 35), 1, true},
		{"emoji count two units: 36", strings.Repeat("😀", 36), 2, true},
		{"surrogate pair never split", a(66) + "😀" + a(66), 3, true},
		{"invalid UTF-8 is UCS-2", "\xff", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ucs2 := Segments(tt.text)
			if got != tt.want || ucs2 != tt.wantUCS2 {
				t.Errorf("Segments(%d runes) = %d, %v; want %d, %v", utf8.RuneCountInString(tt.text), got, ucs2, tt.want, tt.wantUCS2)
			}
		})
	}
}

func TestGSMAlphabet(t *testing.T) {
	if n := utf8.RuneCountInString(gsmBasic); n != 127 {
		t.Errorf("basic alphabet has %d characters, want 127 (128 minus escape)", n)
	}
	if n := utf8.RuneCountInString(gsmExtension); n != 10 {
		t.Errorf("extension table has %d characters, want 10", n)
	}
	seen := map[rune]bool{}
	for _, r := range gsmBasic + gsmExtension {
		if seen[r] {
			t.Errorf("%q listed twice", r)
		}
		seen[r] = true
	}
	for r := rune(' '); r <= '~'; r++ {
		if want := r != '`'; (gsmSize(r) > 0) != want {
			t.Errorf("printable ASCII %q: GSM = %v, want %v", r, gsmSize(r) > 0, want)
		}
	}
}

func TestFitSegments(t *testing.T) {
	tests := []struct {
		text   string
		budget int
		want   bool
	}{
		{"", 0, true},
		{"a", 0, false},
		{strings.Repeat("ب", 134), 2, true},
		{strings.Repeat("ب", 135), 2, false},
		{strings.Repeat("a", 306), 2, true},
		{strings.Repeat("a", 307), 2, false},
	}
	for _, tt := range tests {
		if got := FitSegments(tt.text, tt.budget); got != tt.want {
			t.Errorf("FitSegments(%d runes, %d) = %v, want %v", utf8.RuneCountInString(tt.text), tt.budget, got, tt.want)
		}
	}
}

func TestFitsBudget(t *testing.T) {
	long := strings.Repeat("ب", 135) // three UCS-2 segments
	sms, _ := newChannel(t, nil)
	if sms.FitsBudget(long) {
		t.Error("SMS channel with budget 2: a 3-segment text fits")
	}
	wide, _ := newChannel(t, func(c *Config) { c.SegmentBudget = 3 })
	if !wide.FitsBudget(long) {
		t.Error("SMS channel with budget 3: a 3-segment text does not fit")
	}
	wa, _ := newChannel(t, func(c *Config) { c.From = "whatsapp:+14155238886" })
	if !wa.FitsBudget(long) {
		t.Error("WhatsApp is not segmented: any text fits")
	}
}

func TestShortLimit(t *testing.T) {
	for _, budget := range []int{1, 2, 3} {
		n := ShortLimit(budget)
		// The worst case a cut reply can be: Latin text ending in "…".
		text := strings.Repeat("a", n-1) + "…"
		if !FitSegments(text, budget) {
			seg, _ := Segments(text)
			t.Errorf("ShortLimit(%d) = %d: a cut text of that length takes %d segments", budget, n, seg)
		}
		if FitSegments(strings.Repeat("a", n)+"…", budget) {
			t.Errorf("ShortLimit(%d) = %d is not the largest that fits", budget, n)
		}
	}
}

// A channel cuts its automatic replies to its own budget, the default one
// when the config leaves it zero.
func TestChannelShortLimit(t *testing.T) {
	for _, tt := range []struct{ budget, want int }{{0, ShortLimit(DefaultSegmentBudget)}, {1, 70}, {3, 201}} {
		c, err := New(Config{ChannelID: 1, Name: "sms", AccountSID: "AC" + strings.Repeat("0", 32), AuthToken: "token",
			From: "+966500000000", PublicURL: "https://wasl.example.edu", SegmentBudget: tt.budget}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ShortLimit(); got != tt.want {
			t.Errorf("budget %d: ShortLimit() = %d, want %d", tt.budget, got, tt.want)
		}
	}
}
