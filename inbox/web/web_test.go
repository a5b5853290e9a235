package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

// Every catalogue key has both languages, and every key the templates and
// handlers use is in the catalogue.
func TestCatalogue(t *testing.T) {
	for k, v := range catalogue {
		if strings.TrimSpace(v[0]) == "" || strings.TrimSpace(v[1]) == "" {
			t.Errorf("key %q lacks a translation: %q", k, v)
		}
	}
	used := regexp.MustCompile(`\.T "([a-z_.]+)"|\btr\("[a-z]+", "([a-z_.]+)"\)|p\.T\("([a-z_.]+)"\)|Tn\("([a-z_.]+)"`)
	dynamic := regexp.MustCompile(`T \(print "([a-z_]+\.)" `)
	files, _ := os.ReadDir("templates")
	var sources []string
	for _, f := range files {
		b, _ := os.ReadFile("templates/" + f.Name())
		sources = append(sources, string(b))
	}
	gos, _ := os.ReadDir(".")
	for _, f := range gos {
		if strings.HasSuffix(f.Name(), ".go") && !strings.HasSuffix(f.Name(), "_test.go") && f.Name() != "i18n.go" {
			b, _ := os.ReadFile(f.Name())
			sources = append(sources, string(b))
		}
	}
	n := 0
	for _, src := range sources {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			key := m[1] + m[2] + m[3] + m[4]
			n++
			if _, ok := catalogue[key]; !ok {
				t.Errorf("key %q is used but not in the catalogue", key)
			}
		}
		// Keys built from a prefix and a value: every value the code can
		// produce must be there.
		for _, m := range dynamic.FindAllStringSubmatch(src, -1) {
			values := map[string][]string{
				"channel.": {"email", "sms", "whatsapp"}, "status.": {"open", "closed", "snoozed"},
				"ticket.": {"open", "transferred", "pending", "in_progress", "closed"}, "scope.": {"in", "out"},
				"lang.": {"ar", "en"}, "state.": {"queued", "sending", "sent", "delivered", "undelivered", "failed"},
				"event.": {"created", "status", "note", "transfer", "message", "assign", "reply", "snooze"},
			}[m[1]]
			if values == nil {
				t.Errorf("dynamic key prefix %q has no known values", m[1])
			}
			for _, v := range values {
				if _, ok := catalogue[m[1]+v]; !ok {
					t.Errorf("key %q is not in the catalogue", m[1]+v)
				}
			}
		}
	}
	if n < 50 {
		t.Errorf("found only %d key uses: the scan is broken", n)
	}
}

// world is an inbox on a real SQLite store with an operator, two agents and
// conversations in two departments.
type world struct {
	st          *store.Store
	srv         *httptest.Server
	auth        *inbox.Auth
	email, sms  store.Channel
	convs       map[string]int64
	htmlMessage int64
	gw          *stubGateway
}

const testPassword = "a long test password"

func newWorld(t *testing.T) *world { t.Helper(); return newWorldWith(t, nil) }

// newWorldWith is newWorld with the inbox's Config changed by set.
func newWorldWith(t *testing.T, set func(*Config)) *world {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := store.Open(ctx, "", t.TempDir(), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	st.SetSearchNormalizer(classify.Normalize)
	bank, err := replies.LoadBank("../../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := river.NewClient(st.RiverDriver(), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{st: st, convs: map[string]int64{}}
	w.auth, err = inbox.NewAuth(st, inbox.AuthConfig{}, log)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := inbox.HashPassword(testPassword)
	for _, u := range []store.User{
		{Email: "op@uni.example", Name: "Operator", Role: store.RoleOperator, Language: "en"},
		{Email: "class@uni.example", Name: "وكيل الفصول", Role: store.RoleAgent, Departments: []string{"classrooms"}},
		{Email: "maint@uni.example", Name: "Maintenance", Role: store.RoleAgent, Departments: []string{"maintenance_center"}, Language: "en"},
	} {
		u.Active, u.PasswordHash = true, hash
		if err := st.CreateUser(ctx, &u); err != nil {
			t.Fatal(err)
		}
	}
	w.email = store.Channel{Name: "email", Kind: message.Email, Enabled: true}
	w.sms = store.Channel{Name: "sms", Kind: message.SMS, Enabled: true}
	for _, c := range []*store.Channel{&w.email, &w.sms} {
		if err := st.UpsertChannel(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	add := func(name string, ch store.Channel, from message.Party, subject, text, html, dept string) {
		err := st.InTx(ctx, func(tx *store.Tx) error {
			c, err := tx.FindOrCreateContact(ctx, from)
			if err != nil {
				return err
			}
			conv := store.Conversation{ContactID: c.ID, ChannelID: ch.ID, Subject: subject}
			if err := tx.CreateConversation(ctx, &conv); err != nil {
				return err
			}
			w.convs[name] = conv.ID
			m := store.Message{ChannelID: ch.ID, ExternalID: name, ConversationID: conv.ID, ContactID: c.ID, From: from,
				Subject: subject, Text: text, HTML: html, HeaderMessageID: name + "@customer.example", Language: "ar", Topic: "equipment_supply", Scope: "in"}
			if err := tx.InsertMessage(ctx, &m); err != nil {
				return err
			}
			if html != "" {
				w.htmlMessage = m.ID
			}
			n, err := tx.NextTicketNumber(ctx, "EDU", 2026)
			if err != nil {
				return err
			}
			tk := store.Ticket{Prefix: "EDU", Year: 2026, Number: n, ConversationID: conv.ID, ContactID: c.ID, Department: dept}
			return tx.CreateTicket(ctx, &tk)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	add("classroom", w.sms, message.Party{Kind: message.IdentityPhone, Value: "+966551234567", Name: "عمر"}, "", "نحتاج أجهزة عرض في القاعة الكبيرة", "", "classrooms")
	add("maintenance", w.email, message.Party{Kind: message.IdentityEmail, Value: "sara@example.com", Name: "Sara"}, "Projector broken", "The projector is broken",
		`<p>Hello</p><script>parent.xss=1</script><img src="http://tracker.example/p.png" onerror="parent.xss=2"><a href="javascript:alert(1)">js</a><a href="https://uni.example/form">form</a>`, "maintenance_center")

	svc := inbox.NewService(st, jobs, bank, inbox.ServiceConfig{}, log)
	key, err := secrets.ParseKey(secrets.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	w.gw = &stubGateway{}
	op := inbox.NewOperator(st, w.gw, svc, inbox.OperatorConfig{Key: key}, log)
	cfg := Config{Store: st, Auth: w.auth, Service: svc, Operator: op, Bank: bank, Log: log}
	if set != nil {
		set(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux, _ := inbox.NewMux("")
	h.Register(mux)
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

// client signs in and returns a client carrying the session cookie.
func (w *world) client(t *testing.T, email string) *http.Client {
	t.Helper()
	tok, _, err := w.auth.SignIn(context.Background(), email, testPassword, "127.0.0.1", "test", "")
	if err != nil {
		t.Fatal(err)
	}
	jar := &cookieJar{tok: tok}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type cookieJar struct{ tok string }

func (j *cookieJar) SetCookies(*url.URL, []*http.Cookie) {}
func (j *cookieJar) Cookies(*url.URL) []*http.Cookie {
	return []*http.Cookie{{Name: inbox.SessionCookie, Value: j.tok}}
}

func get(t *testing.T, c *http.Client, u string) (int, http.Header, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestPages(t *testing.T) {
	w := newWorld(t)
	op := w.client(t, "op@uni.example")
	agent := w.client(t, "class@uni.example")

	// The operator's list, in English, has both conversations.
	code, hdr, body := get(t, op, w.srv.URL+"/")
	if code != http.StatusOK || !strings.Contains(body, `lang="en" dir="ltr"`) || !strings.Contains(body, "Projector broken") || !strings.Contains(body, "966551234567") {
		t.Fatalf("operator list: %d\n%s", code, body)
	}
	if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "http:") {
		t.Errorf("CSP %q", csp)
	}
	// The agent's, in Arabic, only their department's.
	_, _, body = get(t, agent, w.srv.URL+"/")
	if !strings.Contains(body, `lang="ar" dir="rtl"`) || strings.Contains(body, "Projector broken") || !strings.Contains(body, "أجهزة") {
		t.Errorf("agent list:\n%s", body)
	}
	// Search with normalized Arabic.
	_, _, body = get(t, op, w.srv.URL+"/?q="+url.QueryEscape("اجهزه القاعه"))
	if !strings.Contains(body, "966551234567") || strings.Contains(body, "Projector broken") {
		t.Errorf("search:\n%s", body)
	}
	// Another department's conversation is 403 for the agent, by page,
	// timeline and attachment alike.
	for _, path := range []string{"/conversations/%d", "/conversations/%d/timeline"} {
		u := w.srv.URL + strings.Replace(path, "%d", itoa(w.convs["maintenance"]), 1)
		if code, _, _ := get(t, agent, u); code != http.StatusForbidden {
			t.Errorf("agent GET %s: %d, want 403", u, code)
		}
	}
	if code, _, _ := get(t, agent, w.srv.URL+"/conversations/"+itoa(w.convs["classroom"])); code != http.StatusOK {
		t.Errorf("agent on own department's conversation: %d", code)
	}

	// The email's HTML is in a sandboxed iframe: no script, no handler,
	// no javascript: link, no remote image; links open safely.
	_, hdr, body = get(t, op, w.srv.URL+"/conversations/"+itoa(w.convs["maintenance"]))
	m := regexp.MustCompile(`<iframe class="email-html" sandbox="allow-popups allow-popups-to-escape-sandbox"[^>]*srcdoc="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sandboxed iframe:\n%s", body)
	}
	doc := htmlUnescape(m[1])
	for _, bad := range []string{"<script", "onerror", "javascript:", "tracker.example"} {
		if strings.Contains(doc, bad) {
			t.Errorf("iframe document has %q: %s", bad, doc)
		}
	}
	if !strings.Contains(doc, `href="https://uni.example/form"`) || !strings.Contains(doc, "noopener") || !strings.Contains(doc, "noreferrer") || !strings.Contains(doc, `target="_blank"`) {
		t.Errorf("link not made safe: %s", doc)
	}
	// "Show images" keeps the image and lets the page load it.
	_, hdr, body = get(t, op, w.srv.URL+"/conversations/"+itoa(w.convs["maintenance"])+"?images=1")
	if !strings.Contains(htmlUnescape(body), "tracker.example") || !strings.Contains(hdr.Get("Content-Security-Policy"), "img-src 'self' data: https: http:") {
		t.Errorf("show images: CSP %q", hdr.Get("Content-Security-Policy"))
	}
}

// The navigation links to "log a call", in the viewer's language, only
// when a phone channel is configured.
func TestCallLink(t *testing.T) {
	for _, tt := range []struct {
		name  string
		calls bool
		email string
		want  string // the link, or "" for none
	}{
		{"phone, Arabic", true, "class@uni.example", `<a href="/calls/new?lang=ar">تسجيل مكالمة</a>`},
		{"phone, English", true, "op@uni.example", `<a href="/calls/new?lang=en">Log a call</a>`},
		{"no phone", false, "op@uni.example", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorldWith(t, func(c *Config) { c.Calls = tt.calls })
			code, _, body := get(t, w.client(t, tt.email), w.srv.URL+"/")
			if code != http.StatusOK || !strings.Contains(body, `href="/reports"`) {
				t.Fatalf("GET /: %d\n%s", code, body)
			}
			if tt.want == "" {
				if strings.Contains(body, "/calls/new") {
					t.Errorf("a link to /calls/new without a phone channel:\n%s", body)
				}
			} else if !strings.Contains(body, tt.want) {
				t.Errorf("no %s in:\n%s", tt.want, body)
			}
		})
	}
}

func itoa(n int64) string { return strconvFormat(n) }

func htmlUnescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&amp;", "&").Replace(s)
}

func strconvFormat(n int64) string { return strconv.FormatInt(n, 10) }

// Attachments download as attachments, never sniffed, and only safe types
// keep their content type; images may be previewed inline, SVG never.
func TestAttachments(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ids := map[string]int64{}
	for _, a := range []struct{ name, ctype, data string }{
		{"photo.png", "image/png", "\x89PNG\r\n\x1a\nfake"},
		{"evil.svg", "image/svg+xml", `<svg onload="alert(1)"/>`},
		{"page.html", "text/html", "<script>alert(1)</script>"},
	} {
		sha, err := w.st.PutBlob(ctx, []byte(a.data))
		if err != nil {
			t.Fatal(err)
		}
		err = w.st.InTx(ctx, func(tx *store.Tx) error {
			at := store.Attachment{MessageID: w.htmlMessage, Filename: a.name, ContentType: a.ctype, Size: int64(len(a.data)), SHA256: sha}
			err := tx.InsertAttachment(ctx, &at)
			ids[a.name] = at.ID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	op := w.client(t, "op@uni.example")
	tests := []struct {
		name, query      string
		ctype, dispStart string
	}{
		{"photo.png", "", "image/png", "attachment"},
		{"photo.png", "?inline=1", "image/png", "inline"},
		{"evil.svg", "?inline=1", "application/octet-stream", "attachment"},
		{"page.html", "?inline=1", "application/octet-stream", "attachment"},
	}
	for _, tt := range tests {
		code, hdr, _ := get(t, op, w.srv.URL+"/attachments/"+itoa(ids[tt.name])+tt.query)
		if code != http.StatusOK || hdr.Get("Content-Type") != tt.ctype || !strings.HasPrefix(hdr.Get("Content-Disposition"), tt.dispStart) ||
			hdr.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(hdr.Get("Content-Security-Policy"), "sandbox") {
			t.Errorf("%s%s: %d %v", tt.name, tt.query, code, hdr)
		}
	}
	// The classrooms agent may not fetch a maintenance conversation's file.
	if code, _, _ := get(t, w.client(t, "class@uni.example"), w.srv.URL+"/attachments/"+itoa(ids["photo.png"])); code != http.StatusForbidden {
		t.Errorf("agent of another department: %d, want 403", code)
	}
}

// Dates show in the viewer's zone, with Arabic month names in Arabic.
func TestDates(t *testing.T) {
	riyadh, _ := time.LoadLocation("Asia/Riyadh")
	h := &Handler{now: func() time.Time { return time.Date(2026, 3, 5, 12, 0, 0, 0, time.UTC) }}
	at := time.Date(2026, 1, 31, 22, 30, 0, 0, time.UTC) // 1 February, 01:30 in Riyadh
	for _, tt := range []struct{ lang, want string }{{"ar", "1 فبراير 2026 01:30"}, {"en", "1 Feb 2026 01:30"}} {
		p := &page{Lang: tt.lang, loc: riyadh, h: h}
		if got := p.When(at); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.lang, got, tt.want)
		}
	}
	p := &page{Lang: "ar", loc: riyadh, h: h}
	if got := p.When(time.Date(2026, 3, 5, 9, 15, 0, 0, time.UTC)); got != "12:15" {
		t.Errorf("today: %q, want the time alone", got)
	}
}
