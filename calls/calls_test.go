package calls

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/pipelinetest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

var quiet = slog.New(slog.DiscardHandler)

type env struct {
	st             *store.Store
	p              *router.Pipeline
	mux            *http.ServeMux
	phone, sms, wa int64
	bank           *replies.Bank
}

func newEnv(t *testing.T, dsn string) *env {
	t.Helper()
	bank := pipelinetest.Bank(t).WithForms("https://wasl.example.edu.sa")
	e := &env{bank: bank}
	pe := pipelinetest.New(t, dsn, bank, router.Config{TicketPrefix: "EDU"},
		pipelinetest.Channel{Name: "phone", Kind: message.Phone, ID: &e.phone},
		pipelinetest.Channel{Name: "sms", Kind: message.SMS, ID: &e.sms},
		pipelinetest.Channel{Name: "wa", Kind: message.WhatsApp, ID: &e.wa})
	e.st, e.p = pe.Store, pe.Pipeline
	h, err := New(Config{ChannelID: e.phone, Bank: bank, SMS: Route{e.sms, message.SMS}, WhatsApp: Route{e.wa, message.WhatsApp},
		Actor: func(context.Context) string { return "sara@example.edu.sa" }, Log: quiet}, e.st, e.p)
	if err != nil {
		t.Fatal(err)
	}
	e.mux = http.NewServeMux()
	h.Register(e.mux, func(h http.Handler) http.Handler { return h })
	h.RegisterPage(e.mux, func(h http.Handler) http.Handler { return h })
	return e
}

func (e *env) log(t *testing.T, c Call) (int, Logged, problem) {
	t.Helper()
	b, _ := json.Marshal(c)
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/calls", strings.NewReader(string(b))))
	var l Logged
	var p problem
	_ = json.Unmarshal(w.Body.Bytes(), &l)
	_ = json.Unmarshal(w.Body.Bytes(), &p)
	return w.Code, l, p
}

func (e *env) count(t *testing.T, q string) int {
	t.Helper()
	var n int
	if err := e.st.DB().QueryRow(q).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogCall(t *testing.T) {
	for name, dsn := range pipelinetest.Backends() {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			const mobile = "+966551112233"
			// The caller wrote by SMS before.
			if _, err := e.p.Ingest(ctx, message.Inbound{ChannelID: e.sms, Channel: message.SMS, ExternalID: "SM1",
				From: message.Party{Kind: message.IdentityPhone, Value: mobile}, Text: "السلام عليكم"}); err != nil {
				t.Fatal(err)
			}
			var form string
			for _, c := range e.bank.LinkChoices() {
				if c.Topic == "equipment_maintenance" && strings.HasPrefix(c.Link.URL, "https://wasl.example.edu.sa/forms/") {
					form = c.Key
				}
			}
			if form == "" {
				t.Fatal("no form link among the bank's choices")
			}
			call := Call{ID: "c1", Name: "خالد", Category: "academic", Mobile: "0551112233", Employer: "كلية الهندسة",
				Inquiry: "جهاز العرض في القاعة ١٢ لا يعمل", Outcome: message.OutcomeGuided, Topic: "equipment_maintenance",
				Send: "whatsapp", Links: []string{form}, Rating: true}
			code, l, p := e.log(t, call)
			if code != http.StatusCreated || l.Duplicate || l.MessageID == 0 || l.SentBy != "whatsapp" {
				t.Fatalf("log: %d %+v %+v", code, l, p)
			}
			// Logged again (a retry): the same message, nothing more sent.
			if code, again, _ := e.log(t, call); code != http.StatusOK || !again.Duplicate || again.MessageID != l.MessageID {
				t.Errorf("again: %d %+v", code, again)
			}
			q := "SELECT count(*) FROM outbound_messages WHERE channel_id = " + itoa(e.wa)
			if n := e.count(t, q); n != 1 {
				t.Fatalf("%d WhatsApp messages, want 1", n)
			}
			var text, to string
			if err := e.st.DB().QueryRow("SELECT body_text, to_value FROM outbound_messages WHERE channel_id = "+itoa(e.wa)).Scan(&text, &to); err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"https://wasl.example.edu.sa/forms/equipment_maintenance", e.bank.SurveyURL(), "خالد"} {
				if !strings.Contains(text, s) {
					t.Errorf("follow-up %q lacks %q", text, s)
				}
			}
			if to != mobile {
				t.Errorf("follow-up to %q", to)
			}
			if n := e.count(t, "SELECT count(*) FROM contacts"); n != 1 {
				t.Errorf("%d contacts, want the SMS sender and the caller as one", n)
			}
			if n := e.count(t, "SELECT count(*) FROM tickets"); n != 0 {
				t.Errorf("%d tickets for a guided call", n)
			}
			var fields string
			if err := e.st.DB().QueryRow("SELECT fields FROM messages WHERE external_id = 'call:c1'").Scan(&fields); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(fields, `"value":"كلية الهندسة"`) || !strings.Contains(fields, `"code":"academic"`) {
				t.Errorf("fields %s", fields)
			}
			st, err := e.st.Stats(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.MessagesByChannel[message.Phone] != 1 {
				t.Errorf("messages by channel %v: want one call", st.MessagesByChannel)
			}

			// A call that opens a ticket.
			code, l, p = e.log(t, Call{ID: "c2", Mobile: "+966500000009", Inquiry: "need 3 markers", Outcome: message.OutcomeTicket,
				Topic: "equipment_supply", Language: "en"})
			if code != http.StatusCreated || !strings.HasPrefix(l.TicketRef, "EDU-") {
				t.Fatalf("ticket call: %d %+v %+v", code, l, p)
			}

			tests := []struct {
				name  string
				call  Call
				field string
			}{
				{"no mobile", Call{ID: "x1", Inquiry: "?", Outcome: "answered"}, "mobile"},
				{"no inquiry", Call{ID: "x2", Mobile: mobile, Outcome: "answered"}, "inquiry"},
				{"no id", Call{Mobile: mobile, Inquiry: "?", Outcome: "answered"}, "id"},
				{"unknown outcome", Call{ID: "x3", Mobile: mobile, Inquiry: "?", Outcome: "shrug"}, "outcome"},
				{"ticket without topic", Call{ID: "x4", Mobile: mobile, Inquiry: "?", Outcome: "ticket"}, "topic"},
				{"unknown link", Call{ID: "x5", Mobile: mobile, Inquiry: "?", Outcome: "answered", Send: "sms", Links: []string{"nope#9"}}, "links"},
				{"nothing to send", Call{ID: "x6", Mobile: mobile, Inquiry: "?", Outcome: "answered", Send: "sms"}, "links"},
				{"bad category", Call{ID: "x7", Mobile: mobile, Inquiry: "?", Outcome: "answered", Category: "alien"}, "category"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, _, p := e.log(t, tt.call)
					if code != http.StatusBadRequest || p.Error.Fields[tt.field] == "" {
						t.Errorf("%d %+v, want 400 about %s", code, p, tt.field)
					}
				})
			}
			if n := e.count(t, "SELECT count(*) FROM messages"); n != 3 {
				t.Errorf("%d messages, want the SMS and two calls", n)
			}
		})
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestLogCallPage(t *testing.T) {
	for name, dsn := range pipelinetest.Backends() {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			w := httptest.NewRecorder()
			e.mux.ServeHTTP(w, httptest.NewRequest("GET", "/calls/new", nil))
			page := w.Body.String()
			m := regexp.MustCompile(`name="id" value="([^"]+)"`).FindStringSubmatch(page)
			if w.Code != 200 || m == nil || !strings.Contains(page, `dir="rtl"`) || !strings.Contains(page, "تسجيل مكالمة") {
				t.Fatalf("GET /calls/new: %d\n%s", w.Code, page)
			}
			post := func(lang string, v url.Values) *httptest.ResponseRecorder {
				r := httptest.NewRequest("POST", "/calls/new?lang="+lang, strings.NewReader(v.Encode()))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				w := httptest.NewRecorder()
				e.mux.ServeHTTP(w, r)
				return w
			}
			v := url.Values{"id": {m[1]}, "name": {"خالد"}, "inquiry": {"أين نموذج الصيانة؟"}, "outcome": {"guided"},
				"topic": {"equipment_maintenance"}, "send": {"sms"}, "links": {"equipment_maintenance#0"}, "rating": {"1"}}
			// Refused: the error beside the field and in the summary, in the
			// page's language, and every value entered kept.
			refusals := []struct {
				name, lang, mobile, field string
				want                      []string
			}{
				{"no mobile, Arabic", "ar", "", "mobile", []string{`<span class="error" id="mobile-error">هذا الحقل مطلوب.</span>`, `<a href="#mobile">رقم الجوال</a>: هذا الحقل مطلوب.`}},
				{"bad mobile, Arabic", "ar", "12", "mobile", []string{`<span class="error" id="mobile-error">أدخل رقم جوال صحيحًا، مثل 0551234567.</span>`}},
				{"no mobile, English", "en", "", "mobile", []string{`<span class="error" id="mobile-error">This field is required.</span>`, `<a href="#mobile">Mobile number</a>: This field is required.`}},
			}
			for _, tt := range refusals {
				t.Run(tt.name, func(t *testing.T) {
					v := maps.Clone(v)
					v.Set("mobile", tt.mobile)
					w := post(tt.lang, v)
					body := w.Body.String()
					if w.Code != 400 || !strings.Contains(body, `lang="`+tt.lang+`"`) {
						t.Fatalf("%d\n%s", w.Code, body)
					}
					kept := []string{`<input id="name" name="name" type="text" value="خالد"`, ">أين نموذج الصيانة؟</textarea>", `value="guided" checked`,
						`<option value="equipment_maintenance" selected>`, `value="sms" checked`, `value="equipment_maintenance#0" checked`,
						`name="rating" value="1" checked`, `name="id" value="` + m[1] + `"`, `value="` + tt.mobile + `"`}
					for _, s := range append(tt.want, kept...) {
						if !strings.Contains(body, s) {
							t.Errorf("no %s in\n%s", s, body)
						}
					}
					if tt.lang == "ar" && regexp.MustCompile(`class="error"[^>]*>[^<]*[A-Za-z]`).MatchString(body) {
						t.Errorf("an English error on the Arabic page:\n%s", body)
					}
				})
			}
			v.Set("mobile", "0551112233")
			w = post("ar", v)
			if w.Code != http.StatusSeeOther || !strings.HasPrefix(w.Header().Get("Location"), "/conversations/") {
				t.Fatalf("save: %d %q\n%s", w.Code, w.Header().Get("Location"), w.Body)
			}
			// Saved twice (a double click): one call, one SMS.
			post("ar", v)
			if n := e.count(t, "SELECT count(*) FROM messages"); n != 1 {
				t.Errorf("%d messages, want 1", n)
			}
			if n := e.count(t, "SELECT count(*) FROM outbound_messages WHERE channel_id = "+itoa(e.sms)); n != 1 {
				t.Errorf("%d SMS, want 1", n)
			}
		})
	}
}

// Every word of the page has both languages, and every error the checks
// give is a word.
func TestWords(t *testing.T) {
	for k, w := range words {
		if strings.TrimSpace(w[0]) == "" || strings.TrimSpace(w[1]) == "" {
			t.Errorf("word %q lacks a translation: %q", k, w)
		}
	}
	src, err := os.ReadFile("calls.go")
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile("page.go")
	if err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`"(err\.[a-z_]+)"`).FindAllStringSubmatch(string(src)+string(page), -1)
	if len(keys) < 10 {
		t.Fatalf("found only %d error keys: the scan is broken", len(keys))
	}
	// err.send_ is completed by the channel's kind.
	for _, k := range append(keys, []string{"", "err.send_sms"}, []string{"", "err.send_whatsapp"}) {
		if _, ok := words[k[1]]; !ok && !strings.HasSuffix(k[1], "_") {
			t.Errorf("error %q is not a word", k[1])
		}
	}
}
