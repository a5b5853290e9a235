package web

import (
	"html"
	"strings"

	"github.com/microcosm-cc/bluemonday"
)

// emailPolicy is how a customer's HTML is shown. The store keeps it
// sanitized already; this second pass is the display's own: no script, no
// event handler, no style, only http(s) and mailto links (which open in a
// new tab without referrer or opener), and images only when the viewer
// asked for them (remote images are trackers).
func emailPolicy(images bool) *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowStandardAttributes()
	p.AllowStandardURLs()
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowAttrs("href").OnElements("a")
	p.AllowElements("b", "i", "u", "em", "strong", "p", "br", "div", "span", "blockquote", "pre", "code", "hr",
		"h1", "h2", "h3", "h4", "h5", "h6", "small", "sub", "sup", "s", "del", "ins", "center", "font")
	p.AllowLists()
	p.AllowTables()
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	if images {
		p.AllowImages()
	}
	return p
}

// srcdoc is the document an email body is shown in: a sandboxed iframe
// (no scripts, no same-origin access) whose own policy repeats the page's.
func (h *Handler) srcdoc(body, lang string, images bool) string {
	pol := h.display
	img := "img-src data:"
	if images {
		pol, img = h.images, "img-src data: https: http:"
	}
	var b strings.Builder
	b.WriteString(`<!doctype html><html><head><meta charset="utf-8">`)
	b.WriteString(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; ` + img + `">`)
	b.WriteString(`</head><body style="font-family: system-ui, sans-serif; margin: 0.5rem"><div dir="auto" lang="` + html.EscapeString(lang) + `">`)
	b.WriteString(pol.Sanitize(body))
	b.WriteString(`</div></body></html>`)
	return b.String()
}
