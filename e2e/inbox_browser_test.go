package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-message/mail"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// chromium finds Debian's Chromium (make test installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "/usr/bin/chromium", "chromium-browser"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("chromium is not installed: apt-get install -y chromium (make test does this)")
	return ""
}

// browser starts a headless Chromium with a fresh profile. The flags keep
// it from reaching out to the network, which is closed here and would make
// it hang.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true), // screenshots as wide as the layout
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("lang", "ar"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1920, 1080),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	ctx, cancelC := context.WithTimeout(ctx, 8*time.Minute)
	t.Cleanup(func() { cancelC(); cancelB(); cancelA() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := chromedp.Do(step, actions...); err != nil {
		html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html")))
		t.Fatalf("%s: %v\npage:\n%s", what, err, tail(html, 80))
	}
}

// signIn opens url, which shows the sign-in form to a browser without a
// session, signs in, and waits for sel on the page it leads to.
func signIn(t *testing.T, ctx context.Context, url, email, password, sel string) {
	t.Helper()
	run(t, ctx, "sign in "+email,
		chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(sel)))
}

// screenshot saves the page at a width as a test artifact.
func screenshot(t *testing.T, ctx context.Context, name string, width int64) {
	t.Helper()
	dir := filepath.Join("testdata", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "viewport for "+name,
		chromedp.EmulateViewport(width, 900),
		chromedp.Sleep(200*time.Millisecond)) // let the layout settle at the new width
	// Nothing may stick out sideways: a page wider than the screen is
	// clipped or scrolls, in either direction.
	over, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const w = document.documentElement.clientWidth;
		// Elements, not scrollWidth: in RTL what sticks out on the right
		// is clipped without a scrollbar.
		return Array.from(document.querySelectorAll("body *")).filter(e => {
			if (e.closest(".sr, .skip")) return false;
			const r = e.getBoundingClientRect();
			return r.width > 0 && (r.right > w + 1 || r.left < -1);
		}).slice(0, 6).map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().left) + ".." + Math.round(e.getBoundingClientRect().right)).join("; ") || (document.documentElement.scrollWidth > w + 1 ? "scrollWidth " + document.documentElement.scrollWidth : "");
	})()`))
	if err != nil {
		t.Fatalf("overflow check: %v", err)
	}
	if over != "" {
		t.Errorf("%s: the page is wider than %d px: %s", name, width, over)
	}
	// The whole page in one viewport as tall as the page: a capture beyond
	// the viewport starts at the wrong edge in RTL.
	height, err := chromedp.Run(ctx, chromedp.Evaluate[int64](`window.scrollTo(0, 0), document.documentElement.scrollHeight`))
	if err != nil {
		t.Fatalf("page height: %v", err)
	}
	run(t, ctx, "full-height viewport", chromedp.EmulateViewport(width, max(height, 600)), chromedp.Sleep(200*time.Millisecond))
	buf, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "restore viewport", chromedp.EmulateViewport(1920, 1080))
}

// waitJS polls a JavaScript condition in the page until it is true.
func waitJS(t *testing.T, ctx context.Context, what, js string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
			t.Fatalf("%s: not true within %s: %s\n%s", what, d, js, tail(html, 60))
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func addUser(t *testing.T, g *gateway, email, name, role, lang, password string, deps ...string) {
	t.Helper()
	args := []string{"user", "add", "--config", g.cfgPath, "--email", email, "--name", name, "--role", role, "--language", lang, "--password-stdin"}
	for _, d := range deps {
		args = append(args, "--department", d)
	}
	cmd := exec.Command(binary, args...)
	cmd.Env = g.env()
	cmd.Stdin = strings.NewReader(password + "\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("wasl user add: %v\n%s", err, out)
	}
}

// mailText is the decoded text of a mail's text/plain parts.
func mailText(t *testing.T, raw []byte) string {
	t.Helper()
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse mail: %v", err)
	}
	var b strings.Builder
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse mail: %v", err)
		}
		if h, ok := p.Header.(*mail.InlineHeader); ok {
			if ct, _, _ := h.ContentType(); ct == "text/plain" {
				data, _ := io.ReadAll(p.Body)
				b.Write(data)
			}
		}
	}
	return b.String()
}

const (
	opPassword    = "operator password e2e"
	agentPassword = "agent password e2e 1"
	customerPhone = "+966551234567"
)

// TestInboxBrowser drives the web inbox in real headless Chromium against
// the binary, a real Dovecot, Postfix's smtp-sink and the Twilio stand-in,
// on SQLite and PostgreSQL: sign in; email and SMS in one list; filter and
// search (Arabic with hamza and taa marbuta finds text without them); open,
// reply by email and by SMS (each reaches its peer exactly once and shows
// as sent); note, transfer, close with outcome; a message arriving while
// the page is open appears without a reload; hostile HTML runs nothing and
// loads nothing; Arabic pages are RTL; an agent cannot open another
// department's conversation; no secret shows anywhere.
func TestInboxBrowser(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dc := dovecot.Start(t)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			var trackerHits atomic.Int64
			tracker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { trackerHits.Add(1) }))
			t.Cleanup(tracker.Close)

			channels := emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all") +
				strings.TrimPrefix(smsChannelYAML(fake.URL()), "channels:\n")
			g := newGateway(t, be.url(t), channels)
			addUser(t, g, "op@uni.example", "مشرفة النظام", "operator", "ar", opPassword)
			addUser(t, g, "agent@uni.example", "Classroom Agent", "agent", "en", agentPassword, "classrooms")
			g.start()
			base := "http://" + g.addr
			var pages []string // every page seen, for the secrets check

			// The customer's messages: an SMS, an Arabic mail written without
			// hamza and taa marbuta, and a hostile HTML mail.
			hook := base + "/webhooks/twilio/sms"
			if code, body := postWebhook(t, signedPost(t, fake, hook, fake.InboundForm(faketwilio.Inbound{From: customerPhone, To: smsNumber,
				Body: "الشاشة الذكية في قاعة 7 ما تشتغل نبي صيانة"}))); code != http.StatusOK {
				t.Fatalf("SMS webhook: %d %s", code, body)
			}
			arabicMail := "From: =?utf-8?b?2YbZiNix2Kk=?= <noura@example.edu.sa>\r\nTo: support@example.test\r\nSubject: =?utf-8?b?2LfZhNioINin2KzZh9iy2Yc=?=\r\n" +
				"Message-ID: <browser-ar-1@example.edu.sa>\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" +
				"السلام عليكم نحتاج اجهزه عرض وسماعات في القاعه الكبيره يوم الاحد\r\n"
			dc.Append(t, dc.User(), "INBOX", []byte(arabicMail))
			xssMail := "From: Mallory <mallory@example.com>\r\nTo: support@example.test\r\nSubject: Invoice attached\r\n" +
				"Message-ID: <browser-xss@example.com>\r\nDate: " + time.Now().UTC().Format(time.RFC1123Z) + "\r\nMIME-Version: 1.0\r\n" +
				"Content-Type: text/html; charset=utf-8\r\n\r\n" +
				`<p>Please see the invoice.</p><script>parent.xss=1;window.top.xss=1</script>` +
				`<img src="x" onerror="parent.xss=2"><img src="` + tracker.URL + `/pixel.png">` +
				`<a href="javascript:parent.xss=3">click</a><svg onload="parent.xss=4"><script>parent.xss=5</script></svg>` +
				`<div style="background:url(` + tracker.URL + `/css.png)">styled</div>` +
				`<iframe src="` + tracker.URL + `/frame"></iframe><a href="https://uni.example/pay">pay</a>` + "\r\n"
			dc.Append(t, dc.User(), "INBOX", []byte(xssMail))
			eventually(t, 60*time.Second, "3 messages stored", func() (bool, string) {
				st := g.stats()
				return st.Messages == 3, fmt.Sprintf("messages=%d", st.Messages)
			})

			ctx := browser(t)
			html := func() string {
				s, err := retry(func() (string, error) { return chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))) })
				if err != nil {
					t.Fatalf("read page: %v", err)
				}
				pages = append(pages, s)
				return s
			}
			eval := func(js string) string {
				v, err := retry(func() (string, error) { return chromedp.Run(ctx, chromedp.Evaluate[string](js)) })
				if err != nil {
					t.Fatalf("evaluate %s: %v", js, err)
				}
				return v
			}

			// 1. Sign in (Arabic operator); the page is RTL; email and SMS in one list.
			signIn(t, ctx, base+"/", "op@uni.example", opPassword, `#convs`)
			if dir := eval(`getComputedStyle(document.documentElement).direction`); dir != "rtl" {
				t.Errorf("Arabic page direction %q, want rtl", dir)
			}
			list := html()
			if !strings.Contains(list, "chan-email") || !strings.Contains(list, "chan-sms") || !strings.Contains(list, "966551234567") {
				t.Fatalf("the list lacks the email or SMS conversation:\n%s", tail(list, 80))
			}
			if strings.Contains(list, "<script>parent.xss") {
				t.Error("the hostile mail's markup is in the list unescaped")
			}
			screenshot(t, ctx, be.name+"-list-ar-1920", 1920)
			screenshot(t, ctx, be.name+"-list-ar-360", 360)

			// 2. Filter by channel with the form, then search in Arabic with
			// hamza and taa marbuta.
			run(t, ctx, "filter sms",
				chromedp.Click(chromedp.CSS(`details.filters summary`)),
				chromedp.SetValue(chromedp.CSS(`select[name=channel]`), "sms"),
				chromedp.Click(chromedp.CSS(`details.filters button[type=submit]`)))
			waitJS(t, ctx, "the filtered list", `location.search.includes("channel=sms") && document.readyState === "complete"`, 20*time.Second)
			if s := html(); strings.Contains(s, "chan-email") || !strings.Contains(s, "chan-sms") {
				t.Errorf("channel filter: the list still has email or lost SMS")
			}
			run(t, ctx, "search",
				chromedp.Navigate(base+"/"),
				chromedp.WaitVisible(chromedp.CSS(`#search`)),
				chromedp.SendKeys(chromedp.CSS(`#search`), "أجهزة القاعة\n"))
			// #convs is visible on the page before the search too: wait for
			// the search's own page (a fresh clone's run read the old list).
			waitJS(t, ctx, "the search results", `location.search.includes("q=") && document.readyState === "complete"`, 20*time.Second)
			if s := html(); !strings.Contains(s, "noura@example.edu.sa") || strings.Contains(s, "966551234567") || strings.Contains(s, "Invoice") {
				t.Errorf("search for أجهزة القاعة: want only the mail written اجهزه القاعه\n%s", tail(s, 60))
			}

			// 3. Open the mail and reply; the reply reaches smtp-sink once,
			// threaded, and shows as sent.
			run(t, ctx, "open the mail", chromedp.Click(chromedp.CSS(`#convs a.row`)), chromedp.WaitVisible(chromedp.CSS(`#reply-body`)))
			screenshot(t, ctx, be.name+"-conversation-ar-1920", 1920)
			screenshot(t, ctx, be.name+"-conversation-ar-360", 360)
			// A knowledge-bank answer as a starting point.
			eval(`(() => { const s = document.getElementById("bank-answer"); s.value = s.options[1].value; s.dispatchEvent(new Event("change")); return "" })()`)
			waitJS(t, ctx, "the bank answer is in the composer", `document.getElementById("reply-body").value.length > 40`, 10*time.Second)
			const mailReply = " وعليكم السلام، الأجهزة جاهزة يوم الأحد. رقم المتابعة 4711"
			run(t, ctx, "reply by email", chromedp.SendKeys(chromedp.CSS(`#reply-body`), mailReply), chromedp.Submit(chromedp.CSS(`#reply-body`)), chromedp.WaitVisible(chromedp.CSS(`.ok`)))
			waitJS(t, ctx, "the email reply shows as sent",
				`Array.from(document.querySelectorAll('.item-out')).some(li => li.querySelector('.staff') && li.textContent.includes('4711') && li.querySelector('.state-sent'))`, 30*time.Second)
			var staffMails []sunk
			for _, m := range sink.messages(t) {
				if strings.Contains(mailText(t, m.raw), "4711") {
					staffMails = append(staffMails, m)
				}
			}
			if len(staffMails) != 1 {
				t.Fatalf("staff replies at smtp-sink: %d, want exactly 1", len(staffMails))
			}
			sm := staffMails[0]
			if got := sm.header.Get("In-Reply-To"); got != "<browser-ar-1@example.edu.sa>" {
				t.Errorf("In-Reply-To %q", got)
			}
			subj, _ := sm.header.Subject()
			if !regexp.MustCompile(`^Re: \[#EDU-\d{4}-\d{6}\] `).MatchString(subj) || sm.header.Get("Auto-Submitted") != "" {
				t.Errorf("staff reply subject %q, Auto-Submitted %q", subj, sm.header.Get("Auto-Submitted"))
			}
			if len(sm.rcpt) != 1 || sm.rcpt[0] != "noura@example.edu.sa" {
				t.Errorf("staff reply to %v", sm.rcpt)
			}

			// 4. Note, transfer, close with outcome.
			run(t, ctx, "note",
				chromedp.SendKeys(chromedp.CSS(`textarea[name=note]`), "اتصلت بالعميلة هاتفيًا"),
				chromedp.Submit(chromedp.CSS(`textarea[name=note]`)),
				chromedp.WaitVisible(chromedp.CSS(`.item-event .event-note`)))
			run(t, ctx, "transfer",
				chromedp.SetValue(chromedp.CSS(`select[name=department]`), "video_broadcast"),
				chromedp.SendKeys(chromedp.CSS(`form[action$="/transfer"] input[name=note]`), "يحتاج تغطية"),
				chromedp.Submit(chromedp.CSS(`form[action$="/transfer"] input[name=note]`)),
				chromedp.WaitVisible(chromedp.CSS(`.item-event .event-transfer`)))
			if s := html(); !strings.Contains(s, "قسم النقل والاتصال المرئي") || !strings.Contains(s, "status-transferred") {
				t.Errorf("after transfer the page lacks the new department or status")
			}
			run(t, ctx, "close",
				chromedp.Click(chromedp.CSS(`#close-form input[name=outcome][value=not_done]`)),
				chromedp.SendKeys(chromedp.CSS(`#close-form input[name=reason]`), "الصنف غير متوفر"),
				chromedp.Submit(chromedp.CSS(`#close-form input[name=reason]`)),
				chromedp.WaitVisible(chromedp.CSS(`.status-closed`)))
			eventually(t, 30*time.Second, "the closing mail", func() (bool, string) {
				n := 0
				for _, m := range sink.messages(t) {
					if strings.Contains(mailText(t, m.raw), "survey") || strings.Contains(mailText(t, m.raw), "استبيان") {
						n++
					}
				}
				return n == 1, fmt.Sprintf("%d closing mails", n)
			})

			// The survey, as the customer takes it: the closing mail's
			// signed link opens without sign-in, in her language (Arabic,
			// right to left); she rates service and staff and comments; the
			// answer shows on the conversation and in /reports for the
			// department that closed it; the used link is refused.
			var surveyURL string
			for _, m := range sink.messages(t) {
				if u := regexp.MustCompile(`https?://\S+/survey/[A-Za-z0-9_-]+`).FindString(mailText(t, m.raw)); u != "" {
					surveyURL = u
				}
			}
			if surveyURL == "" {
				t.Fatal("the closing mail has no survey link")
			}
			convURL := eval(`location.href`)
			run(t, ctx, "open the survey link", chromedp.Navigate(surveyURL), chromedp.WaitVisible(chromedp.CSS(`#survey-form`)))
			if d := eval(`document.documentElement.dir`); d != "rtl" {
				t.Errorf("survey page dir %q, want rtl", d)
			}
			run(t, ctx, "rate",
				chromedp.Click(chromedp.CSS(`input[name=service][value="4"]`)),
				chromedp.Click(chromedp.CSS(`input[name=staff][value="5"]`)),
				chromedp.SendKeys(chromedp.CSS(`#survey-comment`), "خدمة ممتازة 5813"),
				chromedp.Submit(chromedp.CSS(`#survey-comment`)),
				chromedp.WaitVisible(chromedp.CSS(`#survey-thanks`)))
			run(t, ctx, "the used link", chromedp.Navigate(surveyURL), chromedp.WaitVisible(chromedp.CSS(`#survey-refused`)))
			run(t, ctx, "the answer on the conversation", chromedp.Navigate(convURL), chromedp.WaitVisible(chromedp.CSS(`#survey-result`)))
			if s := html(); !strings.Contains(s, "4/5") || !strings.Contains(s, "5813") {
				t.Errorf("the conversation does not show the answer")
			}
			run(t, ctx, "reports", chromedp.Navigate(base+"/reports"), chromedp.WaitVisible(chromedp.CSS(`#state-chart svg`)))
			sat := eval(`document.querySelector('table.satisfaction[data-by=department] tbody').textContent`)
			if !strings.Contains(sat, "قسم النقل والاتصال المرئي") || !strings.Contains(sat, "4.0") || !strings.Contains(sat, "5.0") {
				t.Errorf("/reports satisfaction per department: %q", sat)
			}
			if be.name == "sqlite" {
				screenshot(t, ctx, "reports-ar-1280", 1280)
			}

			// 5. The SMS: reply, reaches the Twilio stand-in once, shows as
			// sent; then a new SMS appears without a reload.
			run(t, ctx, "open the SMS",
				chromedp.Navigate(base+"/?channel=sms"),
				chromedp.WaitVisible(chromedp.CSS(`#convs a.row`)),
				chromedp.Click(chromedp.CSS(`#convs a.row`)),
				chromedp.WaitVisible(chromedp.CSS(`#reply-body`)))
			run(t, ctx, "segments", chromedp.SendKeys(chromedp.CSS(`#reply-body`), "سنرسل فني الصيانة اليوم 4712"))
			if seg := eval(`document.getElementById('segments').textContent`); !strings.Contains(seg, "1") {
				t.Errorf("segment count %q", seg)
			}
			run(t, ctx, "reply by SMS", chromedp.Submit(chromedp.CSS(`#reply-body`)), chromedp.WaitVisible(chromedp.CSS(`.ok`)))
			waitJS(t, ctx, "the SMS reply shows as sent",
				`Array.from(document.querySelectorAll('.item-out')).some(li => li.querySelector('.staff') && li.textContent.includes('4712') && li.querySelector('.state-sent'))`, 30*time.Second)
			n := 0
			for _, m := range sentTo(fake, customerPhone) {
				if strings.Contains(m.Body, "4712") {
					n++
				}
			}
			if n != 1 {
				t.Errorf("staff SMS at the Twilio stand-in: %d, want exactly 1", n)
			}
			eval(`String(window.__noReload = 1)`)
			if code, body := postWebhook(t, signedPost(t, fake, hook, fake.InboundForm(faketwilio.Inbound{From: customerPhone, To: smsNumber,
				Body: "شكرا، متى يصل الفني؟ 4713"}))); code != http.StatusOK {
				t.Fatalf("second SMS webhook: %d %s", code, body)
			}
			waitJS(t, ctx, "the new SMS appears without a reload",
				`window.__noReload === 1 && document.getElementById('timeline').textContent.includes('4713')`, 30*time.Second)

			// 6. The hostile mail: nothing runs, nothing loads.
			run(t, ctx, "open the hostile mail",
				chromedp.Navigate(base+"/?q=invoice"),
				chromedp.WaitVisible(chromedp.CSS(`#convs a.row`)),
				chromedp.Click(chromedp.CSS(`#convs a.row`)),
				chromedp.WaitVisible(chromedp.CSS(`iframe.email-html`)),
				chromedp.Sleep(time.Second)) // the iframe's document loads; any script would have run by now
			if xss := eval(`String(window.xss)`); xss != "undefined" {
				t.Errorf("a script from the mail ran: window.xss = %s", xss)
			}
			if h := trackerHits.Load(); h != 0 {
				t.Errorf("the remote tracking image was requested %d times", h)
			}
			html()

			// 7. An English agent: LTR, their department only, 403 elsewhere
			// by page and by API.
			run(t, ctx, "sign out", chromedp.Navigate(base+"/"), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=email]`)))
			signIn(t, ctx, base+"/", "agent@uni.example", agentPassword, `#convs`)
			if dir := eval(`getComputedStyle(document.documentElement).direction`); dir != "ltr" {
				t.Errorf("English page direction %q", dir)
			}
			screenshot(t, ctx, be.name+"-list-en-1920", 1920)
			screenshot(t, ctx, be.name+"-list-en-360", 360)
			agentList := html()
			// Keyboard: j selects the next conversation, / goes to search.
			run(t, ctx, "keys", chromedp.KeyEvent("j"))
			waitJS(t, ctx, "j selects a conversation", `document.querySelector(".conv.selected") !== null`, 5*time.Second)
			run(t, ctx, "slash", chromedp.KeyEvent("/"))
			waitJS(t, ctx, "/ focuses the search", `document.activeElement && document.activeElement.id === "search"`, 5*time.Second)
			if strings.Contains(agentList, "966551234567") {
				t.Error("the classrooms agent sees the maintenance SMS")
			}
			smsConv := g.conversationOf(t, "phone", customerPhone)
			run(t, ctx, "forbidden conversation", chromedp.Navigate(fmt.Sprintf("%s/conversations/%d", base, smsConv)), chromedp.WaitVisible(chromedp.CSS(`main`)))
			if status := eval(`document.querySelector('[role=alert]') ? "403" : "200"`); status != "403" {
				t.Errorf("agent opened another department's conversation")
			}
			if s := html(); !strings.Contains(s, "You may not open this page") {
				t.Errorf("no 403 page for the agent")
			}
			run(t, ctx, "an own conversation in English", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#convs a.row`)), chromedp.Click(chromedp.CSS(`#convs a.row`)), chromedp.WaitVisible(chromedp.CSS(`#reply-body`)))
			screenshot(t, ctx, be.name+"-conversation-en-1920", 1920)
			screenshot(t, ctx, be.name+"-conversation-en-360", 360)
			html()

			// A POST from another origin is refused, signed in or not.
			if cookie := eval(`document.cookie`); strings.Contains(cookie, "wasl_session") { // HttpOnly
				t.Error("the session cookie is readable from script")
			}
			req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/conversations/%d/note", base, smsConv), strings.NewReader(url.Values{"note": {"x"}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", "https://evil.example")
			req.Header.Set("Sec-Fetch-Site", "cross-site")
			if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-origin POST: %v %v, want 403", err, resp)
			}

			// Disabling the agent ends the session at once.
			cmd := exec.Command(binary, "user", "disable", "--config", g.cfgPath, "--email", "agent@uni.example")
			cmd.Env = g.env()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("wasl user disable: %v\n%s", err, out)
			}
			run(t, ctx, "after disable", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`input[name=password]`)))

			// No secret in any page, API answer or log line.
			for _, path := range []string{"/api/v1/conversations", "/api/v1/users", "/api/v1/me", fmt.Sprintf("/api/v1/conversations/%d", smsConv),
				fmt.Sprintf("/api/v1/conversations/%d/history", smsConv)} {
				req, _ := http.NewRequest(http.MethodGet, base+path, nil)
				req.Header.Set("Authorization", "Bearer "+g.token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("GET %s: %s", path, resp.Status)
				}
				pages = append(pages, string(b))
			}
			logs := g.logs.String()
			for _, secret := range []string{opPassword, agentPassword, twilioToken, dc.Password()} {
				for i, p := range pages {
					if strings.Contains(p, secret) {
						t.Errorf("secret %q in page %d", secret[:4]+"…", i)
					}
				}
				if strings.Contains(logs, secret) {
					t.Errorf("secret %q in the log", secret[:4]+"…")
				}
			}
			for _, p := range pages {
				if strings.Contains(p, "$argon2id$") || strings.Contains(p, g.token) {
					t.Error("a password hash or the API token is in a page or API answer")
				}
			}
		})
	}
}

// retry runs a read of the page again when it raced a navigation (the
// page's execution context was replaced under it).
func retry(f func() (string, error)) (string, error) {
	var err error
	for range 5 {
		var s string
		if s, err = f(); err == nil {
			return s, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return "", err
}

// conversationOf is the id of the conversation with a contact identity.
func (g *gateway) conversationOf(t *testing.T, kind, value string) int64 {
	t.Helper()
	var id int64
	err := g.store().DB().QueryRowContext(context.Background(), `SELECT c.id FROM conversations c
		JOIN contact_identities i ON i.contact_id = c.contact_id WHERE i.kind = $1 AND i.value = $2 ORDER BY c.id LIMIT 1`, kind, value).Scan(&id)
	if err != nil {
		t.Fatalf("conversation of %s %s: %v", kind, value, err)
	}
	return id
}
