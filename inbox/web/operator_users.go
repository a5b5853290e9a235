package web

import (
	"errors"
	"net/http"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

type usersData struct {
	Users []store.User
	Depts []replies.Department
	Error string
	// Password is a generated password, shown once, for Email.
	Password, Email string
}

// showUsers lists the staff accounts with their forms.
func (h *Handler) showUsers(w http.ResponseWriter, r *http.Request) {
	h.renderUsers(w, r, http.StatusOK, usersData{})
}

func (h *Handler) renderUsers(w http.ResponseWriter, r *http.Request, status int, d usersData) {
	users, err := h.op.Users(r.Context(), principal(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d.Users = users
	if b := h.knowledge(); b != nil {
		d.Depts = b.Departments()
	}
	p := h.newPage(r, "")
	p.Title, p.Nav, p.Data = p.T("op.users"), "users", d
	h.render(w, r, status, "op_users", p)
}

func userChange(r *http.Request) inbox.UserChange {
	f := r.PostForm
	return inbox.UserChange{Email: f.Get("email"), Name: f.Get("name"), Role: f.Get("role"), Language: f.Get("language"), Departments: f["department"]}
}

// userAction runs a users-page action and shows the page again, with the
// generated password when there is one, or the refusal.
func (h *Handler) userAction(w http.ResponseWriter, r *http.Request, fn func(id int64) (email, password string, err error)) {
	var id int64
	if r.PathValue("id") != "" {
		var ok bool
		if id, ok = pathID(r); !ok {
			http.NotFound(w, r)
			return
		}
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	email, pw, err := fn(id)
	var inv *inbox.InvalidError
	switch {
	case errors.As(err, &inv):
		h.renderUsers(w, r, http.StatusBadRequest, usersData{Error: inv.Error()})
	case err != nil:
		h.fail(w, r, err)
	case pw != "":
		h.renderUsers(w, r, http.StatusOK, usersData{Password: pw, Email: email})
	default:
		http.Redirect(w, r, "/operator/users", http.StatusSeeOther)
	}
}

func (h *Handler) addUser(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(int64) (string, string, error) {
		u, pw, err := h.op.AddUser(r.Context(), principal(r), userChange(r))
		return u.Email, pw, err
	})
}

func (h *Handler) updateUser(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(id int64) (string, string, error) {
		return "", "", h.op.UpdateUser(r.Context(), principal(r), id, userChange(r))
	})
}

func (h *Handler) disableUser(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(id int64) (string, string, error) {
		return "", "", h.op.SetUserActive(r.Context(), principal(r), id, false)
	})
}

func (h *Handler) enableUser(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(id int64) (string, string, error) {
		return "", "", h.op.SetUserActive(r.Context(), principal(r), id, true)
	})
}

func (h *Handler) resetPassword(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(id int64) (string, string, error) {
		pw, err := h.op.ResetPassword(r.Context(), principal(r), id)
		email := ""
		if err == nil {
			if u, uerr := h.store.UserByID(r.Context(), id); uerr == nil {
				email = u.Email
			}
		}
		return email, pw, err
	})
}

func (h *Handler) revokeSessions(w http.ResponseWriter, r *http.Request) {
	h.userAction(w, r, func(id int64) (string, string, error) {
		return "", "", h.op.RevokeSessions(r.Context(), principal(r), id)
	})
}
