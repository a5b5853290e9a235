package web

import (
	"io"
	"mime"
	"net/http"
	"strconv"
)

// safeTypes are the content types served as themselves; anything else is
// application/octet-stream. SVG and HTML are not among them: they run
// script.
var safeTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true,
	"application/pdf": true, "text/plain": true, "audio/ogg": true, "audio/mpeg": true, "video/mp4": true,
}

// previewTypes may be shown inline (images in the conversation).
var previewTypes = map[string]bool{"image/png": true, "image/jpeg": true, "image/gif": true, "image/webp": true}

// attachment serves a file: as a download unless it is an image asked for
// inline, never sniffed, in a sandbox of its own.
func (h *Handler) attachment(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok {
		http.NotFound(w, r)
		return
	}
	a, conv, err := h.store.Attachment(r.Context(), id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if _, err := h.svc.Conversation(r.Context(), principal(r), conv); err != nil {
		h.fail(w, r, err)
		return
	}
	if a.SHA256 == "" {
		http.Error(w, "not fetched yet", http.StatusNotFound)
		return
	}
	f, err := h.store.OpenBlob(r.Context(), a.SHA256)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	defer f.Close()
	ctype, _, _ := mime.ParseMediaType(a.ContentType)
	if !safeTypes[ctype] {
		ctype = "application/octet-stream"
	}
	disp := "attachment"
	if r.URL.Query().Get("inline") == "1" && previewTypes[ctype] {
		disp = "inline"
	}
	name := a.Filename
	if name == "" {
		name = "attachment-" + strconv.FormatInt(a.ID, 10)
	}
	hd := w.Header()
	hd.Set("Content-Type", ctype)
	hd.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": name}))
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Cache-Control", "private, max-age=3600")
	if _, err := io.Copy(w, f); err != nil {
		h.log.WarnContext(r.Context(), "send attachment", "id", a.ID, "err", err)
	}
}
