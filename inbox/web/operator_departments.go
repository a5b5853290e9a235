package web

import (
	"net/http"
	"strconv"
)

// showDepartments lists each department's head and members.
func (h *Handler) showDepartments(w http.ResponseWriter, r *http.Request) {
	deps, err := h.op.Departments(r.Context(), principal(r))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	p := h.newPage(r, "")
	p.Title, p.Nav, p.Data = p.T("op.departments"), "departments", deps
	h.render(w, r, http.StatusOK, "op_departments", p)
}

// setDepartmentHead makes a member the department's head.
func (h *Handler) setDepartmentHead(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	id, _ := strconv.ParseInt(r.PostForm.Get("head"), 10, 64)
	if err := h.op.SetDepartmentHead(r.Context(), principal(r), r.PathValue("dept"), id); err != nil {
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/operator/departments", http.StatusSeeOther)
}
