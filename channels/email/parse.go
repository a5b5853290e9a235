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

// DefaultMaxSize is the size limit Parse applies when ParseOptions.MaxSize is 0.
const DefaultMaxSize int64 = 25 << 20

// Limits that keep hostile mail from costing unbounded work. A message that
// exceeds them is quarantined, not dropped.
const (
	parseMaxDepth = 20   // nested multiparts
	parseMaxParts = 1000 // MIME parts in one message
	parseMaxIDLen = 512  // bytes; longer message ids are ignored (they would not fit a database index)
	parseMaxRefs  = 100  // References kept: the first (thread root) and the last 99
)

// parseFallbackCharset decodes 8-bit text that declares no charset (or lies
// that it is UTF-8 / ASCII). Arabic Windows clients are the usual culprits,
// and windows-1256 also maps the Latin-1 letters of French text correctly.
const parseFallbackCharset = "windows-1256"

// ParseOptions tune Parse.
type ParseOptions struct {
	ChannelID int64
	// MaxSize is the largest message accepted, in bytes; 0 means
	// DefaultMaxSize. A larger message is quarantined with its header parsed.
	MaxSize int64
	// Now gives ReceivedAt; nil means time.Now.
	Now func() time.Time
}

// Parse turns one raw RFC 5322 message into a message.Inbound. It never
// fails: input it cannot make sense of comes back Quarantined with a
// QuarantineReason, and Raw always holds the input so the store keeps it.
func Parse(raw []byte, opts ParseOptions) (in message.Inbound) {
	in = parseNewInbound(raw, opts)
	// Last line of defence: a bug here must quarantine one mail, not crash
	// the connector. FuzzParse fails on this reason, so it is not hiding bugs.
	defer func() {
		if r := recover(); r != nil {
			in.Quarantined = true
			in.QuarantineReason = fmt.Sprintf("internal parser error: %v", r)
			parseFinish(&in) // the store still needs its dedupe key
		}
	}()

	maxSize := opts.MaxSize
	if maxSize <= 0 {
		maxSize = DefaultMaxSize
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		parseQuarantine(&in, "empty message")
		parseFinish(&in)
		return in
	}
	if int64(len(raw)) > maxSize {
		parseQuarantine(&in, fmt.Sprintf("message is %s, over the %s limit",
			parseFormatSize(int64(len(raw))), parseFormatSize(maxSize)))
		// Headers still tell staff who wrote and about what.
		if h, _, err := parseReadHeader(raw); err == nil || h.Len() > 0 {
			parseHeaderFields(&in, h, "")
		}
		parseFinish(&in)
		return in
	}

	h, br, herr := parseReadHeader(raw)
	if herr != nil {
		if h.Len() == 0 {
			parseQuarantine(&in, "not an email: "+parseHeaderErr(herr, h))
			parseFinish(&in)
			return in
		}
		// Part of the header is readable: keep what it says, but the rest of
		// the message cannot be located reliably.
		parseQuarantine(&in, "malformed header: "+parseHeaderErr(herr, h))
		parseHeaderFields(&in, h, "")
		parseFinish(&in)
		return in
	}

	st := &parseState{}
	_, ctParams := parseMediaHeader(h.Get("Content-Type"))
	st.fallback = ctParams["charset"]
	parseHeaderFields(&in, h, st.fallback)
	st.walk(h, br, 0, "")

	in.Attachments = st.atts
	plain := strings.TrimSpace(strings.Join(st.plain, "\n\n"))
	html := strings.Join(st.html, "\n")
	in.HTML = parseCleanText(html)
	if plain != "" {
		in.Text = plain
	} else if html != "" {
		in.Text = parseHTMLToText(in.HTML)
	}
	if st.problem != "" {
		parseQuarantine(&in, st.problem)
	}
	parseFinish(&in)
	return in
}

// ParseTooLarge builds the quarantined Inbound for a message that was too big
// to download whole (IMAP fetches only its header): header is the header
// block, size the full message size. Raw keeps header, which is all we have.
func ParseTooLarge(header []byte, size int64, opts ParseOptions) message.Inbound {
	in := Parse(header, ParseOptions{ChannelID: opts.ChannelID, MaxSize: DefaultMaxSize, Now: opts.Now})
	in.Text, in.HTML, in.Attachments = "", "", nil
	limit := opts.MaxSize
	if limit <= 0 {
		limit = DefaultMaxSize
	}
	reason := fmt.Sprintf("message is %s, over the %s limit; only its header was fetched",
		parseFormatSize(size), parseFormatSize(limit))
	if in.Quarantined {
		reason += " (and " + in.QuarantineReason + ")"
	}
	in.Quarantined = true
	in.QuarantineReason = reason
	return in
}

func parseNewInbound(raw []byte, opts ParseOptions) message.Inbound {
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

// parseQuarantine keeps the first reason: it is the root cause.
func parseQuarantine(in *message.Inbound, reason string) {
	if in.Quarantined {
		return
	}
	in.Quarantined = true
	in.QuarantineReason = reason
}

// parseFinish fills what every Inbound needs whatever happened before.
func parseFinish(in *message.Inbound) {
	if in.ExternalID == "" {
		// Stable across re-delivery of the same bytes, so dedupe still works.
		sum := sha256.Sum256(in.Raw)
		in.ExternalID = "sha256:" + hex.EncodeToString(sum[:])
	}
	if in.From.Value == "" && !in.Quarantined {
		parseQuarantine(in, "no sender: the From header is missing or has no address")
	}
}

// parseErrText makes an error safe and short enough for a quarantine reason.
func parseErrText(err error) string {
	s := strings.ToValidUTF8(err.Error(), "?")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) > 120 {
		s = parseTruncate(s, 120) + "…"
	}
	return s
}

func parseTruncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func parseFormatSize(n int64) string {
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
