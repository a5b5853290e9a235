package router

import (
	"os/exec"
	"strings"
	"testing"
)

// The router depends on the channel contract (package channels), never on
// a channel: what it needs of one comes through Channels. Test files may
// use the real channels; the package itself may not.
func TestImportsNoChannel(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the router's imports: %v", err)
	}
	out, err := exec.Command(gobin, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const channels = "github.com/wasl-dev/wasl/channels"
	sawContract := false
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == channels:
			sawContract = true
		case strings.HasPrefix(p, channels+"/"):
			t.Errorf("router depends on %s; give the pipeline what it needs through Channels", p)
		}
	}
	if !sawContract {
		t.Errorf("router does not depend on %s at all: is this listing the right package?\n%s", channels, out)
	}
}
