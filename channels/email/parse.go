// Package email is the email channel: MIME parsing of inbound mail, IMAP sync,
// and SMTP delivery of replies.
package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

// defaultMaxSize is the size limit Parse applies when ParseOptions.MaxSize is 0.
const defaultMaxSize int64 = 25 << 20

// Limits that keep hostile mail from costing unbounded work. A message that
// exceeds them is quarantined, not dropped.
const (
	maxMIMEDepth = 20   // nested multiparts
	maxMIMEParts = 1000 // MIME parts in one message
	maxIDLen     = 512  // bytes; longer message ids are ignored (they would not fit a database index)
	maxRefs      = 100  // References kept: the first (thread root) and the last 99
)

// fallbackCharset decodes 8-bit text that declares no charset (or lies
// that it is UTF-8 / ASCII). Arabic Windows clients are the usual culprits,
// and windows-1256 also maps the Latin-1 letters of French text correctly.
const fallbackCharset = "windows-1256"

// ParseOptions tune Parse.
type ParseOptions struct {
	ChannelID int64
	// MaxSize is the largest message accepted, in bytes; 0 means
	// defaultMaxSize. A larger message is quarantined with its header parsed.
	MaxSize int64
	// Now gives ReceivedAt; nil means time.Now.
	Now func() time.Time
}

// Parse turns one raw RFC 5322 message into a message.Inbound. It never
// fails: input it cannot make sense of comes back Quarantined with a
// QuarantineReason, and Raw always holds the input so the store keeps it.
func Parse(raw []byte, opts ParseOptions) (in message.Inbound) {
	in = newInbound(raw, opts)
	// Last line of defence: a bug here must quarantine one mail, not crash
	// the connector. FuzzParse fails on this reason, so it is not hiding bugs.
	defer func() {
		if r := recover(); r != nil {
			in.Quarantined = true
			in.QuarantineReason = fmt.Sprintf("internal parser error: %v", r)
			finish(&in) // the store still needs its dedupe key
		}
	}()

	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = defaultMaxSize
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		quarantine(&in, "empty message")
		finish(&in)
		return in
	}
	if int64(len(raw)) > maxSize {
		quarantine(&in, fmt.Sprintf("message is %s, over the %s limit",
			formatSize(int64(len(raw))), formatSize(maxSize)))
		// Headers still tell staff who wrote and about what.
		if h, _, err := readHeader(raw); err == nil || h.Len() > 0 {
			headerFields(&in, h, "")
		}
		finish(&in)
		return in
	}

	h, br, herr := readHeader(raw)
	if herr != nil {
		if h.Len() == 0 {
			quarantine(&in, "not an email: "+headerErr(herr, h))
			finish(&in)
			return in
		}
		// Part of the header is readable: keep what it says, but the rest of
		// the message cannot be located reliably.
		quarantine(&in, "malformed header: "+headerErr(herr, h))
		headerFields(&in, h, "")
		finish(&in)
		return in
	}

	st := &mimeWalker{}
	_, ctParams := mediaType(h.Get("Content-Type"))
	st.fallback = ctParams["charset"]
	headerFields(&in, h, st.fallback)
	st.walk(h, br, 0, "")

	in.Attachments = st.atts
	text := strings.TrimSpace(strings.Join(st.plain, "\n\n"))
	html := cleanText(strings.Join(st.html, "\n"))
	if text == "" && html != "" {
		text = htmlToText(html)
	}
	in.Text, in.TextTruncated = capText(text, maxStoredText)
	if html != "" {
		// Sanitized once, here, and stored so: readers never see the original.
		in.HTML, in.HTMLTruncated = sanitizeHTML(html)
	}
	if st.problem != "" {
		quarantine(&in, st.problem)
	}
	finish(&in)
	return in
}

func newInbound(raw []byte, opts ParseOptions) message.Inbound {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	return message.Inbound{
		ChannelID:  opts.ChannelID,
		Channel:    message.Email,
		Raw:        raw,
		ReceivedAt: now(),
	}
}

// quarantine keeps the first reason: it is the root cause.
func quarantine(in *message.Inbound, reason string) {
	if in.Quarantined {
		return
	}
	in.Quarantined = true
	in.QuarantineReason = reason
}

// finish fills what every Inbound needs whatever happened before.
func finish(in *message.Inbound) {
	if in.ExternalID == "" {
		// Stable across re-delivery of the same bytes, so dedupe still works.
		sum := sha256.Sum256(in.Raw)
		in.ExternalID = "sha256:" + hex.EncodeToString(sum[:])
	}
	if in.From.Value == "" && !in.Quarantined {
		quarantine(in, "no sender: the From header is missing or has no address")
	}
}

// errText makes an error safe and short enough for a quarantine reason.
func errText(err error) string { return clipText(err.Error(), 120) }

// clipText makes s valid UTF-8 on one line of at most about n bytes.
func clipText(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > n {
		s = truncate(s, n) + "…"
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func formatSize(n int64) string {
	trim := func(f float64) string {
		return strconv.FormatFloat(f, 'f', 1, 64)
	}
	switch {
	case n >= 1<<20:
		s := trim(float64(n) / (1 << 20))
		return strings.TrimSuffix(s, ".0") + " MB"
	case n >= 1<<10:
		s := trim(float64(n) / (1 << 10))
		return strings.TrimSuffix(s, ".0") + " KB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
