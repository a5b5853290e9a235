// Package email is the email channel: MIME parsing of inbound mail, IMAP sync,
// and SMTP delivery of replies.
package email

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset" // also registers windows-1256, ISO-8859-6 … with go-message
	"github.com/emersion/go-message/textproto"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

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

// parseReadHeader reads the top-level header and returns a reader positioned
// at the body.
func parseReadHeader(raw []byte) (textproto.Header, *bufio.Reader, error) {
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

// parseHeaderErr describes a header error without dumping the offending
// line: it may be binary junk or kilobytes long.
func parseHeaderErr(err error, h textproto.Header) string {
	msg := strings.TrimPrefix(err.Error(), "message: ")
	desc, content, ok := strings.Cut(msg, ": ")
	if !ok {
		return parseErrText(err)
	}
	if len(content) > 40 {
		content = parseTruncate(content, 40) + "…"
	}
	return fmt.Sprintf("%s in header field %d: %q", desc, h.Len()+1, strings.ToValidUTF8(content, "?"))
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

// --- header fields ---

func parseHeaderFields(in *message.Inbound, h textproto.Header, fallback string) {
	if id := parseMsgIDs(h.Get("Message-Id")); len(id) > 0 {
		in.MessageID = id[0]
		in.ExternalID = id[0]
	}
	if ids := parseMsgIDs(h.Get("In-Reply-To")); len(ids) > 0 {
		in.InReplyTo = ids[0]
	}
	refs := parseMsgIDs(h.Get("References"))
	if len(refs) > parseMaxRefs {
		refs = append(refs[:1:1], refs[len(refs)-parseMaxRefs+1:]...)
	}
	in.References = refs

	from := parseAddresses(h.Get("From"), fallback)
	if len(from) > 0 {
		in.From = message.Party{Kind: message.IdentityEmail, Value: from[0].Address, Name: from[0].Name}
	}
	for _, a := range parseAddresses(h.Get("To"), fallback) {
		in.To = append(in.To, a.Address)
	}
	in.Subject = parseHeaderText(h.Get("Subject"), fallback)
	in.SentAt = parseDate(h.Get("Date"))
	in.Flags = parseFlags(h, in.From.Value)
}

// parseMsgIDs extracts message ids without angle brackets. It is lenient:
// ids without brackets, comments and stray text are common in the wild.
func parseMsgIDs(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	var ids []string
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || len(id) > parseMaxIDLen || !utf8.ValidString(id) {
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

type parseAddr struct{ Name, Address string }

// parseAddresses parses an address list, falling back to picking out
// anything that looks like an address when the header breaks RFC 5322.
func parseAddresses(v, fallback string) []parseAddr {
	v = parseToUTF8Header(v, fallback)
	if strings.TrimSpace(v) == "" {
		return nil
	}
	var out []parseAddr
	p := mail.AddressParser{WordDecoder: parseWordDecoder()}
	if list, err := p.ParseList(v); err == nil {
		for _, a := range list {
			if addr, ok := parseNormAddress(a.Address); ok {
				out = append(out, parseAddr{Name: parseCleanLine(a.Name), Address: addr})
			}
		}
		return out
	}
	for _, part := range parseSplitAddressList(v) {
		if a, err := p.Parse(part); err == nil {
			if addr, ok := parseNormAddress(a.Address); ok {
				out = append(out, parseAddr{Name: parseCleanLine(a.Name), Address: addr})
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
		if a, ok := parseNormAddress(addr); ok {
			out = append(out, parseAddr{Name: parseHeaderText(name, ""), Address: a})
		}
	}
	return out
}

// parseSplitAddressList splits on commas outside quotes and angle brackets.
func parseSplitAddressList(v string) []string {
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

// parseNormAddress lower-cases an address and checks it has both halves.
func parseNormAddress(a string) (string, bool) {
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

func parseWordDecoder() *mime.WordDecoder {
	return &mime.WordDecoder{CharsetReader: charset.Reader}
}

// parseToUTF8Header converts a raw 8-bit header value (against the RFCs, but
// common from Arabic clients) to UTF-8 using the message's charset.
func parseToUTF8Header(v, fallback string) string {
	if utf8.ValidString(v) {
		return v
	}
	s, _ := parseDecodeCharset(fallback, []byte(v))
	return s
}

// parseHeaderText decodes an unstructured header (RFC 2047) to one clean line.
func parseHeaderText(v, fallback string) string {
	v = parseToUTF8Header(v, fallback)
	if dec, err := parseWordDecoder().DecodeHeader(v); err == nil {
		v = dec
	}
	return parseCleanLine(v)
}

// parseCleanLine makes valid UTF-8 on one line: controls become spaces and
// runs of spaces collapse.
func parseCleanLine(s string) string {
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

func parseDate(v string) time.Time {
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

// --- flags (RFC 3834 loop protection) ---

// parseFlags decides which automatic-reply guards a message trips.
//
// AutoSubmitted: Auto-Submitted with any value but "no" (RFC 3834);
// X-Autoreply / X-Autorespond / X-Autogenerated (older autoresponders);
// Precedence: auto_reply; a read receipt (multipart/report;
// report-type=disposition-notification); and X-Auto-Response-Suppress when it
// names All, OOF or AutoReply. That last header is Microsoft's way for a
// sender to ask "do not auto-reply to this": Exchange puts it on its own
// out-of-office replies and notifications, not on mail people write, and our
// answer is exactly an auto-reply, so we honour it. Values that only suppress
// receipts (DR, NDR, RN, NRN) are about receipts, not replies, and are ignored.
func parseFlags(h textproto.Header, from string) message.Flags {
	var f message.Flags
	token := func(k string) string {
		v := strings.ToLower(strings.TrimSpace(h.Get(k)))
		if i := strings.IndexAny(v, ";("); i >= 0 {
			v = strings.TrimSpace(v[:i])
		}
		return v
	}

	if v := token("Auto-Submitted"); v != "" && v != "no" {
		f.AutoSubmitted = true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autogenerated"} {
		if v := token(k); v != "" && v != "no" && v != "false" && v != "0" {
			f.AutoSubmitted = true
		}
	}
	for _, v := range strings.FieldsFunc(strings.ToLower(h.Get("X-Auto-Response-Suppress")), func(r rune) bool {
		return r == ',' || r == ';' || unicode.IsSpace(r)
	}) {
		if v == "all" || v == "oof" || v == "autoreply" {
			f.AutoSubmitted = true
		}
	}

	for _, k := range []string{"Precedence", "X-Precedence"} {
		switch token(k) {
		case "bulk", "list", "junk":
			f.Bulk = true
		case "auto_reply":
			f.AutoSubmitted = true
		}
	}

	if strings.TrimSpace(h.Get("List-Id")) != "" || strings.TrimSpace(h.Get("List-Unsubscribe")) != "" {
		f.List = true
	}

	local := from
	if i := strings.LastIndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	rawFrom := strings.ToLower(h.Get("From"))
	if local == "mailer-daemon" || local == "postmaster" ||
		(from == "" && strings.Contains(rawFrom, "mailer-daemon")) {
		f.Bounce = true
	}
	if h.Has("Return-Path") && strings.Trim(strings.TrimSpace(h.Get("Return-Path")), " <>") == "" {
		f.Bounce = true // null reverse-path: only delivery reports use it
	}
	if strings.TrimSpace(h.Get("X-Failed-Recipients")) != "" {
		f.Bounce = true
	}
	if ct, params := parseMediaHeader(h.Get("Content-Type")); ct == "multipart/report" {
		switch strings.ToLower(params["report-type"]) {
		case "delivery-status":
			f.Bounce = true
		case "disposition-notification":
			f.AutoSubmitted = true
		}
	}

	f.NoReply = parseIsNoReply(local)
	return f
}

// parseIsNoReply matches the no-reply local parts senders use: no-reply,
// noreply, do-not-reply, donotreply, no_reply+x, github-noreply, …
func parseIsNoReply(local string) bool {
	if i := strings.IndexByte(local, '+'); i >= 0 {
		local = local[:i]
	}
	n := strings.NewReplacer(".", "", "-", "", "_", "").Replace(strings.ToLower(local))
	for _, p := range []string{"noreply", "donotreply", "dontreply", "noresponse", "donotrespond", "norespond", "donotanswer"} {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

// --- MIME body ---

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

// parseCleanText strips a BOM, NULs and carriage returns and repairs UTF-8.
func parseCleanText(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.TrimPrefix(s, "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\x00", "")
}

// parseUnflow undoes RFC 3676 format=flowed: a line ending in a space
// continues on the next line of the same quote depth.
func parseUnflow(s string, delsp bool) string {
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

// parseDecodeTransfer undoes Content-Transfer-Encoding. It is lenient on
// purpose: one bad character in base64 or quoted-printable must not cost the
// customer their message.
func parseDecodeTransfer(enc string, data []byte) []byte {
	switch strings.ToLower(strings.TrimSpace(enc)) {
	case "base64":
		return parseDecodeBase64(data)
	case "quoted-printable":
		return parseDecodeQP(data)
	}
	return data
}

func parseDecodeBase64(data []byte) []byte {
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

func parseDecodeQP(data []byte) []byte {
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
			if c == '=' && i+2 < len(line) && parseIsHex(line[i+1]) && parseIsHex(line[i+2]) {
				out = append(out, parseUnhex(line[i+1])<<4|parseUnhex(line[i+2]))
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

func parseIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func parseUnhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// parseDecodeCharset converts text to UTF-8. Undeclared or mislabelled 8-bit
// text is read as windows-1256 (see parseFallbackCharset); an unknown charset
// gives valid UTF-8 with replacement characters rather than an error, and
// ok=false.
func parseDecodeCharset(cs string, data []byte) (string, bool) {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		if utf8.Valid(data) {
			return string(data), true
		}
		cs = parseFallbackCharset
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

// parseMediaHeader parses a Content-Type or Content-Disposition value. Unlike
// mime.ParseMediaType it never fails (first duplicate wins, unquoted spaces
// are kept), decodes RFC 2231 values in any charset (windows-1256 file names)
// including continuations, and decodes RFC 2047 words in quoted values.
func parseMediaHeader(v string) (string, map[string]string) {
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
			if dec, err := parseWordDecoder().DecodeHeader(val); err == nil {
				val = dec
			}
		}
		params[k] = parseToUTF8Header(val, "")
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
		if val, ok := parse2231(name, rawParams); ok {
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

// parse2231 joins name*, or name*0, name*1* … and decodes the result in the
// charset named by the first segment.
func parse2231(name string, raw map[string]string) (string, bool) {
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
			buf = append(buf, parsePercentDecode(s)...)
		} else {
			buf = append(buf, s...)
		}
	}
	text, _ := parseDecodeCharset(cs, buf)
	return text, true
}

func parsePercentDecode(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && parseIsHex(s[i+1]) && parseIsHex(s[i+2]) {
			out = append(out, parseUnhex(s[i+1])<<4|parseUnhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// --- Summary for `wasl inspect email` ---

// Summary is what `wasl inspect email FILE` prints as JSON.
type Summary struct {
	MessageID     string              `json:"message_id"`
	ExternalID    string              `json:"external_id"`
	From          string              `json:"from"`
	FromName      string              `json:"from_name,omitempty"`
	To            []string            `json:"to"`
	Subject       string              `json:"subject"`
	Date          string              `json:"date,omitempty"` // RFC 3339, from the Date header
	Text          string              `json:"text"`
	HasHTML       bool                `json:"has_html"`
	Attachments   []SummaryAttachment `json:"attachments"`
	InReplyTo     string              `json:"in_reply_to"`
	References    []string            `json:"references"`
	AutoSubmitted bool                `json:"auto_submitted"`
	Flags         message.Flags       `json:"flags"`
	Quarantined   bool                `json:"quarantined"`
	Reason        string              `json:"reason"`
}

// SummaryAttachment describes one attachment without its content.
type SummaryAttachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// Summarize reduces a parsed message to what a person inspecting it needs.
// Lists are never nil so the JSON shows [] rather than null.
func Summarize(in message.Inbound) Summary {
	s := Summary{
		MessageID:     in.MessageID,
		ExternalID:    in.ExternalID,
		From:          in.From.Value,
		FromName:      in.From.Name,
		To:            append([]string{}, in.To...),
		Subject:       in.Subject,
		Text:          in.Text,
		HasHTML:       in.HTML != "",
		Attachments:   []SummaryAttachment{},
		InReplyTo:     in.InReplyTo,
		References:    append([]string{}, in.References...),
		AutoSubmitted: in.Flags.AutoSubmitted,
		Flags:         in.Flags,
		Quarantined:   in.Quarantined,
		Reason:        in.QuarantineReason,
	}
	if !in.SentAt.IsZero() {
		s.Date = in.SentAt.Format(time.RFC3339)
	}
	for _, a := range in.Attachments {
		s.Attachments = append(s.Attachments, SummaryAttachment{Filename: a.Filename, ContentType: a.ContentType, Size: a.Size})
	}
	return s
}

// --- HTML to text ---

// parseHTMLToText renders HTML as plain text for classification and for
// staff who cannot see HTML: scripts and styles dropped, block elements and
// <br> become line breaks, links keep their text, entities are decoded and
// blank lines collapse. It uses the tokenizer, not the tree builder, so it
// is linear in the input and cannot recurse on hostile nesting.
func parseHTMLToText(src string) string {
	z := html.NewTokenizer(strings.NewReader(src))
	var b strings.Builder
	skip, pre := 0, 0
	// lastSpace is true at the start of a line or after a space, so runs of
	// whitespace collapse to one space and lines do not start with one.
	lastSpace := true
	newline := func() {
		b.WriteByte('\n')
		lastSpace = true
	}
	blankLine := func() {
		s := b.String()
		switch {
		case s == "" || strings.HasSuffix(s, "\n\n"):
		case strings.HasSuffix(s, "\n"):
			newline()
		default:
			newline()
			newline()
		}
	}
	lineBreak := func() {
		if s := b.String(); s != "" && !strings.HasSuffix(s, "\n") {
			newline()
		}
	}
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			return parseTidyLines(b.String())
		case html.TextToken:
			if skip > 0 {
				continue
			}
			text := strings.ReplaceAll(string(z.Text()), "\u00a0", " ")
			if pre > 0 {
				b.WriteString(text)
				lastSpace = strings.HasSuffix(text, "\n")
				continue
			}
			for _, r := range text {
				if unicode.IsSpace(r) {
					if !lastSpace {
						b.WriteByte(' ')
						lastSpace = true
					}
					continue
				}
				b.WriteRune(r)
				lastSpace = false
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			tag := atom.Lookup(name)
			start := tt != html.EndTagToken
			switch tag {
			case atom.Script, atom.Style, atom.Title, atom.Template, atom.Noscript:
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			case atom.Br:
				newline()
			case atom.Pre:
				blankLine()
				if tt == html.StartTagToken {
					pre++
				} else if tt == html.EndTagToken && pre > 0 {
					pre--
				}
			case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
				atom.Blockquote, atom.Table, atom.Ul, atom.Ol, atom.Dl, atom.Hr:
				blankLine()
			case atom.Li:
				lineBreak()
				if start {
					b.WriteString("- ")
					lastSpace = true
				}
			case atom.Div, atom.Tr, atom.Dt, atom.Dd, atom.Section, atom.Article,
				atom.Header, atom.Footer, atom.Nav, atom.Address, atom.Form,
				atom.Fieldset, atom.Figure, atom.Main, atom.Center, atom.Aside, atom.Body:
				lineBreak()
			case atom.Td, atom.Th:
				if !lastSpace {
					b.WriteByte(' ')
					lastSpace = true
				}
			}
		}
	}
}

// parseTidyLines trims trailing spaces and leaves at most one blank line
// between paragraphs.
func parseTidyLines(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	blank := 0
	for _, l := range lines {
		l = strings.TrimRightFunc(l, unicode.IsSpace)
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}
