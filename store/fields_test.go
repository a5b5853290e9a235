package store

import (
	"slices"
	"strings"
	"testing"
)

// FuzzFields holds fields to strings.Fields, whose words it must yield.
// The seeds run in every go test; go test -fuzz FuzzFields ./store looks
// further.
func FuzzFields(f *testing.F) {
	for _, s := range []string{
		"", " ", "a", " a ", "one two\tthree\r\nfour\v\ffive",
		"البروجكتر في القاعة ١٢ لا يعمل،  جربنا",
		"non\u00a0breaking\u2003em\u3000ideographic\u2028line\u0085next\u1680ogham",
		"zero\u200bwidth\u180emongolian", "bad \xff\xfe utf-8 \xe2\x80", "\u202f\u205f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := slices.Collect(fields(s))
		if want := strings.Fields(s); !slices.Equal(got, want) {
			t.Errorf("fields(%q) = %q, want %q", s, got, want)
		}
	})
}
