package forms

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/replies"
)

// pageData is what every template gets.
type pageData struct {
	Lang, Dir string
	Title     string
	Org       string
	Hours     string
	Other     string // the other language
	OtherURL  string // this page in it
	Data      any
}

// T translates a catalogue key.
func (p *pageData) T(key string) string { return tr(p.Lang, key) }

// Tn translates a key with {n}.
func (p *pageData) Tn(key string, n int) string {
	return strings.ReplaceAll(p.T(key), "{n}", strconv.Itoa(n))
}

func (h *Handler) newPage(r *http.Request, lang, title string) *pageData {
	p := &pageData{Lang: lang, Dir: "rtl", Other: "en", Title: title, Org: h.cfg.Bank.Name().In(lang)}
	if lang == "en" {
		p.Dir, p.Other = "ltr", "ar"
	}
	if c := h.cfg.Bank.Calendar(); c != nil {
		p.Hours = c.Describe(lang)
	}
	u := *r.URL
	q := u.Query()
	q.Set("lang", p.Other)
	u.RawQuery = q.Encode()
	p.OtherURL = u.Path + "?" + u.RawQuery
	return p
}

// render writes a page from a buffer, so a template error never sends
// half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *pageData) {
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.log.ErrorContext(r.Context(), "forms: render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	// A page carries a fresh token; the sent page a customer's reference.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// message answers with a short page (not found, refused).
func (h *Handler) message(w http.ResponseWriter, r *http.Request, status int, lang, key string) {
	p := h.newPage(r, lang, tr(lang, "page.suffix"))
	p.Data = tr(lang, key)
	h.render(w, r, status, "message", p)
}

// formPage is the form template's data.
type formPage struct {
	Topic        string
	Heading      string
	Intro        string
	Action       string
	Token        string
	Multipart    bool
	Today        string
	Entries      []entry
	Notify       []string // "sms", "whatsapp": the mobile channels offered
	NotifyChoice string
	Message      string  // what went wrong, above the form
	Summary      []entry // the fields with errors
}

func (h *Handler) topic(r *http.Request) (*replies.Topic, bool) {
	t, ok := h.cfg.Bank.Topic(r.PathValue("topic"))
	if !ok || t.Form == nil {
		return nil, false
	}
	return t, true
}

func (h *Handler) showIndex(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	p := h.newPage(r, l, tr(l, "index.title"))
	p.Data = h.cfg.Bank.Forms()
	h.render(w, r, http.StatusOK, "index", p)
}

func (h *Handler) showForm(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	t, ok := h.topic(r)
	if !ok {
		h.message(w, r, http.StatusNotFound, l, "notfound")
		return
	}
	entries := make([]entry, len(t.Form.Fields))
	for i, f := range t.Form.Fields {
		entries[i] = entry{Field: f}
		for n := 1; n <= f.Rows && f.Type == replies.FieldItems; n++ {
			entries[i].Items = append(entries[i].Items, itemRow{N: n})
		}
	}
	h.renderForm(w, r, http.StatusOK, t, l, entries, "", "")
}

// renderForm shows a topic's form with a fresh token, the entries as
// given (empty, or kept from a refused submission) and, when refused, what
// went wrong.
func (h *Handler) renderForm(w http.ResponseWriter, r *http.Request, status int, t *replies.Topic, l string, entries []entry, notify, problem string) {
	tok, err := newToken(h.cfg.Now())
	if err != nil {
		h.log.ErrorContext(r.Context(), "forms: token", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h.renderFormWith(w, r, status, t, l, entries, notify, problem, tok)
}

// renderFormWith is renderForm with a given token: a refused submission's
// page keeps its key and time.
func (h *Handler) renderFormWith(w http.ResponseWriter, r *http.Request, status int, t *replies.Topic, l string, entries []entry, notify, problem string, tok token) {
	title := t.Title.In(l)
	p := h.newPage(r, l, title)
	d := &formPage{Topic: t.ID, Heading: title, Intro: t.Form.Intro.In(l), Token: tok.sign(h.cfg.Key, t.ID),
		Action: replies.FormPath(t.ID), Entries: entries, NotifyChoice: notify, Message: problem,
		Today: h.cfg.Now().In(h.zone).Format(time.DateOnly)}
	for _, f := range t.Form.Fields {
		d.Multipart = d.Multipart || f.Type == replies.FieldFile
	}
	if h.hasMobile(t.Form) {
		if h.cfg.SMS.ChannelID != 0 {
			d.Notify = append(d.Notify, "sms")
		}
		if h.cfg.WhatsApp.ChannelID != 0 {
			d.Notify = append(d.Notify, "whatsapp")
		}
	}
	for _, e := range entries {
		if e.Error != "" {
			d.Summary = append(d.Summary, e)
		}
	}
	p.Data = d
	h.render(w, r, status, "form", p)
}

func (h *Handler) hasMobile(f *replies.Form) bool {
	for _, x := range f.Fields {
		if x.Identity == replies.IdentityMobile {
			return true
		}
	}
	return false
}

// sentPage is the confirmation.
type sentPage struct {
	Heading string
	Ref     string
	Again   string
}

// showSent is the confirmation of a stored submission, with its ticket's
// reference. Its address holds the submission key, which only the
// submitter has.
func (h *Handler) showSent(w http.ResponseWriter, r *http.Request) {
	l := lang(r)
	t, ok := h.topic(r)
	key := r.PathValue("key")
	if !ok || !validKey(key) {
		h.message(w, r, http.StatusNotFound, l, "notfound")
		return
	}
	ref, topic, found, err := h.store.SubmissionTicket(r.Context(), h.cfg.ChannelID, externalID(key))
	if err != nil {
		h.log.ErrorContext(r.Context(), "forms: sent page", "err", err)
		h.message(w, r, http.StatusServiceUnavailable, l, "err.unavailable")
		return
	}
	if !found || topic != t.ID {
		h.message(w, r, http.StatusNotFound, l, "notfound")
		return
	}
	p := h.newPage(r, l, tr(l, "sent.title"))
	p.Data = sentPage{Heading: t.Title.In(l), Ref: ref, Again: replies.FormPath(t.ID) + "?lang=" + url.QueryEscape(l)}
	h.render(w, r, http.StatusOK, "sent", p)
}

// externalID is the message id a submission key is stored under.
func externalID(key string) string { return "form:" + key }
