// Package svgtest checks the inline SVG charts the reports draw, for the
// tests of the packages that make them (tickets) and the end-to-end tests
// that receive them by mail.
package svgtest

import (
	"encoding/xml"
	"errors"
	"io"
	"strings"
	"testing"
)

// CheckChart finds the first inline SVG of html and parses it as XML: it
// must hold bars (rect) and labels (text), at least two and three.
func CheckChart(t testing.TB, html string) {
	t.Helper()
	i, j := strings.Index(html, "<svg"), strings.Index(html, "</svg>")
	if i < 0 || j < i {
		t.Fatalf("no inline SVG in:\n%s", html)
	}
	svg := html[i : j+len("</svg>")]
	dec := xml.NewDecoder(strings.NewReader(svg))
	rects, texts := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the SVG does not parse: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				rects++
			case "text":
				texts++
			}
		}
	}
	if rects < 2 || texts < 3 {
		t.Errorf("the SVG has %d rects and %d texts: no chart", rects, texts)
	}
}
