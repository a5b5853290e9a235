package classify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStripQuoted runs every testdata/strip/NAME.txt through StripQuoted and
// compares with NAME.want.
func TestStripQuoted(t *testing.T) {
	inputs, err := filepath.Glob("testdata/strip/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) < 10 {
		t.Fatalf("found %d samples in testdata/strip, want at least 10", len(inputs))
	}
	for _, in := range inputs {
		name := strings.TrimSuffix(filepath.Base(in), ".txt")
		t.Run(name, func(t *testing.T) {
			text, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(strings.TrimSuffix(in, ".txt") + ".want")
			if err != nil {
				t.Fatal(err)
			}
			got := StripQuoted(string(text))
			if w := strings.TrimSuffix(string(want), "\n"); got != w {
				t.Errorf("StripQuoted:\n--- got\n%s\n--- want\n%s", got, w)
			}
		})
	}
}
