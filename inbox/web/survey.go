package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// surveyData is the public survey page: the form, or why the link is
// refused, or the thanks.
type surveyData struct {
	Token   string
	Survey  inbox.SurveyPage
	Refused string // catalogue key of the reason, when refused
	Thanks  bool
	Error   string
}

// surveyPage renders the survey page in the customer's language (Arabic,
// right to left, unless the customer writes English).
func (h *Handler) surveyPage(w http.ResponseWriter, r *http.Request, status int, d surveyData) {
	p := h.newPage(r, "")
	if d.Survey.Language == "en" {
		p.Lang, p.Dir = "en", "ltr"
	} else if d.Survey.Language == "ar" || r.URL.Query().Get("lang") == "" {
		p.Lang, p.Dir = "ar", "rtl"
	}
	p.Title = p.T("survey.title")
	p.Data = d
	h.render(w, r, status, "survey", p)
}

// refusal maps why a link is refused to its status and words. Nothing is
// recorded for any of them.
func refusal(err error) (int, string, bool) {
	switch {
	case errors.Is(err, tickets.ErrSurveyExpired):
		return http.StatusGone, "survey.expired", true
	case errors.Is(err, inbox.ErrSurveyAnswered):
		return http.StatusConflict, "survey.answered", true
	case errors.Is(err, tickets.ErrSurveyTampered), errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "survey.invalid", true
	}
	return 0, "", false
}

// showSurvey is GET /survey/{token}: public, the link's signature is the
// credential.
func (h *Handler) showSurvey(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	sp, err := h.svc.Survey(r.Context(), token)
	if status, key, ok := refusal(err); ok {
		h.surveyPage(w, r, status, surveyData{Survey: sp, Refused: key})
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.surveyPage(w, r, http.StatusOK, surveyData{Token: token, Survey: sp})
}

// answerSurvey is POST /survey/{token}.
func (h *Handler) answerSurvey(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	service, _ := strconv.Atoi(r.PostForm.Get("service"))
	staff, _ := strconv.Atoi(r.PostForm.Get("staff"))
	err := h.svc.AnswerSurvey(r.Context(), token, service, staff, r.PostForm.Get("comment"))
	sp, _ := h.svc.Survey(r.Context(), token) // the language, for the answer page
	var inv *inbox.InvalidError
	switch status, key, refused := refusal(err); {
	case err == nil:
		h.surveyPage(w, r, http.StatusOK, surveyData{Survey: sp, Thanks: true})
	case refused:
		h.surveyPage(w, r, status, surveyData{Survey: sp, Refused: key})
	case errors.As(err, &inv):
		h.surveyPage(w, r, http.StatusBadRequest, surveyData{Token: token, Survey: sp, Error: "survey.choose"})
	default:
		h.fail(w, r, err)
	}
}
