// Package calls is the channel of phone calls a customer-service
// representative logs (kind phone): the caller's name, category, mobile
// number and employer, the inquiry, and what came of it — answered on the
// phone, guided to the right form, referred to the competent office, or a
// ticket for the topic. After the call Wasl can send the caller, by SMS or
// WhatsApp as the representative picks, the bank's links they chose and
// the rating link. A call is a message.Inbound like any other, stored in
// one transaction keyed by the call's id, so it joins the caller's history
// and counts in the channel report.
package calls

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// Ingester stores a call and everything it causes in one transaction (the
// pipeline).
type Ingester interface {
	Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error)
}

// Store says what a stored call became (its ticket's reference).
type Store interface {
	SubmissionTicket(ctx context.Context, channelID int64, externalID string) (ref, topic string, found bool, err error)
}

// Route is a channel the follow-up can go out by.
type Route struct {
	ChannelID int64
	Kind      message.Kind // the channel's own kind (a Twilio WhatsApp number is sms)
}

// Config is the phone channel.
type Config struct {
	ChannelID int64
	Bank      *replies.Bank
	Region    string // reads local numbers ("SA")
	// SMS and WhatsApp send the follow-up; a zero Route is not offered.
	SMS, WhatsApp Route
	// Actor names who is logging (the signed-in user), for the reasons.
	Actor func(ctx context.Context) string
	Log   *slog.Logger
}

// Handler serves the call log's API.
type Handler struct {
	cfg     Config
	store   Store
	ingest  Ingester
	choices map[string]replies.LinkChoice
}

// New builds the call log.
func New(cfg Config, st Store, in Ingester) (*Handler, error) {
	if cfg.Bank == nil || cfg.ChannelID == 0 {
		return nil, errors.New("calls: a bank and a channel id are needed")
	}
	if cfg.Region == "" {
		cfg.Region = "SA"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Actor == nil {
		cfg.Actor = func(context.Context) string { return "" }
	}
	h := &Handler{cfg: cfg, store: st, ingest: in, choices: map[string]replies.LinkChoice{}}
	for _, c := range cfg.Bank.LinkChoices() {
		h.choices[c.Key] = c
	}
	return h, nil
}

// Registrar is where routes go (an inbox.Mux).
type Registrar interface {
	Handle(pattern string, h http.Handler)
}

// Register mounts the API behind auth (the inbox's RequireAPI).
func (h *Handler) Register(mux Registrar, auth func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/calls/options", auth(http.HandlerFunc(h.options)))
	mux.Handle("POST /api/v1/calls", auth(http.HandlerFunc(h.log)))
}

// Categories are the catalogue's callers.
var categories = []struct {
	Value string
	Label replies.Text
}{
	{"academic", replies.Text{AR: "أكاديمي", EN: "Faculty"}},
	{"administrative", replies.Text{AR: "إداري", EN: "Staff"}},
	{"student", replies.Text{AR: "طالب", EN: "Student"}},
	{"external", replies.Text{AR: "من خارج الجامعة", EN: "From outside the university"}},
}

// Call is what a representative logs.
type Call struct {
	// ID is the client's key for this call: logging it again with the same
	// id (a retry, a double click) stores it once and sends once.
	ID       string `json:"id"`
	Name     string `json:"name"`
	Category string `json:"category"` // academic, administrative, student, external
	Mobile   string `json:"mobile"`   // required; local or E.164
	Employer string `json:"employer"`
	Inquiry  string `json:"inquiry"` // required
	// Outcome: answered, guided, referred or ticket (Topic required).
	Outcome  string `json:"outcome"`
	Topic    string `json:"topic"`
	Language string `json:"language"` // ar (default) or en: the caller's
	// Send is "", "sms" or "whatsapp": the follow-up's channel.
	Send   string   `json:"send"`
	Links  []string `json:"links"`  // keys from GET /api/v1/calls/options
	Rating bool     `json:"rating"` // add the rating link
}

// Logged is what logging a call made.
type Logged struct {
	MessageID      int64  `json:"message_id"`
	ConversationID int64  `json:"conversation_id"`
	TicketRef      string `json:"ticket_ref,omitempty"`
	Duplicate      bool   `json:"duplicate"`
	SentBy         string `json:"sent_by,omitempty"` // sms or whatsapp: a follow-up is on its way
}

type option struct {
	Value string `json:"value"`
	Label string `json:"label"`
}

func (h *Handler) options(w http.ResponseWriter, r *http.Request) {
	lang := r.URL.Query().Get("lang")
	if lang != "en" {
		lang = "ar"
	}
	var out struct {
		Categories []option `json:"categories"`
		Outcomes   []string `json:"outcomes"`
		Topics     []option `json:"topics"`
		Links      []option `json:"links"`
		Send       []string `json:"send"`
		RatingURL  string   `json:"rating_url,omitempty"`
	}
	for _, c := range categories {
		out.Categories = append(out.Categories, option{c.Value, c.Label.In(lang)})
	}
	out.Outcomes = []string{message.OutcomeAnswered, message.OutcomeGuided, message.OutcomeReferred, message.OutcomeTicket}
	for _, t := range h.cfg.Bank.Topics() {
		if t.Kind == replies.TopicRequest {
			out.Topics = append(out.Topics, option{t.ID, t.Title.In(lang)})
		}
	}
	for _, c := range h.cfg.Bank.LinkChoices() {
		out.Links = append(out.Links, option{c.Key, c.Link.Title.In(lang) + " — " + c.Link.URL})
	}
	if h.cfg.SMS.ChannelID != 0 {
		out.Send = append(out.Send, "sms")
	}
	if h.cfg.WhatsApp.ChannelID != 0 {
		out.Send = append(out.Send, "whatsapp")
	}
	out.RatingURL = h.cfg.Bank.SurveyURL()
	writeJSON(w, http.StatusOK, out)
}

// problem is a refused call, in the API's error shape, with what is
// wrong with each field.
type problem struct {
	Error struct {
		Code    string            `json:"code"`
		Message string            `json:"message"`
		Fields  map[string]string `json:"fields,omitempty"`
	} `json:"error"`
}

func newProblem(code, msg string, fields map[string]string) problem {
	var p problem
	p.Error.Code, p.Error.Message, p.Error.Fields = code, msg, fields
	return p
}

func (h *Handler) log(w http.ResponseWriter, r *http.Request) {
	var c Call
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		writeJSON(w, http.StatusBadRequest, newProblem("bad_request", "the body is not a call: "+err.Error(), nil))
		return
	}
	in, bad := h.inbound(r.Context(), c)
	if len(bad) > 0 {
		writeJSON(w, http.StatusBadRequest, newProblem("invalid", "the call is not complete: see fields", faultsIn(bad, "en")))
		return
	}
	out, err := h.ingest.Ingest(r.Context(), in)
	if err != nil {
		h.cfg.Log.ErrorContext(r.Context(), "calls: ingest", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, newProblem("unavailable", "the call could not be stored; log it again (the same id stores it once)", nil))
		return
	}
	res := Logged{MessageID: out.MessageID, ConversationID: out.ConversationID, Duplicate: out.Duplicate, SentBy: c.Send}
	if ref, _, found, err := h.store.SubmissionTicket(r.Context(), h.cfg.ChannelID, in.ExternalID); err == nil && found {
		res.TicketRef = ref
	}
	status := http.StatusCreated
	if out.Duplicate {
		status = http.StatusOK
	}
	writeJSON(w, status, res)
}

// fault is what is wrong with a field of a call: a key of the page's
// words ("err.required"), worded in the page's language or, for the API,
// in English; n fills a {n} in it.
type fault struct {
	key string
	n   int
}

// faultsIn words faults in lang.
func faultsIn(bad map[string]fault, lang string) map[string]string {
	out := make(map[string]string, len(bad))
	for field, f := range bad {
		out[field] = strings.ReplaceAll(word(lang, f.key), "{n}", strconv.Itoa(f.n))
	}
	return out
}

// inbound checks a call and makes it a message, or says what is wrong.
func (h *Handler) inbound(ctx context.Context, c Call) (message.Inbound, map[string]fault) {
	bad := map[string]fault{}
	trim := func(s *string, field string, max int, required bool) {
		*s = strings.TrimSpace(*s)
		switch {
		case *s == "" && required:
			bad[field] = fault{key: "err.required"}
		case utf8.RuneCountInString(*s) > max:
			bad[field] = fault{"err.too_long", max}
		}
	}
	trim(&c.ID, "id", 100, true)
	trim(&c.Name, "name", 200, false)
	trim(&c.Employer, "employer", 200, false)
	trim(&c.Inquiry, "inquiry", 4000, true)
	lang := c.Language
	if lang != "en" {
		lang = "ar"
	}
	mobile, err := message.NormalizePhone(c.Mobile, h.cfg.Region)
	switch {
	case strings.TrimSpace(c.Mobile) == "":
		bad["mobile"] = fault{key: "err.required"}
	case err != nil:
		bad["mobile"] = fault{key: "err.mobile"}
	}
	var category string
	for _, x := range categories {
		if x.Value == c.Category {
			category = x.Label.In(lang)
		}
	}
	if c.Category != "" && category == "" {
		bad["category"] = fault{key: "err.category"}
	}
	switch c.Outcome {
	case message.OutcomeAnswered, message.OutcomeGuided, message.OutcomeReferred:
	case message.OutcomeTicket:
		if t, ok := h.cfg.Bank.Topic(c.Topic); !ok || t.Kind != replies.TopicRequest {
			bad["topic"] = fault{key: "err.ticket_topic"}
		}
	default:
		bad["outcome"] = fault{key: "err.outcome"}
	}
	if c.Topic != "" {
		if _, ok := h.cfg.Bank.Topic(c.Topic); !ok {
			bad["topic"] = fault{key: "err.topic"}
		}
	}
	var route Route
	switch c.Send {
	case "":
	case "sms":
		route = h.cfg.SMS
	case "whatsapp":
		route = h.cfg.WhatsApp
	default:
		bad["send"] = fault{key: "err.send"}
	}
	if c.Send != "" && route.ChannelID == 0 && bad["send"].key == "" {
		bad["send"] = fault{key: "err.send_" + c.Send}
	}
	var links []replies.Link
	for _, k := range c.Links {
		ch, ok := h.choices[k]
		if !ok {
			bad["links"] = fault{key: "err.link"}
			continue
		}
		links = append(links, ch.Link)
	}
	if c.Send != "" && len(links) == 0 && !c.Rating {
		bad["links"] = fault{key: "err.nothing_to_send"}
	}
	if len(bad) > 0 {
		return message.Inbound{}, bad
	}

	l := func(ar, en string) string {
		if lang == "en" {
			return en
		}
		return ar
	}
	fields := []message.Field{
		{Name: "name", Label: l("الاسم", "Name"), Value: c.Name},
		{Name: "category", Label: l("الفئة", "Category"), Value: category, Code: c.Category},
		{Name: "mobile", Label: l("رقم الجوال", "Mobile number"), Value: mobile},
		{Name: "employer", Label: l("جهة العمل", "Employer"), Value: c.Employer},
		{Name: "inquiry", Label: l("الاستفسار", "Inquiry"), Value: c.Inquiry},
	}
	var kept []message.Field
	var lines []string
	for _, f := range fields {
		if f.Value != "" {
			kept = append(kept, f)
			lines = append(lines, f.Label+": "+strings.ReplaceAll(f.Value, "\n", "\n  "))
		}
	}
	from := message.Party{Kind: message.IdentityPhone, Value: mobile, Name: c.Name}
	actor := h.cfg.Actor(ctx)
	note := "the call"
	if actor != "" {
		note = "the call logged by " + actor
	}
	in := message.Inbound{
		ChannelID:  h.cfg.ChannelID,
		Channel:    message.Phone,
		ExternalID: "call:" + c.ID,
		From:       from,
		Subject:    l("مكالمة: ", "Call: ") + firstLine(c.Inquiry, 80),
		Text:       strings.Join(lines, "\n"),
		Fields:     kept,
		ReceivedAt: time.Now(),
		Declared:   &message.Declared{Topic: c.Topic, Outcome: c.Outcome, Language: lang, Note: note},
	}
	if c.Send != "" {
		kind := message.SMS
		if c.Send == "whatsapp" {
			kind = message.WhatsApp
		}
		f := replies.FollowUp{Language: lang, Channel: kind, Name: c.Name, Links: links}
		if c.Rating {
			f.RatingURL = h.cfg.Bank.SurveyURL()
		}
		reply, err := h.cfg.Bank.RenderFollowUp(f)
		if err != nil {
			h.cfg.Log.ErrorContext(ctx, "calls: follow-up", "err", err)
			return message.Inbound{}, map[string]fault{"links": {key: "err.follow_up"}}
		}
		in.Routes = []message.Route{{ChannelID: route.ChannelID, Channel: route.Kind, To: from, Text: reply.Text}}
	}
	return in, nil
}

func firstLine(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
