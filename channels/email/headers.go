// Header fields: message ids, addresses, unstructured text (RFC 2047),
// dates, and the raw 8-bit headers Arabic clients send.

package email

import (
	"bufio"
	"bytes"
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/textproto"
	"github.com/wasl-dev/wasl/message"
)

// readHeader reads the top-level header and returns a reader positioned
// at the body.
func readHeader(raw []byte) (textproto.Header, *bufio.Reader, error) {
	// Files saved from an mbox start with a "From sender date" separator line.
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	return h, br, err
}

// headerErr describes a header error without dumping the offending
// line: it may be binary junk or kilobytes long.
func headerErr(err error, h textproto.Header) string {
	msg := strings.TrimPrefix(err.Error(), "message: ")
	desc, content, ok := strings.Cut(msg, ": ")
	if !ok {
		return errText(err)
	}
	if len(content) > 40 {
		content = truncate(content, 40) + "…"
	}
	return fmt.Sprintf("%s in header field %d: %q", desc, h.Len()+1, strings.ToValidUTF8(content, "?"))
}

func headerFields(in *message.Inbound, h textproto.Header, fallback string) {
	if id := msgIDs(h.Get("Message-Id")); len(id) > 0 {
		in.MessageID = id[0]
		in.ExternalID = id[0]
	}
	if ids := msgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		in.InReplyTo = ids[0]
	}
	refs := msgIDs(h.Get("References"))
	if len(refs) > maxRefs {
		refs = append(refs[:1:1], refs[len(refs)-maxRefs+1:]...)
	}
	in.References = refs

	from := addressList(h.Get("From"), fallback)
	if len(from) > 0 {
		in.From = message.Party{Kind: message.IdentityEmail, Value: from[0].Address, Name: from[0].Name}
	}
	for _, a := range addressList(h.Get("To"), fallback) {
		in.To = append(in.To, a.Address)
	}
	in.Subject = headerText(h.Get("Subject"), fallback)
	in.SentAt = headerDate(h.Get("Date"))
	in.Flags = headerFlags(h, in.From.Value)
}

// msgIDs extracts message ids without angle brackets. It is lenient:
// ids without brackets, comments and stray text are common in the wild.
func msgIDs(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var ids []string
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > maxIDLen || !utf8.ValidString(id) {
			return
		}
		for _, r := range id {
			if unicode.IsControl(r) || unicode.IsSpace(r) {
				return
			}
		}
		ids = append(ids, id)
	}
	if strings.Contains(v, "<") {
		for {
			i := strings.IndexByte(v, '<')
			if i < 0 {
				break
			}
			v = v[i+1:]
			j := strings.IndexByte(v, '>')
			if j < 0 {
				add(v)
				break
			}
			add(v[:j])
			v = v[j+1:]
		}
		return ids
	}
	for _, f := range strings.Fields(v) {
		add(f)
	}
	return ids
}

// address is one mailbox of an address list.
type address struct{ Name, Address string }

// addressList parses an address list, falling back to picking out
// anything that looks like an address when the header breaks RFC 5322.
func addressList(v, fallback string) []address {
	v = headerToUTF8(v, fallback)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []address
	p := mail.AddressParser{WordDecoder: wordDecoder()}
	if list, err := p.ParseList(v); err == nil {
		for _, a := range list {
			if addr, ok := normAddress(a.Address); ok {
				out = append(out, address{Name: cleanLine(a.Name), Address: addr})
			}
		}
		return out
	}
	for _, part := range splitAddressList(v) {
		if a, err := p.Parse(part); err == nil {
			if addr, ok := normAddress(a.Address); ok {
				out = append(out, address{Name: cleanLine(a.Name), Address: addr})
			}
			continue
		}
		// Last resort: "Name <addr>" or a bare token containing '@'.
		name, addr := "", ""
		if i := strings.LastIndexByte(part, '<'); i >= 0 {
			rest := part[i+1:]
			if j := strings.IndexByte(rest, '>'); j >= 0 {
				rest = rest[:j]
			}
			addr = rest
			name = strings.Trim(strings.TrimSpace(part[:i]), `"'`)
		} else {
			for _, f := range strings.Fields(part) {
				if strings.Contains(f, "@") {
					addr = strings.Trim(f, `"'()[];,`)
					break
				}
			}
		}
		if a, ok := normAddress(addr); ok {
			out = append(out, address{Name: headerText(name, ""), Address: a})
		}
	}
	return out
}

// splitAddressList splits on commas outside quotes and angle brackets.
func splitAddressList(v string) []string {
	var parts []string
	var quoted bool
	depth, start := 0, 0
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '"':
			quoted = !quoted
		case c == '<' && !quoted:
			depth++
		case c == '>' && !quoted && depth > 0:
			depth--
		case (c == ',' || c == ';') && !quoted && depth == 0:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}

// normAddress lower-cases an address and checks it has both halves.
func normAddress(a string) (string, bool) {
	a = strings.ToLower(strings.TrimSpace(a))
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || len(a) > 320 || !utf8.ValidString(a) {
		return "", false
	}
	for _, r := range a {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' {
			return "", false
		}
	}
	return a, true
}

func wordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: charset.Reader}
}

// headerToUTF8 converts a raw 8-bit header value (against the RFCs, but
// common from Arabic clients) to UTF-8 using the message's charset.
func headerToUTF8(v, fallback string) string {
	if utf8.ValidString(v) {
		return v
	}
	s, _ := decodeCharset(fallback, []byte(v))
	return s
}

// headerText decodes an unstructured header (RFC 2047) to one clean line.
func headerText(v, fallback string) string {
	v = headerToUTF8(v, fallback)
	if dec, err := wordDecoder().DecodeHeader(v); err == nil {
		v = dec
	}
	return cleanLine(v)
}

// cleanLine makes valid UTF-8 on one line: controls become spaces and
// runs of spaces collapse.
func cleanLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == 0 || r == '\uFEFF' {
			return -1
		}
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func headerDate(v string) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil {
		return t
	}
	// Drop a trailing comment like "(Arab Standard Time)" and try the forms
	// broken clients send.
	if i := strings.IndexByte(v, '('); i > 0 {
		v = strings.TrimSpace(v[:i])
		if t, err := mail.ParseDate(v); err == nil {
			return t
		}
	}
	for _, layout := range []string{
		"Mon, 2 Jan 2006 15:04:05 MST",
		"Mon, 2 Jan 2006 15:04:05 -0700 MST",
		"Mon, 2 Jan 2006 15:04 -0700",
		"2 Jan 2006 15:04:05 -0700",
		"Mon, 2 Jan 06 15:04:05 -0700",
		"Mon, 2 Jan 2006 15:04:05",
		"Mon Jan 2 15:04:05 2006",
		"Mon Jan 2 15:04:05 MST 2006",
		"Mon, 2-Jan-2006 15:04:05 -0700",
		time.RFC3339,
		"2006-01-02 15:04:05 -0700",
		"2006-01-02 15:04:05",
	} {
		if t, err := time.Parse(layout, strings.Join(strings.Fields(v), " ")); err == nil {
			return t
		}
	}
	return time.Time{}
}
