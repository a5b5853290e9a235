// Content-Type and Content-Disposition values and their parameters, with
// RFC 2231 continuations and charsets and RFC 2047 words.

package email

import (
	"strconv"
	"strings"
	"unicode"
)

// mediaType parses a Content-Type or Content-Disposition value. Unlike
// mime.ParseMediaType it never fails (first duplicate wins, unquoted spaces
// are kept), decodes RFC 2231 values in any charset (windows-1256 file names)
// including continuations, and decodes RFC 2047 words in quoted values.
func mediaType(v string) (string, map[string]string) {
	params := map[string]string{}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", params
	}
	base, rest, _ := strings.Cut(v, ";")
	typ := strings.ToLower(strings.TrimSpace(base))
	if i := strings.IndexFunc(typ, unicode.IsSpace); i >= 0 {
		typ = typ[:i]
	}

	rawParams := map[string]string{}
	for rest != "" {
		rest = strings.TrimLeft(rest, " \t\r\n;")
		if rest == "" {
			break
		}
		eq := strings.IndexAny(rest, "=;")
		if eq < 0 || rest[eq] == ';' {
			if eq < 0 {
				break
			}
			rest = rest[eq+1:]
			continue
		}
		key := strings.ToLower(strings.TrimSpace(rest[:eq]))
		rest = strings.TrimLeft(rest[eq+1:], " \t\r\n")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if c == '"' {
					break
				}
				b.WriteByte(c)
			}
			val = b.String()
			if i < len(rest) {
				rest = rest[i+1:]
			} else {
				rest = ""
			}
			if j := strings.IndexByte(rest, ';'); j >= 0 {
				rest = rest[j:]
			} else {
				rest = ""
			}
		} else {
			j := strings.IndexByte(rest, ';')
			if j < 0 {
				j = len(rest)
			}
			val = strings.TrimSpace(rest[:j])
			rest = rest[j:]
		}
		if _, dup := rawParams[key]; !dup && key != "" {
			rawParams[key] = val
		}
	}

	// Plain values, with RFC 2047 words decoded (Outlook, Gmail for names).
	for k, val := range rawParams {
		if strings.Contains(k, "*") {
			continue
		}
		if strings.Contains(val, "=?") {
			if dec, err := wordDecoder().DecodeHeader(val); err == nil {
				val = dec
			}
		}
		params[k] = headerToUTF8(val, "")
	}
	// RFC 2231 values win over plain ones.
	for k := range rawParams {
		name, _, ok := strings.Cut(k, "*")
		if !ok || name == "" {
			continue
		}
		if _, done := params[name+"\x00"]; done {
			continue
		}
		params[name+"\x00"] = ""
		if val, ok := join2231(name, rawParams); ok {
			params[name] = val
		}
	}
	for k := range params {
		if strings.HasSuffix(k, "\x00") {
			delete(params, k)
		}
	}
	return typ, params
}

// join2231 joins name*, or name*0, name*1* … and decodes the result in the
// charset named by the first segment.
func join2231(name string, raw map[string]string) (string, bool) {
	var segs []string
	var encoded []bool
	if v, ok := raw[name+"*"]; ok {
		segs, encoded = []string{v}, []bool{true}
	} else {
		for n := 0; n < 1000; n++ {
			key := name + "*" + strconv.Itoa(n)
			if v, ok := raw[key]; ok {
				segs, encoded = append(segs, v), append(encoded, false)
			} else if v, ok := raw[key+"*"]; ok {
				segs, encoded = append(segs, v), append(encoded, true)
			} else {
				break
			}
		}
	}
	if len(segs) == 0 {
		return "", false
	}
	cs := ""
	if encoded[0] {
		parts := strings.SplitN(segs[0], "'", 3)
		if len(parts) == 3 {
			cs, segs[0] = parts[0], parts[2]
		}
	}
	var buf []byte
	for i, s := range segs {
		if encoded[i] {
			buf = append(buf, percentDecode(s)...)
		} else {
			buf = append(buf, s...)
		}
	}
	text, _ := decodeCharset(cs, buf)
	return text, true
}

func percentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}
