package email

import (
	"os"
	"path/filepath"
	"reflect"
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
