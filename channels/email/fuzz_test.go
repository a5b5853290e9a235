package email

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse: whatever the bytes, Parse returns (no panic, no hang), keeps Raw,
// gives a dedupe key, only storable strings, a reason for every quarantine,
// and the same answer twice.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed fixtures: %v", err)
	}
	files = append(files, filepath.Join("testdata", "garbage.bin"))
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		"",
		"From: a@b\r\n\r\n",
		"From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\n--x--",
		"From: a@b\r\nContent-Type: text/html\r\n\r\n<p>x<br><script>y",
		"From: =?windows-1256?Q?=E3?= <a@b>\r\nSubject: =?iso-8859-6?B?5w==?=\r\n\r\n",
		"Content-Disposition: attachment; filename*0*=windows-1256''%E3; filename*1=x\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		in := Parse(raw, testOpts())
		checkInvariants(t, raw, in)
		again := Parse(raw, testOpts())
		if !reflect.DeepEqual(in, again) {
			t.Fatalf("Parse is not deterministic:\n%+v\n%+v", Summarize(in), Summarize(again))
		}
	})
}

// FuzzShapeHTML: whatever the HTML, shapeHTML stays within its bounds and
// the sanitized result holds no script.
func FuzzShapeHTML(f *testing.F) {
	for _, s := range []string{
		"<p>a<b>b<i>c</b>d</p>",
		"<div><div><div>x</div></div></div>",
		"<<!-- x -->a href=y>",
		"<ul><li>a<li>b</ul><table><tr><td>1<td>2</table>",
		`<img src="cid:a"><a href="https://x.org">y</a><script>z</script>`,
		"<p>سلام &amp; &nbsp;</p>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		const limit, depth = 256, 4
		out, _ := shapeHTML(src, limit, depth)
		if len(out) > limit {
			t.Fatalf("%d bytes, over %d: %q", len(out), limit, out)
		}
		if d := maxDepth(t, out); d > depth {
			t.Fatalf("depth %d, over %d: %q", d, depth, out)
		}
		safe, _ := sanitizeHTML(src)
		if strings.Contains(strings.ToLower(safe), "<script") {
			t.Fatalf("script survived: %q", safe)
		}
	})
}
