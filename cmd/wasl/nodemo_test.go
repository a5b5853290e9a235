//go:build !demo

package main

import (
	"strings"
	"testing"
)

// The shipped binary answers `wasl demo` with where the demo is.
func TestDemoNeedsItsBuild(t *testing.T) {
	cleanEnv(t)
	r := runWasl(t, "demo")
	if r.code != 2 || !strings.Contains(r.stderr, "make run") || !strings.Contains(r.stderr, "-tags demo") {
		t.Errorf("wasl demo: exit %d, stderr %q; want 2 and how to run the demo", r.code, r.stderr)
	}
}
