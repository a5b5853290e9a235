package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
)

// heartbeat keeps proxies from closing an idle event stream.
const heartbeat = 25 * time.Second

// events streams the changes the user may see as server-sent events:
// "change" with {"id", "conversation_id", "kind"}.
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	if h.live == nil {
		http.Error(w, "live updates are off", http.StatusServiceUnavailable)
		return
	}
	rc := http.NewResponseController(w)
	// The server's WriteTimeout is for ordinary pages; a stream lives as
	// long as the tab.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		h.log.DebugContext(r.Context(), "events: clear write deadline", "err", err)
	}
	pr := principal(r)
	// Subscribe first, then read what happened since the page was made:
	// a change is either in the backlog or comes live (or both, and is
	// sent once).
	changes, cancel := h.live.Subscribe(pr)
	defer cancel()
	since := r.URL.Query().Get("since")
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		since = v // a reconnecting EventSource says where it stopped
	}
	var last int64
	if n, err := strconv.ParseInt(since, 10, 64); err == nil && n > 0 {
		last = n
	}
	var backlog []store.Change
	if last > 0 {
		var err error
		if backlog, err = h.store.Changes(r.Context(), last, 500); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
	if err := rc.Flush(); err != nil {
		return
	}
	send := func(c store.Change) {
		if c.ID <= last {
			return
		}
		last = c.ID
		data, _ := json.Marshal(map[string]any{"id": c.ID, "conversation_id": c.ConversationID, "kind": c.Kind})
		fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", c.ID, data)
	}
	for _, c := range backlog {
		if inbox.Visible(pr, c) {
			send(c)
		}
	}
	if err := rc.Flush(); err != nil {
		return
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			fmt.Fprint(w, ": ping\n\n")
		case c := <-changes:
			send(c)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
