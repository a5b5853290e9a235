package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The shipped binary links none of the demo: no sandbox servers, no fake
// Twilio, no IMAP server. The demo build (make run) still has them, which
// shows the list is read from the right build.
func TestShippedBinaryCarriesNoDemo(t *testing.T) {
	demoOnly := []string{
		"github.com/wasl-dev/wasl/internal/sandbox",
		"github.com/wasl-dev/wasl/internal/faketwilio",
		"github.com/wasl-dev/wasl/configs/demo",
		"github.com/emersion/go-imap/v2/imapserver",
	}
	deps := func(t *testing.T, args ...string) []string {
		t.Helper()
		out, err := exec.Command("go", append([]string{"list", "-deps"}, append(args, ".")...)...).Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("go list -deps %v: %v\n%s", args, err, stderr)
		}
		return strings.Fields(string(out))
	}
	tests := []struct {
		name  string
		flags []string
		want  bool // whether the demo's packages are linked
	}{
		{"shipped", nil, false},
		{"demo build", []string{"-tags", "demo"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deps(t, tt.flags...)
			for _, pkg := range demoOnly {
				if slices.Contains(got, pkg) != tt.want {
					t.Errorf("%s links %s: %v, want %v", tt.name, pkg, !tt.want, tt.want)
				}
			}
		})
	}
}
