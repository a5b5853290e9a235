// The MIME walk: which parts are the body and which are attachments, and
// what the attachments are called.

package email

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-message/textproto"
	"github.com/wasl-dev/wasl/message"
)

type parseState struct {
	plain, html []string
	atts        []message.Attachment
	problem     string // first structural problem; quarantines the message
	parts       int
	fallback    string // top-level charset, for undeclared 8-bit text
}

func (st *parseState) fail(format string, args ...any) {
	if st.problem == "" {
		st.problem = fmt.Sprintf(format, args...)
	}
}

// walk handles one entity. Containers are streamed so nested multiparts do not
// copy the message at every level; leaves are read whole.
func (st *parseState) walk(h textproto.Header, body io.Reader, depth int, parentType string) {
	st.parts++
	if st.parts > parseMaxParts {
		st.fail("too many MIME parts (more than %d)", parseMaxParts)
		return
	}
	ctype, params := parseMediaHeader(h.Get("Content-Type"))
	if ctype == "" {
		ctype = "text/plain"
		if parentType == "multipart/digest" {
			ctype = "message/rfc822" // RFC 2046 5.1.5
		}
	} else if !parseValidMediaType(ctype) {
		// RFC 2045 5.2: an invalid Content-Type means text/plain, unless the
		// part is clearly a file.
		ctype = "text/plain"
		if _, p := parseMediaHeader(h.Get("Content-Disposition")); p["filename"] != "" || p["name"] != "" {
			ctype = "application/octet-stream"
		}
	}

	if strings.HasPrefix(ctype, "multipart/") {
		if depth >= parseMaxDepth {
			st.fail("MIME structure too deep (more than %d nested multiparts)", parseMaxDepth)
			return
		}
		boundary := params["boundary"]
		if boundary == "" {
			st.fail("broken MIME structure: %s without a boundary", ctype)
			return
		}
		mr := textproto.NewMultipartReader(body, boundary)
		n := 0
		for {
			p, err := mr.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				if n == 0 {
					st.fail("broken MIME structure: %s has no part delimited by its boundary", ctype)
				} else if !strings.Contains(err.Error(), "EOF") {
					// A missing closing boundary (truncated sender) is
					// tolerated; anything else is not.
					st.fail("broken MIME structure: %s", parseErrText(err))
				}
				return
			}
			n++
			st.walk(p.Header, p, depth+1, ctype)
			if st.parts > parseMaxParts {
				return
			}
		}
		return
	}

	data, err := io.ReadAll(body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		st.fail("cannot read MIME part: %s", parseErrText(err))
		return
	}
	data = parseDecodeTransfer(h.Get("Content-Transfer-Encoding"), data)
	st.leaf(h, ctype, params, data)
}

func (st *parseState) leaf(h textproto.Header, ctype string, params map[string]string, data []byte) {
	disp, dparams := parseMediaHeader(h.Get("Content-Disposition"))
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = parseCleanFilename(filename)

	// A body is unnamed text that is not marked as an attachment; a named
	// text part is a file someone attached.
	if (ctype == "text/plain" || ctype == "text/html") && disp != "attachment" && filename == "" {
		cs := params["charset"]
		if cs == "" {
			cs = st.fallback
		}
		text, _ := parseDecodeCharset(cs, data)
		if ctype == "text/html" {
			st.html = append(st.html, text)
			return
		}
		text = parseCleanText(text)
		if strings.EqualFold(params["format"], "flowed") {
			text = parseUnflow(text, strings.EqualFold(params["delsp"], "yes"))
		}
		if strings.TrimSpace(text) != "" {
			st.plain = append(st.plain, text)
		}
		return
	}

	if filename == "" {
		if ctype == "message/rfc822" || ctype == "message/global" {
			filename = parseForwardedName(data)
		} else {
			filename = fmt.Sprintf("attachment-%d%s", len(st.atts)+1, parseExtension(ctype))
		}
	}
	st.atts = append(st.atts, message.Attachment{
		Filename:    filename,
		ContentType: ctype,
		Size:        int64(len(data)),
		Content:     data,
	})
}

// parseValidMediaType reports whether t is type "/" subtype made of RFC 2045
// token characters, so it is safe to store and to echo in a header.
func parseValidMediaType(t string) bool {
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || typ == "" || sub == "" || len(t) > 255 {
		return false
	}
	for _, c := range []byte(typ + sub) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// parseForwardedName names an attached message after its subject.
func parseForwardedName(data []byte) string {
	h, _, _ := parseReadHeader(data)
	subj := parseHeaderText(h.Get("Subject"), "")
	subj = parseCleanFilename(subj)
	if subj == "" {
		return "forwarded-message.eml"
	}
	return parseTruncate(subj, 100) + ".eml"
}

func parseExtension(ctype string) string {
	switch ctype {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/gif":
		return ".gif"
	case "image/webp":
		return ".webp"
	case "application/pdf":
		return ".pdf"
	case "text/calendar":
		return ".ics"
	case "text/plain":
		return ".txt"
	case "text/html":
		return ".html"
	case "message/delivery-status":
		return ".txt"
	case "text/rfc822-headers":
		return ".txt"
	case "message/rfc822", "message/global":
		return ".eml"
	}
	return ".bin"
}

// parseCleanFilename keeps the last path element and drops control
// characters, so a name can never walk out of a directory or break a header.
func parseCleanFilename(s string) string {
	s = parseCleanLine(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(strings.Trim(s, "."))
	if s == "" {
		return ""
	}
	return parseTruncate(s, 255)
}
