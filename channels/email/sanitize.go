// Customer HTML made safe to show, once, at ingest: bounded in size and
// depth, sanitized, without remote images.

package email

import (
	"encoding/base64"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/microcosm-cc/bluemonday"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// What Parse keeps of a body; the whole original stays in the raw message.
const (
	maxStoredHTML = 1 << 20 // bytes of sanitized HTML
	maxStoredText = 1 << 20 // bytes of text
	// maxHTMLDepth bounds element nesting. Real mail stays far below it
	// (Outlook's nested layout tables reach a few dozen); hostile mail
	// nests 100,000 deep to stall whatever renders it.
	maxHTMLDepth = 100
)

// htmlPolicy is built once; a bluemonday policy is safe for concurrent use
// once built.
var htmlPolicy = sync.OnceValue(newHTMLPolicy)

// newHTMLPolicy is bluemonday's policy for user content, and:
//
//   - images only from the mail itself: cid: (a part of the message) and
//     data: of an image type. A remote image is a tracking pixel as often as
//     not; it would tell the sender who read the mail and when. Its src is
//     emptied, so the browser fetches nothing.
//   - links open in a new tab without telling the target where they came
//     from (target="_blank", rel="nofollow noreferrer noopener").
//   - no relative URLs: in a mail they can only point into the inbox itself.
func newHTMLPolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowRelativeURLs(false)
	p.AllowURLSchemeWithCustomPolicy("data", dataImage)
	p.AllowURLSchemeWithCustomPolicy("cid", func(u *url.URL) bool { return u.Opaque != "" })
	p.RewriteSrc(func(u *url.URL) {
		if u.Scheme != "cid" && u.Scheme != "data" {
			*u = url.URL{}
		}
	})
	p.RequireNoReferrerOnLinks(true)
	p.AddTargetBlankToFullyQualifiedLinks(true)
	return p
}

// dataImagePrefix is the data: URLs kept: raster images only (an SVG is a
// document of its own).
var dataImagePrefix = regexp.MustCompile(`^image/(png|jpeg|gif|webp);base64,`)

func dataImage(u *url.URL) bool {
	m := dataImagePrefix.FindString(u.Opaque)
	if m == "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(u.Opaque[len(m):])
	return err == nil
}

// sanitizeHTML returns customer HTML safe to show: at most maxStoredHTML
// bytes (truncated says it was cut), nested at most maxHTMLDepth deep, and
// sanitized. shapeHTML bounds the work in one streaming pass before
// bluemonday sees anything, so a 16 MB mail costs one tokenizer pass, not a
// sanitizer run over all of it.
func sanitizeHTML(src string) (out string, truncated bool) {
	shaped, truncated := shapeHTML(src, maxStoredHTML, maxHTMLDepth)
	out = strings.TrimSpace(htmlPolicy().Sanitize(shaped))
	if len(out) > maxStoredHTML {
		// Sanitizing escapes text, which can make it longer than its input.
		out, _ = shapeHTML(out, maxStoredHTML, maxHTMLDepth)
		truncated = true
	}
	return out, truncated
}

// capText keeps at most max bytes of s, cut at a character boundary.
func capText(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	return truncate(s, max), true
}

// skipContent are the elements whose content the tokenizer reads as raw
// text up to their end tag and bluemonday never shows; dropping it here
// keeps a megabyte of <style> from using up the size budget.
var skipContent = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Title: true, atom.Noscript: true,
	atom.Iframe: true, atom.Noembed: true, atom.Noframes: true,
}

// impliedEnd lists, for a start tag, the open elements it closes when they
// are innermost (a subset of the HTML parsing rules: enough that lists,
// tables and paragraphs written without end tags do not count as nesting).
var impliedEnd = map[atom.Atom][]atom.Atom{
	atom.Li: {atom.Li, atom.P}, atom.Dt: {atom.Dt, atom.Dd, atom.P}, atom.Dd: {atom.Dt, atom.Dd, atom.P},
	atom.Tr: {atom.Td, atom.Th, atom.Tr}, atom.Td: {atom.Td, atom.Th}, atom.Th: {atom.Td, atom.Th},
	atom.Thead:  {atom.Td, atom.Th, atom.Tr, atom.Thead, atom.Tbody, atom.Tfoot},
	atom.Tbody:  {atom.Td, atom.Th, atom.Tr, atom.Thead, atom.Tbody, atom.Tfoot},
	atom.Tfoot:  {atom.Td, atom.Th, atom.Tr, atom.Thead, atom.Tbody, atom.Tfoot},
	atom.Option: {atom.Option}, atom.Optgroup: {atom.Option, atom.Optgroup},
	atom.P: {atom.P}, atom.Div: {atom.P}, atom.Ul: {atom.P}, atom.Ol: {atom.P}, atom.Dl: {atom.P},
	atom.Table: {atom.P}, atom.Blockquote: {atom.P}, atom.Pre: {atom.P},
	atom.H1: {atom.P}, atom.H2: {atom.P}, atom.H3: {atom.P}, atom.H4: {atom.P}, atom.H5: {atom.P}, atom.H6: {atom.P},
}

// voidElements never have content or an end tag.
var voidElements = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true,
	atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Param: true, atom.Source: true, atom.Track: true, atom.Wbr: true,
}

// shapeHTML copies HTML token by token, with the tokenizer and without
// building a tree, so it is linear in its input whatever the input does.
// It drops comments, doctypes and elements whose content is never shown;
// elements nested deeper than maxDepth lose their tags (their text stays, in
// the element at the limit); and it stops before maxBytes, at a token
// boundary or within text at a character boundary, closing the elements
// still open. truncated reports that stop. Text is re-escaped and tags are
// re-rendered from the parsed tokens, so dropping a token can never join
// its neighbours into a new one. It does not make HTML safe: bluemonday
// does, after it.
func shapeHTML(src string, maxBytes, maxDepth int) (out string, truncated bool) {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	var open []string           // elements open in the output, outermost first
	closers := 0                // bytes of the end tags that close them
	dropped := map[string]int{} // start tags dropped beyond maxDepth, by name
	skip := ""                  // inside an element whose content is dropped
	fits := func(n int) bool { return b.Len()+n+closers <= maxBytes }
	// closeTo closes open[i:], innermost first, so the output is balanced
	// whatever the input left implied; their bytes were set aside in closers.
	closeTo := func(i int) {
		for j := len(open) - 1; j >= i; j-- {
			b.WriteString("</" + open[j] + ">")
			closers -= len(open[j]) + 3
		}
		open = open[:i]
	}
	finish := func() string {
		closeTo(0)
		return b.String()
	}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return finish(), truncated // io.EOF: reading a string fails no other way
		}
		if skip != "" {
			if name, _ := z.TagName(); tt == html.EndTagToken && string(name) == skip {
				skip = ""
			}
			continue
		}
		switch tt {
		case html.TextToken:
			text := html.EscapeString(string(z.Text()))
			if !fits(len(text)) {
				b.WriteString(cutEscaped(text, maxBytes-b.Len()-closers))
				return finish(), true
			}
			b.WriteString(text)

		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			a := tok.DataAtom
			if skipContent[a] {
				if tt == html.StartTagToken {
					skip = tok.Data
				}
				continue
			}
			if voidElements[a] {
				tok.Type = html.SelfClosingTagToken
				if s := tok.String(); fits(len(s)) {
					b.WriteString(s)
				} else {
					truncated = true // one huge tag (a data: image) does not stop the text after it
				}
				continue
			}
			// Outside foreign content a "<div/>" opens a div like "<div>".
			tok.Type = html.StartTagToken
			for n := len(open); n > 0 && slices.ContainsFunc(impliedEnd[a], func(c atom.Atom) bool { return c.String() == open[n-1] }); n-- {
				closeTo(n - 1)
			}
			s := tok.String()
			if len(open) >= maxDepth {
				dropped[tok.Data]++
				continue
			}
			if !fits(len(s) + len(tok.Data) + 3) {
				truncated = true
				dropped[tok.Data]++
				continue
			}
			b.WriteString(s)
			open = append(open, tok.Data)
			closers += len(tok.Data) + 3

		case html.EndTagToken:
			name, _ := z.TagName()
			n := string(name)
			if dropped[n] > 0 {
				dropped[n]--
				continue
			}
			for i := len(open) - 1; i >= 0; i-- {
				if open[i] == n {
					closeTo(i) // and whatever it left open inside
					break
				}
			}
			// An end tag with nothing to close is dropped.
		}
		// Comments and doctypes are dropped.
	}
}

// cutEscaped cuts escaped text to at most n bytes, at a character
// boundary and never inside an entity.
func cutEscaped(s string, n int) string {
	if n <= 0 {
		return ""
	}
	s = truncate(s, n)
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	return s
}
