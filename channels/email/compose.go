package email

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"mime"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/emersion/go-message/mail"

	"github.com/wasl-dev/wasl/message"
)

// compose renders out as an RFC 5322 message from the given From address
// ("Support <support@example.edu.sa>"), dated date.
//
// The Message-ID is out.MessageID, never a fresh one: the router fixes it
// before the first attempt and stores it, so a retried send carries the same
// id and the customer's client threads (and dedupes) it. In-Reply-To and
// References make the reply thread under the customer's mail. Automatic
// replies carry "Auto-Submitted: auto-replied" (RFC 3834) and
// "X-Auto-Response-Suppress: All" so the other side's robots stay quiet.
// Bodies are UTF-8 quoted-printable: text/plain, or multipart/alternative
// when out.HTML is set.
func compose(out message.Outbound, from string, date time.Time) ([]byte, error) {
	fromAddr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("compose: from address %q: %w", from, err)
	}
	if _, ok := normAddress(out.To.Value); !ok {
		return nil, fmt.Errorf("compose: recipient %q is not an email address", out.To.Value)
	}
	if out.MessageID == "" {
		return nil, errors.New("compose: out.MessageID is empty; the caller must fix it before sending so retries reuse it")
	}
	if err := checkID("message id", out.MessageID); err != nil {
		return nil, err
	}
	if out.InReplyTo != "" {
		if err := checkID("in-reply-to", out.InReplyTo); err != nil {
			return nil, err
		}
	}
	refs := make([]string, 0, len(out.References)+1)
	for _, r := range out.References {
		if r == "" {
			continue
		}
		if err := checkID("reference", r); err != nil {
			return nil, err
		}
		refs = append(refs, r)
	}
	if out.InReplyTo != "" && !slices.Contains(refs, out.InReplyTo) {
		refs = append(refs, out.InReplyTo)
	}

	var h mail.Header
	h.SetDate(date)
	h.SetAddressList("From", []*mail.Address{fromAddr})
	// cleanLine keeps header values on one line: a newline in a name or
	// subject would otherwise let text inject headers.
	h.SetAddressList("To", []*mail.Address{{Name: cleanLine(out.To.Name), Address: out.To.Value}})
	if s := cleanLine(out.Subject); s != "" {
		h.Set("Subject", encodeHeaderText(s))
	}
	h.SetMessageID(out.MessageID)
	if out.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{out.InReplyTo})
	}
	h.SetMsgIDList("References", refs)
	if out.Auto {
		h.Set("Auto-Submitted", "auto-replied")
		h.Set("X-Auto-Response-Suppress", "All")
	}

	var buf bytes.Buffer
	text := cleanBody(out.Text)
	if out.HTML == "" {
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
		w, err := mail.CreateSingleInlineWriter(&buf, h)
		if err != nil {
			return nil, fmt.Errorf("compose: %w", err)
		}
		if err := writeBody(w, text); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}

	mw, err := mail.CreateInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	for _, p := range []struct{ ctype, body string }{
		{"text/plain", text},
		{"text/html", cleanBody(out.HTML)},
	} {
		var ph mail.InlineHeader
		ph.SetContentType(p.ctype, map[string]string{"charset": "utf-8"})
		w, err := mw.CreatePart(ph)
		if err != nil {
			return nil, fmt.Errorf("compose: %s part: %w", p.ctype, err)
		}
		if err := writeBody(w, p.body); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, fmt.Errorf("compose: %w", err)
	}
	return buf.Bytes(), nil
}

func writeBody(w io.WriteCloser, body string) error {
	if _, err := io.WriteString(w, body); err != nil {
		w.Close()
		return fmt.Errorf("compose: write body: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("compose: close body: %w", err)
	}
	return nil
}

// cleanBody ends the body with a newline and drops NULs, which SMTP
// servers reject.
func cleanBody(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "")
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return s
}

// encodeHeaderText RFC 2047-encodes only the runs of non-ASCII words, in
// base64 (a third the size of Q for Arabic). ASCII such as "Re:" and the
// ticket reference stays readable, and the spaces between words let the
// header fold under 78 columns.
func encodeHeaderText(s string) string {
	words := strings.Split(s, " ")
	var out []string
	for i := 0; i < len(words); {
		if isASCII(words[i]) && !strings.Contains(words[i], "=?") {
			out = append(out, words[i])
			i++
			continue
		}
		j := i
		for j < len(words) && (!isASCII(words[j]) || strings.Contains(words[j], "=?")) {
			j++
		}
		out = append(out, mime.BEncoding.Encode("utf-8", strings.Join(words[i:j], " ")))
		i = j
	}
	return strings.Join(out, " ")
}

// checkID refuses ids that would break the header they go in.
func checkID(what, id string) error {
	if strings.ContainsAny(id, "<> \t\r\n\"") || strings.IndexFunc(id, unicode.IsControl) >= 0 {
		return fmt.Errorf("compose: %s %q: must be a bare id without <> or spaces", what, id)
	}
	if id != "" && !strings.Contains(id, "@") {
		return fmt.Errorf("compose: %s %q: must look like local@domain", what, id)
	}
	return nil
}

// NewMessageID returns a fresh, globally unique Message-ID for a reply sent
// from domain, WITHOUT angle brackets (the form message.Outbound and
// message.Inbound use; compose adds the brackets). It is 128 random bits plus
// the time, e.g. "wasl.m3x9k2.7hq4...@example.edu.sa". An empty domain gives
// "localhost".
func NewMessageID(domain string) string {
	domain = strings.Trim(strings.TrimSpace(domain), "<>@")
	if i := strings.LastIndexByte(domain, '@'); i >= 0 {
		domain = domain[i+1:] // an address was passed: keep its domain
	}
	if domain == "" {
		domain = "localhost"
	}
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	enc := base32.StdEncoding.WithPadding(base32.NoPadding)
	return "wasl." + strconv.FormatInt(time.Now().UnixMilli(), 36) + "." +
		strings.ToLower(enc.EncodeToString(b[:])) + "@" + strings.ToLower(domain)
}
