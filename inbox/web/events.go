package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"
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
	changes, cancel := h.live.Subscribe(principal(r))
	defer cancel()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n: connected\n\n")
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
			data, _ := json.Marshal(map[string]any{"id": c.ID, "conversation_id": c.ConversationID, "kind": c.Kind})
			fmt.Fprintf(w, "id: %d\nevent: change\ndata: %s\n\n", c.ID, data)
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}
