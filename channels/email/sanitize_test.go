package email

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"
)

// A 1x1 PNG, base64.
const testPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestSanitizeHTML(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		want      []string // substrings of the result
		notWant   []string // never in the result (case-insensitive)
		wantTrunc bool
	}{
		{
			name:    "scripts and handlers",
			in:      `<p>Projector <b>broken</b></p><script>alert(1)</script><a href="javascript:steal()" onclick="steal()">x</a><img src=x onerror="alert(2)">`,
			want:    []string{"<p>Projector <b>broken</b></p>"},
			notWant: []string{"<script", "alert(", "onclick", "onerror", "javascript:", "steal()"},
		},
		{
			name:    "remote image: a tracking pixel",
			in:      `<p>Hello</p><img src="https://tracker.example.com/open.gif?who=support@example.edu.sa" width="1" height="1" alt="">`,
			want:    []string{"<p>Hello</p>", `<img src=""`},
			notWant: []string{"tracker.example.com", "open.gif"},
		},
		{
			name:    "remote image over plain http and a relative one",
			in:      `<img src="http://cdn.example.com/logo.png" alt="logo"><img src="pixel.gif">`,
			want:    []string{`alt="logo"`},
			notWant: []string{"cdn.example.com", "pixel.gif"},
		},
		{
			name: "images from the mail itself are kept",
			in:   `<img src="cid:image001.png@01DA1234.ABCD5670" alt="صورة"><img src="data:image/png;base64,` + testPNG + `">`,
			want: []string{`src="cid:image001.png@01DA1234.ABCD5670"`, `alt="صورة"`, `src="data:image/png;base64,` + testPNG + `"`},
		},
		{
			name:    "data: that is not an image",
			in:      `<img src="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="><img src="data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=">`,
			notWant: []string{"data:"},
		},
		{
			name:    "web links open apart, without referrer",
			in:      `<a href="https://example.edu.sa/forms/equipment?id=77">form</a>`,
			want:    []string{`href="https://example.edu.sa/forms/equipment?id=77"`, `target="_blank"`, "noopener", "noreferrer", ">form</a>"},
			notWant: []string{},
		},
		{
			name: "a link's own rel and target do not win",
			in:   `<a href="https://example.org/" rel="opener" target="_self">x</a>`,
			want: []string{`target="_blank"`, "noopener", "noreferrer"},
		},
		{
			name: "mail links carry no referrer",
			in:   `<a href="mailto:registrar@example.edu.sa">registrar</a>`,
			want: []string{`href="mailto:registrar@example.edu.sa"`, "noreferrer"},
		},
		{
			name:    "relative links point into the inbox: dropped",
			in:      `<a href="/api/v1/tickets/1">ticket</a>`,
			want:    []string{"ticket"},
			notWant: []string{"/api/v1"},
		},
		{
			name: "Arabic direction is kept",
			in:   `<p dir="rtl">السلام عليكم</p>`,
			want: []string{`<p dir="rtl">السلام عليكم</p>`},
		},
		{
			name:    "a megabyte of style does not use up the budget",
			in:      "<style>" + strings.Repeat("p { color: red; }\n", 120_000) + "</style><p>the request</p>",
			want:    []string{"<p>the request</p>"},
			notWant: []string{"color: red"},
		},
		{
			name:    "comments and doctype",
			in:      "<!DOCTYPE html><!-- [if mso]>secret<![endif] --><p>x</p>",
			want:    []string{"<p>x</p>"},
			notWant: []string{"secret", "doctype", "<!--"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, trunc := sanitizeHTML(tt.in)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("result lacks %q:\n%s", w, clipText(got, 2000))
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(strings.ToLower(got), strings.ToLower(w)) {
					t.Errorf("result contains %q:\n%s", w, clipText(got, 2000))
				}
			}
			if trunc != tt.wantTrunc {
				t.Errorf("truncated = %v, want %v", trunc, tt.wantTrunc)
			}
		})
	}
}

// 100,000 nested <div> passed through bluemonday unchanged; the text inside
// must survive, the nesting must not.
func TestSanitizeHTMLDepth(t *testing.T) {
	const n = 100_000
	var b strings.Builder
	for i := range n {
		b.WriteString("<div>")
		if i%10_000 == 0 {
			fmt.Fprintf(&b, "level %d ", i)
		}
	}
	b.WriteString("the deepest text")
	b.WriteString(strings.Repeat("</div>", n))
	b.WriteString("<p>after</p>")

	got, trunc := sanitizeHTML(b.String())
	if trunc {
		t.Error("truncated; only the depth was over a limit")
	}
	if d := maxDepth(t, got); d > maxHTMLDepth {
		t.Errorf("nesting %d deep, want at most %d", d, maxHTMLDepth)
	}
	want := []string{"level 0 "}
	for i := 10_000; i < n; i += 10_000 {
		want = append(want, fmt.Sprintf("level %d ", i))
	}
	want = append(want, "the deepest text", "<p>after</p>")
	at := 0
	for _, w := range want {
		i := strings.Index(got[at:], w)
		if i < 0 {
			t.Fatalf("text %q lost or out of order", w)
		}
		at += i + len(w)
	}
	if c := strings.Count(got, "<div>"); c != strings.Count(got, "</div>") || c > maxHTMLDepth {
		t.Errorf("%d <div> and %d </div>", c, strings.Count(got, "</div>"))
	}
}

// Lists and tables written without end tags are siblings, not nesting:
// they must not be flattened.
func TestSanitizeHTMLImpliedEnds(t *testing.T) {
	in := "<ul>" + strings.Repeat("<li>item", 500) + "</ul><table>" + strings.Repeat("<tr><td>a<td>b", 300) + "</table><p>end"
	got, _ := sanitizeHTML(in)
	if c := strings.Count(got, "<li>"); c != 500 {
		t.Errorf("%d <li> kept, want 500", c)
	}
	if c := strings.Count(got, "<td>"); c != 600 {
		t.Errorf("%d <td> kept, want 600", c)
	}
	if d := maxDepth(t, got); d > 10 {
		t.Errorf("nesting %d deep for flat lists and tables", d)
	}
	if !strings.HasSuffix(got, "<p>end</p>") {
		t.Errorf("end: %q", got[max(0, len(got)-40):])
	}
}

// The 16 MB HTML mail that made one API read take 2 s and return 31 MB.
func TestSanitizeHTMLSize(t *testing.T) {
	big := bigHTML(16 << 20)
	got, trunc := sanitizeHTML(big)
	if !trunc || len(got) > maxStoredHTML || len(got) < maxStoredHTML/2 {
		t.Fatalf("%d bytes, truncated=%v; want between half a MiB and %d, truncated", len(got), trunc, maxStoredHTML)
	}
	if !strings.HasPrefix(got, "<table>") || !strings.HasSuffix(got, "</table>") {
		t.Errorf("not cut at a token boundary and closed: starts %q, ends %q", got[:20], got[len(got)-40:])
	}
	if d := maxDepth(t, got); d > 4 {
		t.Errorf("depth %d", d)
	}
	if !utf8.ValidString(got) {
		t.Error("cut inside a character")
	}
}

func TestShapeHTML(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		maxBytes int
		maxDepth int
		want     string
		trunc    bool
	}{
		{"balanced copy", `<p class="x">a &amp; b</p>`, 100, 10, `<p class="x">a &amp; b</p>`, false},
		{"text re-escaped", `<p>1 < 2 & "q"</p>`, 100, 10, `<p>1 &lt; 2 &amp; &#34;q&#34;</p>`, false},
		{"dropping a comment cannot make a tag", `<<!-- x -->a href=y>`, 100, 10, `&lt;a href=y&gt;`, false},
		{"open elements closed", `<div><p>text`, 100, 10, `<div><p>text</p></div>`, false},
		{"stray end tags dropped", `</div>a</p>b`, 100, 10, `ab`, false},
		{"self-closing div opens a div", `<div/><div/>x`, 100, 1, `<div>x</div>`, false},
		{"void elements never nest", `<p>a<br>b<img src="cid:x">c</p>`, 100, 1, `<p>a<br/>b<img src="cid:x"/>c</p>`, false},
		{"beyond the depth: tags go, text stays", `<b><i><u>deep</u></i></b>after`, 100, 2, `<b><i>deep</i></b>after`, false},
		{"cut in text, room kept for the end tags", `<p>` + strings.Repeat("x", 50) + `</p>`, 20, 10, `<p>` + strings.Repeat("x", 13) + `</p>`, true},
		{"cut never inside an entity", `<p>aaaaaaa&amp;bbb</p>`, 17, 10, `<p>aaaaaaa</p>`, true},
		{"cut never inside a character", `<p>سلام</p>`, 12, 10, `<p>سل</p>`, true},
		{"a tag too big to fit is skipped, the text after it kept", `<img src="data:image/png;base64,` + strings.Repeat("A", 80) + `">ok`, 40, 10, `ok`, true},
		{"script content never counts", `<script>` + strings.Repeat("x", 500) + `</script>ok`, 10, 10, `ok`, false},
		{"unclosed title swallows the rest, as in a browser", `<title>t<p>x`, 100, 10, ``, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, trunc := shapeHTML(tt.in, tt.maxBytes, tt.maxDepth)
			if got != tt.want || trunc != tt.trunc {
				t.Errorf("shapeHTML(%q, %d, %d) = %q, %v; want %q, %v", tt.in, tt.maxBytes, tt.maxDepth, got, trunc, tt.want, tt.trunc)
			}
			if len(got) > tt.maxBytes {
				t.Errorf("%d bytes, over %d", len(got), tt.maxBytes)
			}
		})
	}
}

// Through Parse: what is stored is bounded, says it was cut, and Raw keeps
// everything.
func TestParseLargeHTMLMail(t *testing.T) {
	raw := []byte("From: Big <big@example.com>\r\nMessage-ID: <big-html@example.com>\r\nSubject: report\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + bigHTML(16<<20))
	in := Parse(raw, testOpts())
	checkInvariants(t, raw, in)
	if in.Quarantined {
		t.Fatalf("quarantined: %s", in.QuarantineReason)
	}
	if len(in.HTML) > maxStoredHTML || !in.HTMLTruncated {
		t.Errorf("HTML %d bytes, truncated=%v; want at most %d, truncated", len(in.HTML), in.HTMLTruncated, maxStoredHTML)
	}
	if len(in.Text) > maxStoredText || !in.TextTruncated || !strings.HasPrefix(in.Text, "row 0 cell") {
		t.Errorf("text %d bytes, truncated=%v, starts %q", len(in.Text), in.TextTruncated, in.Text[:min(20, len(in.Text))])
	}
	small := Parse(readFixture(t, "html-only.eml"), testOpts())
	if small.HTMLTruncated || small.TextTruncated || small.HTML == "" {
		t.Errorf("a small mail: truncated %v/%v, HTML %q", small.TextTruncated, small.HTMLTruncated, small.HTML)
	}
	for _, bad := range []string{"<script", "tracking", "<style", "<title"} {
		if strings.Contains(small.HTML, bad) {
			t.Errorf("stored HTML contains %q: %s", bad, small.HTML)
		}
	}
	if !strings.Contains(small.HTML, `target="_blank"`) || !strings.Contains(small.HTML, "شكرا لكم") {
		t.Errorf("stored HTML lost its link policy or its text: %s", small.HTML)
	}
}

// bigHTML is about n bytes of a table-heavy newsletter.
func bigHTML(n int) string {
	var b strings.Builder
	b.Grow(n + 100)
	b.WriteString("<table>")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `<tr><td style="color:#333">row %d cell</td><td><a href="https://example.com/item/%d">item %d</a></td></tr>`+"\n", i, i, i)
	}
	b.WriteString("</table>")
	return b.String()
}

var tagPattern = regexp.MustCompile(`</?([a-z0-9]+)[^>]*?(/?)>`)

// maxDepth measures the element nesting of well-formed HTML.
func maxDepth(t *testing.T, s string) int {
	t.Helper()
	depth, top := 0, 0
	for _, m := range tagPattern.FindAllStringSubmatch(s, -1) {
		switch {
		case m[2] == "/" || voidName(m[1]):
		case strings.HasPrefix(m[0], "</"):
			depth--
		default:
			depth++
			top = max(top, depth)
		}
	}
	return top
}

func voidName(name string) bool {
	switch name {
	case "br", "img", "hr", "wbr", "col", "area":
		return true
	}
	return false
}

// BenchmarkSanitizeHTML measures sanitizing at ingest: a usual HTML mail and
// the 16 MB one.
func BenchmarkSanitizeHTML(b *testing.B) {
	raw := readFixture(b, "html-only.eml")
	i := bytes.Index(raw, []byte("\n\n"))
	fixture := string(decodeQP(raw[i+2:]))
	for _, c := range []struct {
		name string
		html string
	}{
		{"html-only.eml", fixture},
		{"16MB", bigHTML(16 << 20)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.html)))
			for b.Loop() {
				sanitizeHTML(c.html)
			}
		})
	}
}
