// Body decoding: transfer encodings (lenient base64 and quoted-printable),
// charsets, format=flowed, and text clean enough to store.

package email

import (
	"bytes"
	"encoding/base64"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset" // also registers windows-1256, ISO-8859-6 … with go-message
)

// decodeTransfer undoes Content-Transfer-Encoding. It is lenient on
// purpose: one bad character in base64 or quoted-printable must not cost the
// customer their message.
func decodeTransfer(enc string, data []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return decodeBase64(data)
	case "quoted-printable":
		return decodeQP(data)
	}
	return data
}

func decodeBase64(data []byte) []byte {
	clean := make([]byte, 0, len(data))
	for _, c := range data {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' {
			clean = append(clean, c)
		}
	}
	if len(clean)%4 == 1 {
		clean = clean[:len(clean)-1] // a lone sextet holds no whole byte
	}
	out := make([]byte, base64.RawStdEncoding.DecodedLen(len(clean)))
	n, _ := base64.RawStdEncoding.Decode(out, clean)
	return out[:n]
}

func decodeQP(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		line := data
		nl := bytes.IndexByte(data, '\n')
		if nl >= 0 {
			line, data = data[:nl], data[nl+1:]
		} else {
			data = nil
		}
		line = bytes.TrimRight(line, " \t\r") // transport padding (RFC 2045 6.7)
		soft := false
		if bytes.HasSuffix(line, []byte("=")) {
			soft = true
			line = line[:len(line)-1]
		}
		for i := 0; i < len(line); i++ {
			c := line[i]
			if c == '=' && i+2 < len(line) && isHex(line[i+1]) && isHex(line[i+2]) {
				out = append(out, unhex(line[i+1])<<4|unhex(line[i+2]))
				i += 2
				continue
			}
			out = append(out, c) // not an escape: keep it literally
		}
		if !soft && nl >= 0 {
			out = append(out, '\n')
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// decodeCharset converts text to UTF-8. Undeclared or mislabelled 8-bit
// text is read as windows-1256 (see fallbackCharset); an unknown charset
// gives valid UTF-8 with replacement characters rather than an error, and
// ok=false.
func decodeCharset(cs string, data []byte) (string, bool) {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(data) {
			return string(data), true
		}
		cs = fallbackCharset
	}
	r, err := charset.Reader(cs, bytes.NewReader(data))
	if err != nil {
		return strings.ToValidUTF8(string(data), "\uFFFD"), false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return strings.ToValidUTF8(string(data), "\uFFFD"), false
	}
	return strings.ToValidUTF8(string(out), "\uFFFD"), true
}

// cleanText strips a BOM, NULs and carriage returns and repairs UTF-8.
func cleanText(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimPrefix(s, "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\x00", "")
}

// unflow undoes RFC 3676 format=flowed: a line ending in a space
// continues on the next line of the same quote depth.
func unflow(s string, delsp bool) string {
	var out []string
	var cur strings.Builder
	depth, open := 0, false
	flush := func() {
		prefix := strings.Repeat(">", depth)
		if depth > 0 {
			prefix += " "
		}
		out = append(out, prefix+cur.String())
		cur.Reset()
		open = false
	}
	for _, line := range strings.Split(s, "\n") {
		q := len(line) - len(strings.TrimLeft(line, ">"))
		line = strings.TrimPrefix(line[q:], " ") // space-stuffing
		flowed := strings.HasSuffix(line, " ") && line != "-- "
		if open && q != depth {
			flush()
		}
		if !open {
			depth, open = q, true
		}
		if flowed && delsp {
			line = line[:len(line)-1]
		}
		cur.WriteString(line)
		if !flowed {
			flush()
		}
	}
	if open {
		flush()
	}
	return strings.Join(out, "\n")
}
