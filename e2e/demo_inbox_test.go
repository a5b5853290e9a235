package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoInbox runs `wasl demo` as make run does: it prints where to sign
// in with the operator's and the agent's generated passwords; the seeded
// mails and SMS are in the inbox; a reply typed there lands in the demo's
// outbox. It also takes the README's screenshot.
func TestDemoInbox(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	// The demo is built only with -tags demo (make run does so).
	demoBin := filepath.Join(t.TempDir(), "wasl-demo")
	build := exec.Command("go", "build", "-trimpath", "-tags", "demo", "-o", demoBin, "../cmd/wasl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the demo: %v\n%s", err, out)
	}
	cmd := exec.Command(demoBin, "demo", "--dir", dir, "--addr", addr)
	cmd.Env = append(os.Environ(), "WASL_DATABASE_URL=", "WASL_API_TOKEN=")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	pw := map[string]string{}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	cred := regexp.MustCompile(`^\s+(\S+@demo\.wasl\.test)\s+password (\S+)`)
	deadline := time.After(90 * time.Second)
	for len(pw) < 2 {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("demo ended before printing the sign-in:\n%s", tail(logs.String(), 30))
			}
			if m := cred.FindStringSubmatch(l); m != nil {
				pw[m[1]] = m[2]
			}
		case <-deadline:
			t.Fatal("the demo printed no sign-in within 90s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	base := "http://" + addr
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	resp, err := client.PostForm(base+"/login", url.Values{"email": {"operator@demo.wasl.test"}, "password": {pw["operator@demo.wasl.test"]}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Request.URL.Path != "/" || resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in: %s at %s", resp.Status, resp.Request.URL)
	}
	page := func(path string) string {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// The seeded mails and SMS arrive.
	var list string
	eventually(t, 60*time.Second, "mails and SMS in the inbox", func() (bool, string) {
		list = page("/")
		return strings.Contains(list, "chan-email") && strings.Contains(list, "chan-sms"), "not yet"
	})
	m := regexp.MustCompile(`href="/conversations/(\d+)"`).FindAllStringSubmatch(page("/?channel=email&q=projector"), -1)
	if len(m) == 0 {
		m = regexp.MustCompile(`href="/conversations/(\d+)"`).FindAllStringSubmatch(page("/?channel=email"), -1)
	}
	if len(m) == 0 {
		t.Fatalf("no email conversation in the demo's inbox:\n%s", tail(list, 40))
	}
	before, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
	resp, err = client.PostForm(base+"/conversations/"+m[0][1]+"/reply", url.Values{"body": {"Typed in the demo inbox 9911"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	eventually(t, 30*time.Second, "the reply in the outbox", func() (bool, string) {
		files, _ := filepath.Glob(filepath.Join(dir, "outbox", "*.eml"))
		for _, f := range files {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "9911") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d mails (%d before)", len(files), len(before))
	})

	// The README's picture: the operator's Arabic inbox.
	ctx := browser(t)
	signIn(t, ctx, base+"/login", "operator@demo.wasl.test", pw["operator@demo.wasl.test"], `#convs`)
	screenshot(t, ctx, "demo-list-ar-1280", 1280)
	run(t, ctx, "open", chromedp.Navigate(base+"/conversations/"+m[0][1]), chromedp.WaitVisible(chromedp.CSS(`#reply-body`)))
	screenshot(t, ctx, "demo-conversation-ar-1280", 1280)

	// /reports has something the first time: the demo closed a few
	// tickets and answered their surveys. In Arabic, right to left, with
	// its charts; the picture is an artifact.
	eventually(t, 60*time.Second, "rated closed tickets on /reports", func() (bool, string) {
		body := page("/reports")
		_, table, _ := strings.Cut(body, `data-by="department">`)
		table, _, _ = strings.Cut(table, "</table>")
		_, rows, _ := strings.Cut(table, "<tbody>")
		return strings.Contains(rows, `<th scope="row">`) && strings.Contains(body, "<details>"), tail(table, 10)
	})
	run(t, ctx, "reports", chromedp.Navigate(base+"/reports"), chromedp.WaitVisible(chromedp.CSS(`#state-chart svg`)),
		chromedp.WaitVisible(chromedp.CSS(`#channel-chart svg`)))
	dirs, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dir + " " + document.querySelector("#state-chart svg").getAttribute("direction")`))
	if err != nil || dirs != "rtl rtl" {
		t.Errorf("reports page and chart direction %q (%v), want rtl rtl", dirs, err)
	}
	screenshot(t, ctx, "demo-reports-ar-1280", 1280)
	screenshot(t, ctx, "demo-reports-ar-390", 390)
}
