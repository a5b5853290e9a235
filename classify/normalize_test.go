package classify

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		rule, in, want string
	}{
		{"empty", "", ""},
		{"harakat U+064B-U+0652", "مُحَمَّدٌ سَعِيدً كَتَبْ", "محمد سعيد كتب"},
		{"every haraka", "ب\u064bب\u064cب\u064dب\u064eب\u064fب\u0650ب\u0651ب\u0652", "بببببببب"},
		{"superscript alef U+0670", "هٰذا", "هذا"},
		{"quranic marks U+0610-U+061A", "ص\u0610ل\u061a", "صل"},
		{"quranic marks U+06D6-U+06DC", "قال\u06d6 ربي\u06dc", "قال ربي"},
		{"quranic marks U+06DF-U+06E8", "ا\u06dfل\u06e8", "ال"},
		{"quranic marks U+06EA-U+06ED", "ن\u06eaو\u06ed", "نو"},
		{"tatweel", "عـــربـي", "عربي"},
		{"alef with hamza above", "أحمد", "احمد"},
		{"alef with hamza below", "إخلاء", "اخلاء"},
		{"alef madda", "آلة", "اله"},
		{"alef wasla", "ٱلحمد", "الحمد"},
		{"alef maksura", "على مستوى", "علي مستوي"},
		{"taa marbuta", "القاعة الذكية", "القاعه الذكيه"},
		{"hamza on waw", "سؤال مسؤول", "سوال مسوول"},
		{"hamza on yaa", "مسائل رئيس", "مسايل رييس"},
		{"lone hamza kept", "شيء", "شيء"},
		{"persian yeh", "کتاب فی", "كتاب في"},
		{"arabic-indic digits", "القاعة ١٢٣٤٥٦٧٨٩٠", "القاعه 1234567890"},
		{"persian digits", "۰۱۲۳۴۵۶۷۸۹", "0123456789"},
		{"english case-folded", "The PROJECTOR Is Broken", "the projector is broken"},
		{"other latin case-folded", "ÉCOLE Straße", "école straße"},
		{"apostrophe dropped", "don't can't", "dont cant"},
		{"curly apostrophes dropped", "don’t ‘quoted’ it´s `x`", "dont quoted its x"},
		{"ascii punctuation to space", "hi,there!(room#5)", "hi there room 5"},
		{"arabic comma semicolon question", "مرحبا،كيف؛الحال؟تمام", "مرحبا كيف الحال تمام"},
		{"symbols and emoji to space", "ok👍thanks$5", "ok thanks 5"},
		{"format characters dropped", "اخ\u200cلاء\u200f ab\u200dc\ufeff", "اخلاء abc"},
		{"arabic meets latin", "الprojector", "ال projector"},
		{"latin meets arabic", "HDMIكيبل", "hdmi كيبل"},
		{"digits do not split scripts", "قاعة5b", "قاعه5b"},
		{"whitespace collapsed and trimmed", "  a \t\n\r b  \u00a0 c ", "a b c"},
		{"only punctuation", "?!؟،", ""},
		// Text pasted from PDFs: isolated, initial, medial and final
		// presentation forms, and the lam-alef ligature.
		{"arabic presentation forms", "ﺍﻟﺒﺮﻭﺟﻜﺘﺮ ﺧﺮﺑﺎﻥ", "البروجكتر خربان"},
		{"presentation forms with hamza", "ﺃﺣﻤﺪ ﻣﺴﺆﻭﻝ ﺍﻟﻘﺎﻋﺔ", "احمد مسوول القاعه"},
		{"lam-alef ligatures", "ﻻ ﻷ ﻵ ﻹ", "لا لا لا لا"},
		{"presentation forms of ligature words", "ﷲ", "الله"},
		{"full-width latin and ligatures", "ＰＲＯＪＥＣＴＯＲ ﬁx", "projector fix"},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			if got := Normalize(tc.in); got != tc.want {
				t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "مُحَمَّد", "الprojector ١٢", "don't ، ؟", "\xff\xfe", "a\u200cb", "\uffff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) {
			t.Fatalf("Normalize(%q) = %q: invalid UTF-8", s, n)
		}
		if strings.HasPrefix(n, " ") || strings.HasSuffix(n, " ") || strings.Contains(n, "  ") {
			t.Fatalf("Normalize(%q) = %q: stray spaces", s, n)
		}
		if again := Normalize(n); again != n {
			t.Fatalf("Normalize is not idempotent: %q → %q → %q", s, n, again)
		}
	})
}
