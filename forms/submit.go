package forms

import (
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
)

// submit takes a form's POST. Checks run cheapest first, and nothing is
// written before the last: the body limit, the token (ours, for this
// form), a submission already stored (a second click: its confirmation
// again), the honeypot, the answers, the fill time, the per-address and
// the per-contact limits; then one ingest, and a redirect to the
// confirmation (so a refresh re-sends nothing).
func (h *Handler) submit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := h.cfg.Now()
	t, ok := h.topic(r)
	if !ok {
		h.message(w, r, http.StatusNotFound, lang(r), "notfound")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, h.maxBody(t.Form))
	if err := parseBody(r, h.maxBody(t.Form)); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.refuse(w, r, outcomeTooLarge, http.StatusRequestEntityTooLarge, langOf(r), trn(langOf(r), "err.too_large", humanBytes(h.cfg.MaxUploadBytes)))
			return
		}
		h.refuse(w, r, outcomeBadToken, http.StatusBadRequest, langOf(r), tr(langOf(r), "err.refused"))
		return
	}
	if r.MultipartForm != nil {
		defer r.MultipartForm.RemoveAll() //nolint:errcheck // temporary files of the request
	}
	l := lang(r)
	tok, err := parseToken(h.cfg.Key, t.ID, r.PostFormValue("token"))
	if err != nil {
		h.refuse(w, r, outcomeBadToken, http.StatusBadRequest, l, tr(l, "err.refused"))
		return
	}
	key := tok.Key()
	sent := replies.FormPath(t.ID) + "/sent/" + key + "?lang=" + url.QueryEscape(l)
	if _, _, found, err := h.store.SubmissionTicket(ctx, h.cfg.ChannelID, externalID(key)); err == nil && found {
		h.counted.WithLabelValues(outcomeDuplicate).Inc()
		http.Redirect(w, r, sent, http.StatusSeeOther)
		return
	}
	if r.PostFormValue("website") != "" {
		// Only a program fills a field nobody can see.
		h.refuse(w, r, outcomeHoneypot, http.StatusBadRequest, l, tr(l, "err.refused"))
		return
	}

	s := h.check(t.Form, postedForm{r}, l)
	notify := r.PostFormValue("notify")
	if notify != "sms" && notify != "whatsapp" || (notify == "sms" && h.cfg.SMS.ChannelID == 0) || (notify == "whatsapp" && h.cfg.WhatsApp.ChannelID == 0) {
		notify = ""
	}
	if notify != "" && s.mobile == "" {
		for i := range s.entries {
			if s.entries[i].Field.Identity == replies.IdentityMobile && s.entries[i].Error == "" {
				s.entries[i].Error, s.ok = tr(l, "err.notify_mobile"), false
			}
		}
	}
	again := func(status int, outcome, problem string, tok token) {
		if s.hadFile {
			problem += " " + tr(l, "err.file_again")
		}
		h.counted.WithLabelValues(outcome).Inc()
		h.renderFormWith(w, r, status, t, l, s.entries, notify, problem, tok)
	}
	elapsed := now.Sub(tok.issued)
	switch {
	case elapsed < h.cfg.MinFillTime:
		// Kept: the same key and time, so sending again soon succeeds.
		again(http.StatusBadRequest, outcomeTooFast, tr(l, "err.too_fast"), tok)
		return
	case elapsed > h.cfg.MaxAge:
		fresh, err := newToken(now)
		if err != nil {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		again(http.StatusBadRequest, outcomeExpired, tr(l, "err.expired"), fresh)
		return
	case !s.ok:
		again(http.StatusBadRequest, outcomeInvalid, tr(l, "summary"), tok)
		return
	}

	ids := s.identities()
	if len(ids) == 0 {
		// The bank requires an email or a mobile; a form without either
		// answered has nobody to answer.
		again(http.StatusBadRequest, outcomeInvalid, tr(l, "summary"), tok)
		return
	}
	ip := h.clientIP(r)
	if !h.perIP.allow(ip, now) {
		h.refuse(w, r, outcomeRateIP, http.StatusTooManyRequests, l, tr(l, "err.rate_ip"))
		return
	}
	n, err := h.store.CountFromIdentities(ctx, h.cfg.ChannelID, ids, now.Add(-h.cfg.PerContact.Within))
	if err != nil {
		h.log.ErrorContext(ctx, "forms: per-contact count", "err", err)
		again(http.StatusServiceUnavailable, outcomeFailed, tr(l, "err.unavailable"), tok)
		return
	}
	if n >= h.cfg.PerContact.Max {
		h.refuse(w, r, outcomeRateContact, http.StatusTooManyRequests, l, tr(l, "err.rate_contact"))
		return
	}

	out, err := h.ingest.Ingest(ctx, h.inbound(t, key, s, l, notify, ids))
	if err != nil {
		// Nothing was stored; the same key makes a retry safe.
		h.log.ErrorContext(ctx, "forms: ingest", "topic", t.ID, "err", err)
		again(http.StatusServiceUnavailable, outcomeFailed, tr(l, "err.unavailable"), tok)
		return
	}
	if out.Duplicate {
		h.counted.WithLabelValues(outcomeDuplicate).Inc()
	} else {
		h.counted.WithLabelValues(outcomeAccepted).Inc()
		h.perIP.add(ip, now)
	}
	http.Redirect(w, r, sent, http.StatusSeeOther)
}

// refuse counts a refusal and answers with a short page.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, outcome string, status int, l, text string) {
	h.counted.WithLabelValues(outcome).Inc()
	h.log.InfoContext(r.Context(), "form submission refused", "topic", r.PathValue("topic"), "outcome", outcome)
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "3600")
	}
	p := h.newPage(r, l, tr(l, "page.suffix"))
	p.Data = text
	h.render(w, r, status, "message", p)
}

// maxBody bounds a form's request: its file fields' worth and 256 KiB for
// the rest.
func (h *Handler) maxBody(f *replies.Form) int64 {
	n := int64(256 << 10)
	for _, x := range f.Fields {
		if x.Type == replies.FieldFile {
			n += h.cfg.MaxUploadBytes
		}
	}
	return n
}

func parseBody(r *http.Request, max int64) error {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
		// All in memory: the body is bounded already.
		return r.ParseMultipartForm(max)
	}
	return r.ParseForm()
}

// langOf is the page language when the body could not be read: the
// address's ?lang= or the browser's.
func langOf(r *http.Request) string {
	switch l := r.URL.Query().Get("lang"); {
	case l == "en" || l == "ar":
		return l
	case strings.HasPrefix(strings.ToLower(r.Header.Get("Accept-Language")), "en"):
		return "en"
	}
	return "ar"
}

// identities are the contact's: email, then mobile.
func (s submission) identities() []message.Party {
	var ids []message.Party
	if s.email != "" {
		ids = append(ids, message.Party{Kind: message.IdentityEmail, Value: s.email, Name: s.name})
	}
	if s.mobile != "" {
		ids = append(ids, message.Party{Kind: message.IdentityPhone, Value: s.mobile, Name: s.name})
	}
	return ids
}

// inbound is the submission as a message: from the email (else the
// mobile), the other identity beside it, the answers as fields and as
// readable lines, the service declared, the acknowledgement routed by
// email and, when asked, by SMS or WhatsApp.
func (h *Handler) inbound(t *replies.Topic, key string, s submission, l, notify string, ids []message.Party) message.Inbound {
	in := message.Inbound{
		ChannelID:   h.cfg.ChannelID,
		Channel:     message.Form,
		ExternalID:  externalID(key),
		From:        ids[0],
		Identities:  ids[1:],
		Subject:     t.Title.In(l),
		Fields:      s.fields,
		Attachments: s.attachments,
		ReceivedAt:  h.cfg.Now(),
		Declared:    &message.Declared{Topic: t.ID, Outcome: message.OutcomeTicket, Language: l, Note: "the " + t.ID + " form"},
	}
	if s.subject != "" {
		in.Subject += ": " + firstRunes(s.subject, 80)
	}
	var lines []string
	for _, f := range s.fields {
		v := strings.ReplaceAll(f.Value, "\n", "\n  ")
		lines = append(lines, f.Label+": "+v)
	}
	in.Text = strings.Join(lines, "\n")
	if s.email != "" && h.cfg.Email.ChannelID != 0 {
		in.Routes = append(in.Routes, message.Route{ChannelID: h.cfg.Email.ChannelID, Channel: h.cfg.Email.Kind, To: ids[0]})
	}
	if s.mobile != "" {
		phone := message.Party{Kind: message.IdentityPhone, Value: s.mobile, Name: s.name}
		for _, x := range []struct {
			name string
			r    Route
		}{{"sms", h.cfg.SMS}, {"whatsapp", h.cfg.WhatsApp}} {
			if notify == x.name && x.r.ChannelID != 0 {
				in.Routes = append(in.Routes, message.Route{ChannelID: x.r.ChannelID, Channel: x.r.Kind, To: phone})
			}
		}
	}
	in.Routes = slices.Clip(in.Routes)
	return in
}

func firstRunes(s string, n int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}
