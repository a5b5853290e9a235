package calls

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"html/template"
	"net/http"
	"slices"
	"strconv"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

//go:embed templates/new.html
var pageFS embed.FS

var pageTmpl = template.Must(template.ParseFS(pageFS, "templates/new.html"))

// The page's words, Arabic then English; the bank gives topics and links.
var words = map[string][2]string{
	"title":         {"تسجيل مكالمة", "Log a call"},
	"back":          {"صندوق الوارد", "Inbox"},
	"name":          {"اسم المتصل", "Caller's name"},
	"category":      {"الفئة", "Category"},
	"mobile":        {"رقم الجوال", "Mobile number"},
	"employer":      {"جهة العمل", "Employer"},
	"inquiry":       {"الاستفسار", "Inquiry"},
	"outcome":       {"نتيجة المكالمة", "Outcome"},
	"answered":      {"تمت الإجابة هاتفيًا", "Answered on the phone"},
	"guided":        {"تم التوجيه إلى النموذج المناسب", "Guided to the right form"},
	"referred":      {"تمت الإحالة إلى الجهة المختصة", "Referred to the competent office"},
	"ticket":        {"فتح تذكرة", "Open a ticket"},
	"topic":         {"الخدمة", "Service"},
	"none":          {"—", "—"},
	"send":          {"إرسال الروابط بعد المكالمة", "Send links after the call"},
	"send.":         {"لا", "No"},
	"send.sms":      message.SMS.By(),
	"send.whatsapp": message.WhatsApp.By(),
	"links":         {"الروابط", "Links"},
	"rating":        {"رابط تقييم الخدمة والموظف", "The rating link (service and representative)"},
	"submit":        {"حفظ المكالمة", "Save the call"},
	"problem":       {"لم تُحفظ المكالمة. صحّح ما يلي:", "The call was not saved. Please correct:"},
	"required":      {"مطلوب", "required"},
	"id":            {"المكالمة", "The call"},
	// What is wrong with a field, beside it and in the summary; the API
	// gives the English.
	"err.required":        {"هذا الحقل مطلوب.", "This field is required."},
	"err.too_long":        {"النص أطول من {n} حرفًا.", "Please keep it under {n} characters."},
	"err.mobile":          {"أدخل رقم جوال صحيحًا، مثل 0551234567.", "Enter a valid mobile number, such as 0551234567."},
	"err.category":        {"اختر فئة من القائمة: أكاديمي أو إداري أو طالب أو جهة خارجية.", "Choose a category from the list: academic, administrative, student or external."},
	"err.outcome":         {"اختر نتيجة المكالمة.", "Choose the call's outcome: answered, guided, referred or ticket."},
	"err.ticket_topic":    {"اختر الخدمة التي تُفتح لها التذكرة.", "Choose the service the ticket is for."},
	"err.topic":           {"اختر خدمة من القائمة.", "Choose a service from the list."},
	"err.send":            {"اختر الإرسال برسالة نصية أو عبر واتساب.", "Choose sending by SMS or by WhatsApp."},
	"err.send_sms":        {"لا توجد قناة رسائل نصية لإرسال الروابط بعد المكالمة.", "No SMS channel is configured to send links after a call."},
	"err.send_whatsapp":   {"لا توجد قناة واتساب لإرسال الروابط بعد المكالمة.", "No WhatsApp channel is configured to send links after a call."},
	"err.link":            {"اختر الروابط من القائمة فقط.", "Choose only links from the list."},
	"err.nothing_to_send": {"اختر رابطًا واحدًا على الأقل أو رابط التقييم لإرساله.", "Choose at least one link, or the rating link, to send."},
	"err.follow_up":       {"تعذّرت كتابة الرسالة إلى المتصل. اختر الروابط مرة أخرى.", "The message to the caller could not be written. Choose the links again."},
	"err.unavailable":     {"تعذّر حفظ المكالمة الآن. احفظها مرة أخرى.", "The call could not be stored just now. Save it again."},
}

// word is key in lang ("en" gives English, anything else Arabic); an
// unknown key shows as itself, which the words test catches.
func word(lang, key string) string {
	w, ok := words[key]
	if !ok {
		return key
	}
	if lang == "en" {
		return w[1]
	}
	return w[0]
}

type pageData struct {
	Lang, Dir  string
	Call       Call
	Errors     map[string]string // by field, in the page's language
	Categories []option
	Outcomes   []option
	Topics     []option
	Links      []option
	Send       []option
}

// T is a word of the page in its language.
func (p *pageData) T(key string) string { return word(p.Lang, key) }

// Picked reports whether the call picked the link key.
func (p *pageData) Picked(key string) bool { return slices.Contains(p.Call.Links, key) }

// RegisterPage mounts the "log a call" page behind the inbox's session
// (RequireSession): a server-rendered form over the same checks as the
// API, which opens the call's conversation once saved.
func (h *Handler) RegisterPage(mux Registrar, session func(http.Handler) http.Handler) {
	mux.Handle("GET /calls/new", session(http.HandlerFunc(h.showPage)))
	mux.Handle("POST /calls/new", session(http.HandlerFunc(h.savePage)))
}

func pageLang(r *http.Request) string {
	if l := r.FormValue("lang"); l == "en" || l == "ar" {
		return l
	}
	return "ar"
}

func (h *Handler) showPage(w http.ResponseWriter, r *http.Request) {
	var key [12]byte
	if _, err := rand.Read(key[:]); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	c := Call{ID: base64.RawURLEncoding.EncodeToString(key[:]), Outcome: message.OutcomeAnswered, Language: pageLang(r)}
	h.renderPage(w, r, http.StatusOK, c, nil)
}

func (h *Handler) savePage(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	f := r.PostForm
	c := Call{ID: f.Get("id"), Name: f.Get("name"), Category: f.Get("category"), Mobile: f.Get("mobile"),
		Employer: f.Get("employer"), Inquiry: f.Get("inquiry"), Outcome: f.Get("outcome"), Topic: f.Get("topic"),
		Language: pageLang(r), Send: f.Get("send"), Links: f["links"], Rating: f.Get("rating") != ""}
	in, bad := h.inbound(r.Context(), c)
	if len(bad) > 0 {
		h.renderPage(w, r, http.StatusBadRequest, c, bad)
		return
	}
	out, err := h.ingest.Ingest(r.Context(), in)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "calls: ingest", "err", err)
		h.renderPage(w, r, http.StatusServiceUnavailable, c, map[string]fault{"id": {key: "err.unavailable"}})
		return
	}
	http.Redirect(w, r, "/conversations/"+strconv.FormatInt(out.ConversationID, 10), http.StatusSeeOther)
}

func (h *Handler) renderPage(w http.ResponseWriter, r *http.Request, status int, c Call, bad map[string]fault) {
	l := pageLang(r)
	p := &pageData{Lang: l, Dir: "rtl", Call: c, Errors: faultsIn(bad, l)}
	if l == "en" {
		p.Dir = "ltr"
	}
	in := func(t replies.Text) string { return t.In(l) }
	for _, x := range categories {
		p.Categories = append(p.Categories, option{x.Value, in(x.Label)})
	}
	for _, o := range []string{message.OutcomeAnswered, message.OutcomeGuided, message.OutcomeReferred, message.OutcomeTicket} {
		p.Outcomes = append(p.Outcomes, option{o, p.T(o)})
	}
	for _, t := range h.cfg.Bank.Topics() {
		if t.Kind == replies.TopicRequest {
			p.Topics = append(p.Topics, option{t.ID, in(t.Title)})
		}
	}
	for _, ch := range h.cfg.Bank.LinkChoices() {
		p.Links = append(p.Links, option{ch.Key, in(ch.Link.Title)})
	}
	p.Send = []option{{"", p.T("send.")}}
	if h.cfg.SMS.ChannelID != 0 {
		p.Send = append(p.Send, option{"sms", p.T("send.sms")})
	}
	if h.cfg.WhatsApp.ChannelID != 0 {
		p.Send = append(p.Send, option{"whatsapp", p.T("send.whatsapp")})
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, p); err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "calls: render", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
	hd.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
