package classify

import (
	"strings"
	"testing"
)

func TestDetectLanguage(t *testing.T) {
	mix := func(ar, lat int) string {
		return strings.Repeat("ب", ar) + " " + strings.Repeat("b", lat)
	}
	tests := []struct {
		name string
		in   string
		want Language
	}{
		{"empty", "", Unknown},
		{"digits and punctuation only", "123 ١٢٣ !؟", Unknown},
		{"other script only", "привет 你好", Unknown},
		{"english", "The projector is broken", English},
		{"arabic", "البروجكتر خربان", Arabic},
		{"arabic with diacritics", "مُحَمَّد", Arabic},
		{"arabic share exactly 0.8 is arabic", mix(8, 2), Arabic},
		{"arabic share 0.7 is mixed", mix(7, 3), Mixed},
		{"arabic share 0.3 is mixed", mix(3, 7), Mixed},
		{"arabic share exactly 0.2 is english", mix(2, 8), English},
		{"one borrowed word stays arabic", "البروجكتر في القاعة الكبيرة ما يشتغل HDMI", Arabic},
		{"code-switching is mixed", "ابي projector للقاعة", Mixed},
		{"digits do not count", "room 1234567890 ١٢٣٤٥٦٧٨٩٠", English},
		{"accented latin counts as latin", "école", English},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := DetectLanguage(tc.in); got != tc.want {
				t.Errorf("DetectLanguage(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
