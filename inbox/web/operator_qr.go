package web

import (
	"fmt"
	"net/http"
	"strings"

	"rsc.io/qr"
)

// channelQR is the WhatsApp pairing code its connector last reported, as
// an SVG the phone scans. It links a device, so operators only, never
// cached.
func (h *Handler) channelQR(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	v, err := h.op.Channel(r.Context(), principal(r), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if v.Status == nil || v.Status.WhatsApp == nil || v.Status.WhatsApp.QRCode == "" {
		http.NotFound(w, r)
		return
	}
	code, err := qr.Encode(v.Status.WhatsApp.QRCode, qr.L)
	if err != nil {
		h.fail(w, r, fmt.Errorf("qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(qrSVG(code)))
}

// qrSVG draws the code's dark modules, with the four-module quiet zone
// scanners need.
func qrSVG(c *qr.Code) string {
	const quiet = 4
	n := c.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n, n, n)
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if c.Black(x, y) {
				fmt.Fprintf(&b, "M%d %dh1v1h-1z", x+quiet, y+quiet)
			}
		}
	}
	b.WriteString(`"/></svg>`)
	return b.String()
}
