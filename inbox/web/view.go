package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// page is what every template gets: who is looking, in which language and
// time zone, and the page's own data.
type page struct {
	Lang  string // ar or en
	Dir   string // rtl or ltr
	User  store.User
	Title string
	Nav   string // which nav entry is current
	Back  string // this page's path, for forms that come back here
	// Since is the change feed's position when the request began: the
	// page's live updates start there, so nothing between render and
	// subscription is missed.
	Since int64
	Data  any
	loc   *time.Location
	h     *Handler
}

// T translates a catalogue key.
func (p *page) T(key string) string { return tr(p.Lang, key) }

// Tn translates a key whose text has a {n} in it.
func (p *page) Tn(key string, n int) string {
	return strings.ReplaceAll(p.T(key), "{n}", fmt.Sprint(n))
}

var arabicMonths = [...]string{"يناير", "فبراير", "مارس", "أبريل", "مايو", "يونيو", "يوليو", "أغسطس", "سبتمبر", "أكتوبر", "نوفمبر", "ديسمبر"}

// When formats t in the viewer's time zone: the time alone for today, the
// day and month otherwise, with Arabic month names in Arabic.
func (p *page) When(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(p.loc)
	now := p.h.now().In(p.loc)
	clock := t.Format("15:04")
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return clock
	}
	return p.Date(t) + " " + clock
}

// Date is the day, month and year of t in the viewer's zone.
func (p *page) Date(t time.Time) string {
	t = t.In(p.loc)
	if p.Lang == "en" {
		return t.Format("2 Jan 2006")
	}
	return fmt.Sprintf("%d %s %d", t.Day(), arabicMonths[t.Month()-1], t.Year())
}

// Hours words a working-time duration in hours ("3.5 working hours"); a
// dash for none.
func (p *page) Hours(d time.Duration) string { return tickets.WorkingHours(d, p.Lang) }

// Share is n of total as a whole percentage; a dash when total is 0.
func (p *page) Share(n, total int) string {
	if total == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f%%", float64(n)*100/float64(total))
}

// ISO is t for a datetime attribute.
func (p *page) ISO(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// Local is t in the viewer's zone as an <input type=datetime-local> value.
func (p *page) Local(t time.Time) string { return t.In(p.loc).Format("2006-01-02T15:04") }

// Zone names the viewer's time zone.
func (p *page) Zone() string { return p.loc.String() }

// Past reports whether t has passed.
func (p *page) Past(t time.Time) bool { return !t.IsZero() && t.Before(p.h.now()) }

// opArgs passes the page and a value to a sub-template.
type opArgs struct {
	P *page
	V any
}

// State names a connector state in the viewer's language.
func (p *page) State(s string) string {
	if _, ok := catalogue["op.state."+s]; ok {
		return p.T("op.state." + s)
	}
	return s
}

// IsOperator reports whether the viewer may open the operator pages.
func (p *page) IsOperator() bool { return p.User.Role == store.RoleOperator }

// CanLogCalls reports whether the "log a call" page is served.
func (p *page) CanLogCalls() bool { return p.h.calls }

// Reason shows a ticket's outcome reason in the viewer's language: the
// "item unavailable" the close form records (store.ReasonUnavailable,
// English in the store and the API) translated, the staff member's words
// after it as written.
func (p *page) Reason(reason string) string {
	if rest, ok := strings.CutPrefix(reason, store.ReasonUnavailable); ok && (rest == "" || rest[0] == ':') {
		return p.T("reason.unavailable") + rest
	}
	return reason
}

// EventNote shows a ticket event's note; the notes the inbox and the
// router write themselves are shown in the viewer's language. Each pattern
// is tied to the kind of event its note is written with, so that a note a
// person typed is never taken for one; a note no pattern knows (one
// written before its wording changed, say) shows as stored.
func (p *page) EventNote(e store.TicketEvent) string {
	for _, n := range systemNotes {
		if n.kind != e.Kind || (n.to != "" && n.to != e.ToStatus) {
			continue
		}
		m := n.re.FindStringSubmatch(e.Note)
		if m == nil {
			continue
		}
		text := p.T(n.key)
		for i, v := range m[1:] {
			switch i + 1 {
			case n.department:
				v = p.Department(v)
			case n.time:
				if at, err := time.Parse(time.RFC3339, v); err == nil {
					v = p.When(at)
				}
			}
			// Each value isolated (FSI … PDI): an English reply's text or an
			// address keeps its own direction inside an Arabic sentence.
			text = strings.ReplaceAll(text, fmt.Sprintf("{%d}", i+1), "\u2068"+v+"\u2069")
		}
		return text
	}
	return e.Note
}

// systemNotes are the notes Wasl writes on ticket events (inbox/service.go,
// inbox/supply.go, router/pipeline.go, router/numbering.go), as patterns with the key of
// their translation; {1}, {2} in it are the pattern's groups. Group
// department, when set, is a department's id, shown by its name; group
// time an RFC 3339 time, shown in the viewer's zone.
var systemNotes = []struct {
	kind, to         string // the event's kind and, for moves, its new status
	re               *regexp.Regexp
	key              string
	department, time int
}{
	{kind: store.EventReply, re: regexp.MustCompile(`^reply #(\d+): (.*)$`), key: "note.reply"},
	{kind: store.EventReply, re: regexp.MustCompile(`^retry of reply #(\d+)$`), key: "note.retry"},
	{kind: store.EventAssign, re: regexp.MustCompile(`^assigned to (\S+) \(head of (.+)\)$`), key: "note.assigned_head", department: 2},
	{kind: store.EventAssign, re: regexp.MustCompile(`^assigned to (\S+)$`), key: "note.assigned"},
	{kind: store.EventStatus, to: string(tickets.InProgress), re: regexp.MustCompile(`^assigned to (\S+)$`), key: "note.assigned"},
	{kind: store.EventStatus, to: string(tickets.Transferred), re: regexp.MustCompile(`^to (.+)$`), key: "note.transfer", department: 1},
	{kind: store.EventStatus, to: string(tickets.Open), re: regexp.MustCompile(`^` + regexp.QuoteMeta(inbox.NoteSupplyArrived) + `$`), key: "event.supply_arrived"},
	{kind: store.EventStatus, re: regexp.MustCompile(`^reopened by customer message #(\d+)$`), key: "note.reopened"},
	{kind: store.EventStatus, re: regexp.MustCompile(`^the customer answered \(message #(\d+)\)$`), key: "note.answered"},
	{kind: store.EventMessage, re: regexp.MustCompile(`^customer message #(\d+)$`), key: "note.message"},
	{kind: store.EventLinked, re: regexp.MustCompile(`^follows (\S+)$`), key: "note.follows"},
	{kind: store.EventLinked, re: regexp.MustCompile(`^followed by (\S+)$`), key: "note.followed"},
	{kind: store.EventSnooze, re: regexp.MustCompile(`^until (\S+)$`), key: "note.until", time: 1},
}

// Action names a classifier decision's action in the viewer's language;
// one this catalogue does not know shows as it is stored.
func (p *page) Action(a string) string { return p.known("action."+a, a) }

// Actor names who made an event: the system or the customer in the
// viewer's language, a member of staff by their address.
func (p *page) Actor(a string) string { return p.known("actor."+a, a) }

// known is key translated, or fallback when the catalogue has no key.
func (p *page) known(key, fallback string) string {
	if _, ok := catalogue[key]; !ok {
		return fallback
	}
	return p.T(key)
}

// Department names a department in the viewer's language.
func (p *page) Department(id string) string {
	if id == "" {
		return ""
	}
	if b := p.h.knowledge(); b != nil {
		if d, ok := b.Department(id); ok {
			return d.Name.In(p.Lang)
		}
	}
	return id
}

// Topic names a topic in the viewer's language.
func (p *page) Topic(id string) string {
	if id == "" {
		return ""
	}
	if b := p.h.knowledge(); b != nil {
		if t, ok := b.Topic(id); ok {
			return t.Title.In(p.Lang)
		}
	}
	return id
}

func funcs() template.FuncMap {
	return template.FuncMap{
		"add":    func(a, b int) int { return a + b },
		"eq64":   func(a, b int64) bool { return a == b },
		"pct":    func(f float64) string { return fmt.Sprintf("%.0f%%", f*100) },
		"srcdoc": func(s string) string { return s }, // html/template escapes it for the attribute
		"list":   func(s ...string) []string { return s },
		"ints":   func(v ...int) []int { return v },
		"list2":  func(v ...any) []any { return v },
		"args":   func(p *page, v any) opArgs { return opArgs{P: p, V: v} },
		"deref":  func(t *time.Time) time.Time { return *t },
	}
}

// newPage starts the page data for the request's principal.
func (h *Handler) newPage(r *http.Request, title string) *page {
	p := &page{Lang: "ar", Dir: "rtl", Title: title, Back: r.URL.RequestURI(), loc: h.zone, h: h}
	if pr, ok := inbox.PrincipalFrom(r.Context()); ok {
		p.User = pr.User
		if h.store != nil {
			p.Since, _ = h.store.LastChangeID(r.Context())
		}
		if pr.User.Language == "en" {
			p.Lang, p.Dir = "en", "ltr"
		}
		if pr.User.TimeZone != "" {
			if loc, err := time.LoadLocation(pr.User.TimeZone); err == nil {
				p.loc = loc
			}
		}
	} else if lang := r.URL.Query().Get("lang"); lang == "en" {
		p.Lang, p.Dir = "en", "ltr"
	} else if lang == "" && strings.HasPrefix(r.Header.Get("Accept-Language"), "en") {
		p.Lang, p.Dir = "en", "ltr"
	}
	return p
}

// render writes a page; a template error is logged and a plain 500 sent
// (nothing half-written: the page renders into a buffer first).
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	t, ok := h.pages[name]
	if !ok {
		h.log.ErrorContext(r.Context(), "no such template", "name", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", p); err != nil {
		h.log.ErrorContext(r.Context(), "render", "template", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error as a page: 403, 404, 400 or 500 by its kind.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, key := http.StatusInternalServerError, "error.internal"
	var invalid *inbox.InvalidError
	switch {
	case errors.Is(err, inbox.ErrForbidden):
		status, key = http.StatusForbidden, "error.forbidden"
	case errors.Is(err, store.ErrNotFound):
		status, key = http.StatusNotFound, "error.notfound"
	case errors.As(err, &invalid), errors.Is(err, inbox.ErrConflict):
		status, key = http.StatusBadRequest, "error.invalid"
	default:
		h.log.ErrorContext(r.Context(), "inbox", "path", r.URL.Path, "err", err)
	}
	p := h.newPage(r, tr("ar", "error.title"))
	p.Title = p.T("error.title")
	msg := p.T(key)
	if invalid != nil {
		msg = p.T(key) + ": " + invalid.Error()
	}
	p.Data = msg
	h.render(w, r, status, "error", p)
}

func principal(r *http.Request) inbox.Principal {
	p, _ := inbox.PrincipalFrom(r.Context())
	return p
}
