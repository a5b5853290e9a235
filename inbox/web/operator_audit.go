package web

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/wasl-dev/wasl/store"
)

type auditData struct {
	Entries []store.AuditEntry
	Next    string
}

// showAudit lists what operators changed, newest first.
func (h *Handler) showAudit(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.AuditFilter{TargetKind: q.Get("kind"), Target: q.Get("target"), Limit: 50}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil {
		f.BeforeID = b
	}
	list, err := h.op.AuditLog(r.Context(), principal(r), f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := auditData{Entries: list}
	if len(list) == f.Limit {
		next := url.Values{"before": {strconv.FormatInt(list[len(list)-1].ID, 10)}}
		if f.TargetKind != "" {
			next.Set("kind", f.TargetKind)
		}
		if f.Target != "" {
			next.Set("target", f.Target)
		}
		d.Next = "/operator/audit?" + next.Encode()
	}
	p := h.newPage(r, "")
	p.Title, p.Nav, p.Data = p.T("op.audit"), "audit", d
	h.render(w, r, http.StatusOK, "op_audit", p)
}
