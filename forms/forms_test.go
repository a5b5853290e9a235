package forms

import (
	"bytes"
	"context"
	"io/fs"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/pipelinetest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

// clock is the handler's time, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	st    *store.Store
	h     *Handler
	mux   *http.ServeMux
	clock *clock
	form  int64
	email int64
}

// newEnv is a form channel on a real store and the real pipeline, with the
// university's bank; tune adjusts the handler's config.
func newEnv(t *testing.T, dsn string, tune func(*Config)) *env {
	t.Helper()
	ctx := context.Background()
	bank := pipelinetest.Bank(t)
	e := &env{clock: &clock{t: time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)}} // Sunday 09:00 Riyadh
	pe := pipelinetest.New(t, dsn, bank, router.Config{TicketPrefix: "EDU", Now: e.clock.now},
		pipelinetest.Channel{Name: "forms", Kind: message.Form, ID: &e.form},
		pipelinetest.Channel{Name: "mail", Kind: message.Email, ID: &e.email})
	e.st = pe.Store
	st, p := pe.Store, pe.Pipeline
	key, err := st.InstanceKey(ctx, "forms", 32)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{ChannelID: e.form, Bank: bank, Key: key, Email: Route{ChannelID: e.email, Kind: message.Email},
		FrameAncestors: []string{"https://uqu.edu.sa"}, Now: e.clock.now, Log: quiet}
	if tune != nil {
		tune(&cfg)
	}
	if e.h, err = New(cfg, st, p); err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	e.h.Register(e.mux)
	return e
}

func (e *env) do(r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	return w
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// page serves a form and returns its token.
func (e *env) page(t *testing.T, topic, lang string) (string, *httptest.ResponseRecorder) {
	t.Helper()
	w := e.do(httptest.NewRequest("GET", "/forms/"+topic+"?lang="+lang, nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /forms/%s: %d %s", topic, w.Code, w.Body)
	}
	m := tokenRE.FindStringSubmatch(w.Body.String())
	if m == nil {
		t.Fatalf("no token on the page:\n%s", w.Body)
	}
	return m[1], w
}

// photo is a small PNG (its content is what is checked, not its name).
var photo = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// maintenance is a complete Arabic maintenance request.
func maintenance(token string) url.Values {
	return url.Values{
		"token": {token}, "lang": {"ar"},
		"f_name": {"نورة السبيعي"}, "f_category": {"academic"}, "f_email": {"Noura@Example.edu.sa"},
		"f_mobile": {"٠٥٥١١١٢٢٣٣"}, "f_college": {"كلية الهندسة"}, "f_building": {"المبنى ٣"}, "f_room": {"214"},
		"f_device": {"جهاز العرض"}, "f_fault": {"ينطفئ وحده بعد دقائق"},
	}
}

// post sends v (and a file, when given) as the browser would, from ip.
func post(t *testing.T, topic string, v url.Values, file []byte, ip string) *http.Request {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, vs := range v {
		for _, x := range vs {
			if err := mw.WriteField(k, x); err != nil {
				t.Fatal(err)
			}
		}
	}
	if file != nil {
		fw, err := mw.CreateFormFile("f_photo", "C:\\Users\\noura\\عطل.jpeg")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write(file)
	}
	mw.Close()
	r := httptest.NewRequest("POST", "/forms/"+topic, &body)
	r.Header.Set("Content-Type", mw.FormDataContentType())
	r.RemoteAddr = ip + ":40000"
	return r
}

func (e *env) count(t *testing.T, table string) int {
	t.Helper()
	var n int
	if err := e.st.DB().QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) outcome(o string) float64 {
	var m dto.Metric
	if err := e.h.counted.WithLabelValues(o).Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

func TestFormPage(t *testing.T) {
	e := newEnv(t, "", nil)
	tests := []struct {
		lang, dir string
		want      []string
	}{
		{"ar", "rtl", []string{`lang="ar" dir="rtl"`, "صيانة", `name="f_device"`, `type="file"`, `enctype="multipart/form-data"`, `name="website"`, "إرسال الطلب"}},
		{"en", "ltr", []string{`lang="en" dir="ltr"`, "Device", `name="f_email"`, `type="email"`, "Send request"}},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			_, w := e.page(t, "equipment_maintenance", tt.lang)
			for _, s := range tt.want {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("page lacks %q", s)
				}
			}
			csp := w.Header().Get("Content-Security-Policy")
			for _, s := range []string{"default-src 'none'", "frame-ancestors https://uqu.edu.sa", "form-action 'self'"} {
				if !strings.Contains(csp, s) {
					t.Errorf("CSP %q lacks %q", csp, s)
				}
			}
			if strings.Contains(w.Body.String(), "<script") {
				t.Error("the page has a script")
			}
		})
	}
	for _, path := range []string{"/forms/nosuch", "/forms/greeting"} {
		if w := e.do(httptest.NewRequest("GET", path, nil)); w.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, w.Code)
		}
	}
	w := e.do(httptest.NewRequest("GET", "/forms/", nil))
	for _, topic := range []string{"equipment_maintenance", "equipment_supply"} {
		if !strings.Contains(w.Body.String(), "/forms/"+topic) {
			t.Errorf("index lacks %s", topic)
		}
	}
}

func TestSubmit(t *testing.T) {
	for name, dsn := range pipelinetest.Backends() {
		t.Run(name, func(t *testing.T) {
			t.Run("accepted once, with the photo, and shown with its reference", func(t *testing.T) {
				e := newEnv(t, dsn(t), nil)
				tok, _ := e.page(t, "equipment_maintenance", "ar")
				e.clock.add(30 * time.Second)
				w := e.do(post(t, "equipment_maintenance", maintenance(tok), photo, "192.0.2.1"))
				if w.Code != http.StatusSeeOther {
					t.Fatalf("POST: %d %s", w.Code, w.Body)
				}
				sent := w.Header().Get("Location")
				// A double click, a refresh or a retried POST: the same page, nothing more.
				if w := e.do(post(t, "equipment_maintenance", maintenance(tok), photo, "192.0.2.1")); w.Code != http.StatusSeeOther || w.Header().Get("Location") != sent {
					t.Errorf("second POST: %d to %q, want 303 to %q", w.Code, w.Header().Get("Location"), sent)
				}
				if n := e.count(t, "tickets"); n != 1 {
					t.Errorf("%d tickets, want 1", n)
				}
				if n := e.count(t, "messages"); n != 1 {
					t.Errorf("%d messages, want 1", n)
				}
				if n := e.count(t, "attachments"); n != 1 {
					t.Errorf("%d attachments, want 1", n)
				}
				if e.outcome(outcomeAccepted) != 1 || e.outcome(outcomeDuplicate) != 1 {
					t.Errorf("accepted %v, duplicate %v; want 1 and 1", e.outcome(outcomeAccepted), e.outcome(outcomeDuplicate))
				}
				page := e.do(httptest.NewRequest("GET", sent, nil))
				m := regexp.MustCompile(`id="ticket-ref" dir="ltr">(EDU-[^<]+)<`).FindStringSubmatch(page.Body.String())
				if page.Code != http.StatusOK || m == nil {
					t.Fatalf("GET %s: %d, no reference:\n%s", sent, page.Code, page.Body)
				}
				var dept, status string
				q := "SELECT department, status FROM tickets WHERE ref = ?"
				if e.st.Dialect() == store.Postgres {
					q = strings.Replace(q, "?", "$1", 1)
				}
				if err := e.st.DB().QueryRow(q, m[1]).Scan(&dept, &status); err != nil {
					t.Fatal(err)
				}
				if dept != "maintenance_center" {
					t.Errorf("ticket %s in %q, want maintenance_center", m[1], dept)
				}
				var fields, text string
				if err := e.st.DB().QueryRow("SELECT fields, body_text FROM messages").Scan(&fields, &text); err != nil {
					t.Fatal(err)
				}
				for _, s := range []string{`"value":"+966551112233"`, `"value":"noura@example.edu.sa"`, `"code":"academic"`, `"value":"عطل.png"`} {
					if !strings.Contains(fields, s) {
						t.Errorf("fields %s lack %s", fields, s)
					}
				}
				if !strings.Contains(text, "الجهاز: جهاز العرض") {
					t.Errorf("text %q lacks the device line", text)
				}
				// The acknowledgement waits in the outbox, to the email given.
				var to string
				if err := e.st.DB().QueryRow("SELECT to_value FROM outbound_messages").Scan(&to); err != nil {
					t.Fatal(err)
				}
				if to != "noura@example.edu.sa" {
					t.Errorf("acknowledgement to %q", to)
				}
				// Someone else's key shows nothing.
				if w := e.do(httptest.NewRequest("GET", "/forms/equipment_maintenance/sent/AAAAAAAAAAAAAAAAAAAAAA", nil)); w.Code != http.StatusNotFound {
					t.Errorf("unknown key: %d", w.Code)
				}
			})

			t.Run("refusals keep the values, say why beside the field, and store nothing", func(t *testing.T) {
				e := newEnv(t, dsn(t), nil)
				type refusal struct {
					name    string
					change  func(url.Values)
					file    []byte
					wait    time.Duration
					status  int
					outcome string
					want    []string // in the page
				}
				tests := []refusal{
					{name: "invalid fields", change: func(v url.Values) {
						v.Set("f_email", "noura@")
						v.Del("f_device")
						v.Set("f_mobile", "12")
					}, wait: time.Minute, status: 400, outcome: outcomeInvalid,
						want: []string{`id="f_email-error"`, "أدخل بريدًا إلكترونيًا صحيحًا", `id="f_device-error"`, "هذا الحقل مطلوب",
							`id="f_mobile-error"`, `value="نورة السبيعي"`, "ينطفئ وحده بعد دقائق", `value="academic" checked`, `value="noura@"`}},
					{name: "not an image", file: []byte("#!/bin/sh\nrm -rf /\n"), wait: time.Minute, status: 400, outcome: outcomeInvalid,
						want: []string{`id="f_photo-error"`, "أرفق صورة", "اختره مرة أخرى", `value="نورة السبيعي"`}},
					{name: "too fast", wait: time.Second, status: 400, outcome: outcomeTooFast,
						want: []string{"أُرسل النموذج بسرعة كبيرة", `value="جهاز العرض"`}},
					{name: "expired", wait: 25 * time.Hour, status: 400, outcome: outcomeExpired,
						want: []string{"بقيت الصفحة مفتوحة", `value="جهاز العرض"`}},
					{name: "honeypot", change: func(v url.Values) { v.Set("website", "http://spam.example") }, wait: time.Minute,
						status: 400, outcome: outcomeHoneypot, want: []string{"تعذّر قبول هذا الطلب"}},
					{name: "forged token", change: func(v url.Values) { v.Set("token", strings.Repeat("A", 54)) }, wait: time.Minute,
						status: 400, outcome: outcomeBadToken, want: []string{"تعذّر قبول هذا الطلب"}},
					{name: "too large", file: bytes.Repeat([]byte{0}, 6<<20), wait: time.Minute, status: 413, outcome: outcomeTooLarge,
						want: []string{"الطلب أكبر من المسموح"}},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) {
						tok, _ := e.page(t, "equipment_maintenance", "ar")
						e.clock.add(tt.wait)
						v := maintenance(tok)
						if tt.change != nil {
							tt.change(v)
						}
						before := e.outcome(tt.outcome)
						w := e.do(post(t, "equipment_maintenance", v, tt.file, "192.0.2.2"))
						if w.Code != tt.status {
							t.Fatalf("POST: %d, want %d\n%s", w.Code, tt.status, w.Body)
						}
						for _, s := range tt.want {
							if !strings.Contains(w.Body.String(), s) {
								t.Errorf("page lacks %q", s)
							}
						}
						if e.outcome(tt.outcome) != before+1 {
							t.Errorf("%s counted %v, want %v", tt.outcome, e.outcome(tt.outcome), before+1)
						}
					})
				}
				if n := e.count(t, "messages"); n != 0 {
					t.Errorf("%d messages stored from refusals", n)
				}
				// A refused page can be sent again, corrected, and is accepted.
				tok, _ := e.page(t, "equipment_maintenance", "en")
				e.clock.add(time.Minute)
				v := maintenance(tok)
				v.Set("lang", "en")
				v.Set("f_email", "noura@")
				w := e.do(post(t, "equipment_maintenance", v, nil, "192.0.2.2"))
				if w.Code != 400 || !strings.Contains(w.Body.String(), "Enter a valid email address") {
					t.Fatalf("English refusal: %d\n%s", w.Code, w.Body)
				}
				again := tokenRE.FindStringSubmatch(w.Body.String())[1]
				v = maintenance(again)
				if w := e.do(post(t, "equipment_maintenance", v, nil, "192.0.2.2")); w.Code != http.StatusSeeOther {
					t.Fatalf("corrected POST: %d\n%s", w.Code, w.Body)
				}
				if n := e.count(t, "tickets"); n != 1 {
					t.Errorf("%d tickets, want 1", n)
				}
			})

			t.Run("rate limits per address and per contact", func(t *testing.T) {
				e := newEnv(t, dsn(t), func(c *Config) {
					c.PerIP = Limit{Max: 2, Within: time.Hour}
					c.PerContact = Limit{Max: 1, Within: 24 * time.Hour}
				})
				send := func(ip, email string) *httptest.ResponseRecorder {
					tok, _ := e.page(t, "equipment_maintenance", "ar")
					e.clock.add(10 * time.Second)
					v := maintenance(tok)
					v.Set("f_email", email)
					v.Del("f_mobile")
					return e.do(post(t, "equipment_maintenance", v, nil, ip))
				}
				steps := []struct {
					ip, email string
					status    int
				}{
					{"192.0.2.3", "a@example.edu.sa", 303},
					{"192.0.2.3", "a@example.edu.sa", 429}, // the contact's one a day
					{"192.0.2.3", "b@example.edu.sa", 303},
					{"192.0.2.3", "c@example.edu.sa", 429}, // the address's two an hour
					{"192.0.2.4", "c@example.edu.sa", 303},
				}
				for i, s := range steps {
					if w := send(s.ip, s.email); w.Code != s.status {
						t.Fatalf("step %d (%s, %s): %d, want %d\n%s", i, s.ip, s.email, w.Code, s.status, w.Body)
					}
				}
				if n := e.count(t, "tickets"); n != 3 {
					t.Errorf("%d tickets, want 3", n)
				}
				if e.outcome(outcomeRateIP) != 1 || e.outcome(outcomeRateContact) != 1 {
					t.Errorf("rate_ip %v, rate_contact %v; want 1 and 1", e.outcome(outcomeRateIP), e.outcome(outcomeRateContact))
				}
			})
		})
	}
}

// TestCatalogue checks every key the templates and the code use is in the
// catalogue, in both languages.
func TestCatalogue(t *testing.T) {
	keyRE := regexp.MustCompile(`\b(?:T|Tn) "([a-z_.]+)"|\btrn?\([a-z]+, "([a-z_.]+)"|"((?:err|notify|page|sent|items|index)\.[a-z_]+)"`)
	var sources []string
	_ = fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(templateFS, p)
			sources = append(sources, string(b))
		}
		return err
	})
	files, _ := fs.Glob(os.DirFS("."), "*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") || f == "i18n.go" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, string(b))
	}
	seen := 0
	for _, src := range sources {
		for _, m := range keyRE.FindAllStringSubmatch(src, -1) {
			key := m[1] + m[2] + m[3]
			seen++
			v, ok := catalogue[key]
			if !ok || v[0] == "" || v[1] == "" {
				t.Errorf("key %q is not in the catalogue in both languages", key)
			}
		}
	}
	if seen < 20 {
		t.Errorf("found only %d keys: the pattern is broken", seen)
	}
	// Notify keys are built from the offered channels' names.
	for _, k := range []string{"notify.sms", "notify.whatsapp"} {
		if _, ok := catalogue[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
}
