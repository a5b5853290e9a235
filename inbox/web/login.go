package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/wasl-dev/wasl/inbox"
)

type loginData struct {
	Email, Next string
	Error       string
}

// safeNext keeps a post-sign-in redirect on this site.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (h *Handler) showLogin(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := h.auth.FromSession(r); ok {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	p := h.newPage(r, "")
	p.Title = p.T("login.title")
	p.Data = loginData{Next: safeNext(r.URL.Query().Get("next"))}
	h.render(w, r, http.StatusOK, "login", p)
}

func (h *Handler) checkLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	email, next := r.PostForm.Get("email"), safeNext(r.PostForm.Get("next"))
	tok, u, err := h.auth.SignIn(r.Context(), email, r.PostForm.Get("password"), inbox.ClientIP(r), r.UserAgent(), inbox.SessionToken(r))
	if err != nil {
		p := h.newPage(r, "")
		p.Title = p.T("login.title")
		status, key := http.StatusUnauthorized, "login.bad"
		switch {
		case errors.Is(err, inbox.ErrThrottled):
			status, key = http.StatusTooManyRequests, "login.throttled"
		case !errors.Is(err, inbox.ErrBadCredentials):
			h.fail(w, r, err)
			return
		}
		p.Data = loginData{Email: email, Next: next, Error: p.T(key)}
		h.render(w, r, status, "login", p)
		return
	}
	h.auth.SetCookie(w, tok)
	_ = u
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	if err := h.auth.SignOut(w, r); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// switchLanguage flips the user's language between Arabic and English and
// goes back to the page.
func (h *Handler) switchLanguage(w http.ResponseWriter, r *http.Request) {
	u := principal(r).User
	if u.Language == "en" {
		u.Language = "ar"
	} else {
		u.Language = "en"
	}
	if err := h.store.UpdateUser(r.Context(), u); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, safeNext(r.FormValue("back")), http.StatusSeeOther)
}
