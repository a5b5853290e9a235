package web

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/message"
)

// registerOperator mounts the operator pages: signed-in operators only
// (others get the 403 page), state changes by POST like the rest of the
// inbox, so inbox.Mux's cross-origin protection covers them.
func (h *Handler) registerOperator(mux Registrar) {
	if h.op == nil {
		return
	}
	op := func(pattern string, f http.HandlerFunc) {
		mux.Handle(pattern, secure(h.auth.RequireSession(h.operatorOnly(f))))
	}
	op("GET /operator/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/operator/channels", http.StatusSeeOther)
	})
	op("GET /operator/channels", h.showChannels)
	op("GET /operator/channels/new", h.newChannel)
	op("POST /operator/channels", h.saveChannel)
	op("GET /operator/channels/{id}", h.showChannel)
	op("POST /operator/channels/{id}", h.saveChannel)
	op("POST /operator/channels/{id}/enable", h.enableChannel)
	op("POST /operator/channels/{id}/disable", h.disableChannel)
	op("GET /operator/channels/{id}/delete", h.confirmDeleteChannel)
	op("POST /operator/channels/{id}/delete", h.deleteChannel)
	op("POST /operator/channels/{id}/pair", h.pairChannel)
	op("POST /operator/channels/{id}/logout", h.logoutChannel)
	op("GET /operator/channels/{id}/qr.svg", h.channelQR)
	op("GET /operator/audit", h.showAudit)
	op("GET /operator/users", h.showUsers)
	op("POST /operator/users", h.addUser)
	op("POST /operator/users/{id}", h.updateUser)
	op("POST /operator/users/{id}/disable", h.disableUser)
	op("POST /operator/users/{id}/enable", h.enableUser)
	op("POST /operator/users/{id}/password", h.resetPassword)
	op("POST /operator/users/{id}/sessions", h.revokeSessions)
	op("GET /operator/departments", h.showDepartments)
	op("POST /operator/departments/{dept}/head", h.setDepartmentHead)
	op("GET /operator/bank", h.showBank)
	op("POST /operator/bank/try", h.tryMessage)
	op("POST /operator/bank/reload", h.reloadBank)
}

// operatorOnly answers 403 to anyone but an operator.
func (h *Handler) operatorOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !principal(r).Operator() {
			h.failForbidden(w, r)
			return
		}
		next(w, r)
	}
}

func (h *Handler) failForbidden(w http.ResponseWriter, r *http.Request) {
	p := h.newPage(r, "")
	p.Title = p.T("error.title")
	p.Data = p.T("error.forbidden")
	h.render(w, r, http.StatusForbidden, "error", p)
}

// channelFromForm reads a channel's settings from its form. Secrets left
// blank stay blank: the operator service keeps the stored ones.
func channelFromForm(r *http.Request, kind message.Kind) (config.Channel, error) {
	f := r.PostForm
	v := func(k string) string { return strings.TrimSpace(f.Get(k)) }
	ch := config.Channel{Name: v("name"), Kind: kind}
	switch kind {
	case message.Email:
		poll, err := formDuration(v("imap_poll"))
		if err != nil {
			return ch, invalidForm("imap_poll")
		}
		first, err := config.ParseFirstSync(v("first_sync"))
		if v("first_sync") == config.FirstSyncSince {
			first, err = config.ParseFirstSync("since:" + v("first_sync_date"))
		}
		if err != nil {
			return ch, invalidForm("first_sync_date")
		}
		var boxes []string
		for _, b := range strings.Split(v("imap_mailboxes"), ",") {
			if b = strings.TrimSpace(b); b != "" {
				boxes = append(boxes, b)
			}
		}
		if len(boxes) == 0 {
			boxes = []string{"INBOX"}
		}
		ch.IMAP = &config.IMAP{Addr: hostPort(v("imap_host"), v("imap_port")), Security: v("imap_security"),
			Username: v("imap_username"), Password: f.Get("imap_password"), Mailboxes: boxes,
			PollInterval: config.Duration(poll), FirstSync: first}
		ch.SMTP = &config.SMTP{Addr: hostPort(v("smtp_host"), v("smtp_port")), Security: v("smtp_security"),
			Username: v("smtp_username"), Password: f.Get("smtp_password"), From: v("smtp_from")}
	case message.SMS:
		budget := 0
		if s := v("segment_budget"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return ch, invalidForm("segment_budget")
			}
			budget = n
		}
		ch.Twilio = &config.Twilio{AccountSID: v("account_sid"), AuthToken: f.Get("auth_token"), From: v("from"),
			MessagingServiceSID: v("messaging_service_sid"), SegmentBudget: budget}
	case message.WhatsApp:
		ch.WhatsApp = &config.WhatsApp{AllowGroups: f.Get("allow_groups") != ""}
	default:
		return ch, invalidForm("kind")
	}
	return ch, nil
}

func formDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return message.ParseDuration(s)
}

func hostPort(host, port string) string {
	if host == "" {
		return ""
	}
	if port == "" {
		return host
	}
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return host + ":" + port
}
