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

// mimeWalker collects the bodies and attachments of one message.
type mimeWalker struct {
	plain, html []string
	atts        []message.Attachment
	problem     string // first structural problem; quarantines the message
	parts       int
	fallback    string // top-level charset, for undeclared 8-bit text
}

func (st *mimeWalker) fail(format string, args ...any) {
	if st.problem == "" {
		st.problem = fmt.Sprintf(format, args...)
	}
}

// walk handles one entity. Containers are streamed so nested multiparts do not
// copy the message at every level; leaves are read whole.
func (st *mimeWalker) walk(h textproto.Header, body io.Reader, depth int, parentType string) {
	st.parts++
	if st.parts > maxMIMEParts {
		st.fail("too many MIME parts (more than %d)", maxMIMEParts)
		return
	}
	ctype, params := mediaType(h.Get("Content-Type"))
	if ctype == "" {
		ctype = "text/plain"
		if parentType == "multipart/digest" {
			ctype = "message/rfc822" // RFC 2046 5.1.5
		}
	} else if !validMediaType(ctype) {
		// RFC 2045 5.2: an invalid Content-Type means text/plain, unless the
		// part is clearly a file.
		ctype = "text/plain"
		if _, p := mediaType(h.Get("Content-Disposition")); p["filename"] != "" || p["name"] != "" {
			ctype = "application/octet-stream"
		}
	}

	if strings.HasPrefix(ctype, "multipart/") {
		if depth >= maxMIMEDepth {
			st.fail("MIME structure too deep (more than %d nested multiparts)", maxMIMEDepth)
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
					st.fail("broken MIME structure: %s", errText(err))
				}
				return
			}
			n++
			st.walk(p.Header, p, depth+1, ctype)
			if st.parts > maxMIMEParts {
				return
			}
		}
		return
	}

	data, err := io.ReadAll(body)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		st.fail("cannot read MIME part: %s", errText(err))
		return
	}
	data = decodeTransfer(h.Get("Content-Transfer-Encoding"), data)
	st.leaf(h, ctype, params, data)
}

func (st *mimeWalker) leaf(h textproto.Header, ctype string, params map[string]string, data []byte) {
	disp, dparams := mediaType(h.Get("Content-Disposition"))
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanFilename(filename)

	// A body is unnamed text that is not marked as an attachment; a named
	// text part is a file someone attached.
	if (ctype == "text/plain" || ctype == "text/html") && disp != "attachment" && filename == "" {
		cs := params["charset"]
		if cs == "" {
			cs = st.fallback
		}
		text, _ := decodeCharset(cs, data)
		if ctype == "text/html" {
			st.html = append(st.html, text)
			return
		}
		text = cleanText(text)
		if strings.EqualFold(params["format"], "flowed") {
			text = unflow(text, strings.EqualFold(params["delsp"], "yes"))
		}
		if strings.TrimSpace(text) != "" {
			st.plain = append(st.plain, text)
		}
		return
	}

	if filename == "" {
		if ctype == "message/rfc822" || ctype == "message/global" {
			filename = forwardedName(data)
		} else {
			filename = fmt.Sprintf("attachment-%d%s", len(st.atts)+1, extension(ctype))
		}
	}
	st.atts = append(st.atts, message.Attachment{
		Filename:    filename,
		ContentType: ctype,
		Size:        int64(len(data)),
		Content:     data,
	})
}

// validMediaType reports whether t is type "/" subtype made of RFC 2045
// token characters, so it is safe to store and to echo in a header.
func validMediaType(t string) bool {
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

// forwardedName names an attached message after its subject.
func forwardedName(data []byte) string {
	h, _, _ := readHeader(data)
	subj := headerText(h.Get("Subject"), "")
	subj = cleanFilename(subj)
	if subj == "" {
		return "forwarded-message.eml"
	}
	return truncate(subj, 100) + ".eml"
}

func extension(ctype string) string {
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

// cleanFilename keeps the last path element and drops control
// characters, so a name can never walk out of a directory or break a header.
func cleanFilename(s string) string {
	s = cleanLine(s)
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimSpace(strings.Trim(s, "."))
	if s == "" {
		return ""
	}
	return truncate(s, 255)
}
