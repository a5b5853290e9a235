// HTML to plain text.

package email

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlToText renders HTML as plain text for classification and for
// staff who cannot see HTML: scripts and styles dropped, block elements and
// <br> become line breaks, links keep their text, entities are decoded and
// blank lines collapse. It uses the tokenizer, not the tree builder, so it
// is linear in the input and cannot recurse on hostile nesting.
func htmlToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	skip, pre := 0, 0
	// lastSpace is true at the start of a line or after a space, so runs of
	// whitespace collapse to one space and lines do not start with one.
	lastSpace := true
	newline := func() {
		b.WriteByte('\n')
		lastSpace = true
	}
	blankLine := func() {
		s := b.String()
		switch {
		case s == "" || strings.HasSuffix(s, "\n\n"):
		case strings.HasSuffix(s, "\n"):
			newline()
		default:
			newline()
			newline()
		}
	}
	lineBreak := func() {
		if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
			newline()
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return tidyLines(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := strings.ReplaceAll(string(z.Text()), "\u00a0", " ")
			if pre > 0 {
				b.WriteString(text)
				lastSpace = strings.HasSuffix(text, "\n")
				continue
			}
			for _, r := range text {
				if unicode.IsSpace(r) {
					if !lastSpace {
						b.WriteByte(' ')
						lastSpace = true
					}
					continue
				}
				b.WriteRune(r)
				lastSpace = false
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := atom.Lookup(name)
			start := tt != html.EndTagToken
			switch tag {
			case atom.Script, atom.Style, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br:
				newline()
			case atom.Pre:
				blankLine()
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
				atom.Blockquote, atom.Table, atom.Ul, atom.Ol, atom.Dl, atom.Hr:
				blankLine()
			case atom.Li:
				lineBreak()
				if start {
					b.WriteString("- ")
					lastSpace = true
				}
			case atom.Div, atom.Tr, atom.Dt, atom.Dd, atom.Section, atom.Article,
				atom.Header, atom.Footer, atom.Nav, atom.Address, atom.Form,
				atom.Fieldset, atom.Figure, atom.Main, atom.Center, atom.Aside, atom.Body:
				lineBreak()
			case atom.Td, atom.Th:
				if !lastSpace {
					b.WriteByte(' ')
					lastSpace = true
				}
			}
		}
	}
}

// tidyLines trims trailing spaces and leaves at most one blank line
// between paragraphs.
func tidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
