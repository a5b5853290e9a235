package router

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHead(t *testing.T) {
	tests := []struct {
		name, s string
		n       int
		want    string
	}{
		{"short", "hello", 8, "hello"},
		{"exact", "12345678", 8, "12345678"},
		{"at a line break", "line one\nline two\nline three", 20, "line one\nline two"},
		{"early break ignored", "a\nbcdefghijklmnop", 8, "a\nbcdefg"},
		{"rune boundary", "ab" + strings.Repeat("س", 4), 5, "abس"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := head(tt.s, tt.n)
			if got != tt.want {
				t.Errorf("head(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
			}
			if len(got) > tt.n || !utf8.ValidString(got) {
				t.Errorf("head(%q, %d) = %q: longer than %d or not UTF-8", tt.s, tt.n, got, tt.n)
			}
		})
	}
}
