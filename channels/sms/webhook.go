package sms

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

// Ingester is the pipeline as this connector sees it.
type Ingester interface {
	Ingest(ctx context.Context, in message.Inbound) (message.Outcome, error)
}

// DeliveryUpdater records status callbacks.
type DeliveryUpdater interface {
	UpdateDeliveryByProvider(ctx context.Context, channelID int64, providerID string, state message.DeliveryState, errText string) (found bool, err error)
}

const (
	// maxFormBytes bounds a webhook body. Twilio's are a few KiB: a 1600
	// character body and up to ten media URLs.
	maxFormBytes = 256 << 10
	// maxMedia is Twilio's limit of media per message.
	maxMedia = 10
	// storeTimeout bounds the pipeline or store call behind a webhook.
	storeTimeout = 30 * time.Second
	// spoolAfter is how long the webhook waits for the store before it
	// spools the message instead: well within Twilio's 15 s.
	spoolAfter = 8 * time.Second

	emptyTwiML = `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`
)

// InboundHandler receives Twilio's incoming-message webhook (mount it at
// InboundURL's path) and answers 403 to any request whose signature does
// not check. It answers 200 with empty TwiML once sink has committed the
// message (or found it a duplicate) or, when sink fails, once the verified
// request is durably in the spool, from which RunSpool ingests it later.
// While the spool holds messages, new ones join it, so that they are
// ingested in the order they came. Only a failure to spool (or the lack of
// a SpoolDir) answers 503.
func (c *Channel) InboundHandler(sink Ingester) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, raw, ok := c.verify(w, r)
		if !ok {
			return
		}
		received := c.now().UTC()
		in, err := c.inbound(form, raw, received)
		if err != nil {
			// Without a MessageSid there is nothing to key the message by
			// (the pipeline dedupes on it), and without a sender nothing to
			// answer: nothing is kept, so the log line is the record.
			c.log.Warn("twilio webhook refused", "reason", err.Error(),
				"message_sid", form.Get("MessageSid"), "remote", r.RemoteAddr)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if c.Spooled() == 0 {
			// Commit even if Twilio hangs up meanwhile: a kept message
			// turns Twilio's retry into a no-op. Twilio gives up after 15 s,
			// so a slow store is left to the spool before that.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), c.ingestTimeout())
			out, err := sink.Ingest(ctx, in)
			cancel()
			if err == nil {
				c.log.Info("twilio inbound message stored", "message_sid", in.ExternalID,
					"duplicate", out.Duplicate, "message_id", out.MessageID,
					"attachments", len(in.Attachments), "quarantined", in.Quarantined)
				writeTwiML(w)
				return
			}
			if c.spool == nil {
				c.log.Error("twilio inbound message not stored and no spool; answering 503",
					"message_sid", in.ExternalID, "err", err)
				http.Error(w, "message not stored, retry later", http.StatusServiceUnavailable)
				return
			}
			c.log.Warn("twilio inbound message not stored; spooling it", "message_sid", in.ExternalID, "err", err)
		}
		c.spoolAndAnswer(w, in.ExternalID, raw, received)
	})
}

// SpoolHandler answers an inbound webhook the gateway has no capacity to
// ingest now (every webhook slot busy): verified as InboundHandler does, it
// goes straight to the spool and is answered 200, for RunSpool to ingest —
// a 503 would lose it, as Twilio does not retry one by default. Without a
// SpoolDir it answers 503 with Retry-After.
func (c *Channel) SpoolHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, raw, ok := c.verify(w, r)
		if !ok {
			return
		}
		received := c.now().UTC()
		in, err := c.inbound(form, raw, received)
		if err != nil {
			c.log.Warn("twilio webhook refused", "reason", err.Error(),
				"message_sid", form.Get("MessageSid"), "remote", r.RemoteAddr)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if c.spool == nil {
			c.log.Error("twilio inbound message not taken: gateway busy and no spool; answering 503", "message_sid", in.ExternalID)
			w.Header().Set("Retry-After", "5")
			http.Error(w, "busy, retry later", http.StatusServiceUnavailable)
			return
		}
		c.log.Warn("twilio inbound message spooled: gateway busy", "message_sid", in.ExternalID)
		c.spoolAndAnswer(w, in.ExternalID, raw, received)
	})
}

// spoolAndAnswer writes a verified webhook to the spool and answers 200, or
// 503 when even the spool cannot take it.
func (c *Channel) spoolAndAnswer(w http.ResponseWriter, sid string, raw []byte, received time.Time) {
	name, err := c.spool.put(spoolEntry{
		spoolHeader: spoolHeader{Channel: c.cfg.Name, ChannelID: c.cfg.ChannelID, MessageSID: sid, ReceivedAt: received},
		form:        raw,
	})
	if err != nil {
		c.log.Error("twilio inbound message neither stored nor spooled; answering 503",
			"message_sid", sid, "err", err)
		http.Error(w, "message not stored, retry later", http.StatusServiceUnavailable)
		return
	}
	c.log.Info("twilio inbound message spooled", "message_sid", sid, "file", name, "spooled", c.Spooled())
	writeTwiML(w)
}

func writeTwiML(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, emptyTwiML)
}

// ingestTimeout bounds the webhook's own ingest: with a spool, short of
// Twilio's 15 s; without one, the store gets its full time.
func (c *Channel) ingestTimeout() time.Duration {
	if c.spool == nil {
		return storeTimeout
	}
	return spoolAfter
}

// StatusHandler receives Twilio's status callbacks for messages this channel
// sent (mount it at StatusCallbackURL's path) and records them with upd.
func (c *Channel) StatusHandler(upd DeliveryUpdater) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, _, ok := c.verify(w, r)
		if !ok {
			return
		}
		sid := firstOf(form, "MessageSid", "SmsSid")
		status := firstOf(form, "MessageStatus", "SmsStatus")
		if sid == "" || status == "" {
			c.log.Warn("twilio status callback refused: MessageSid or MessageStatus missing",
				"message_sid", sid, "status", status, "remote", r.RemoteAddr)
			http.Error(w, "MessageSid and MessageStatus are required", http.StatusBadRequest)
			return
		}
		state, known := deliveryState(status)
		if !known {
			// Answering an error would only fill Twilio's debugger; there is
			// nothing to record for a status Wasl has no state for.
			c.log.Warn("twilio status callback ignored: unknown status", "message_sid", sid, "status", status)
			w.WriteHeader(http.StatusOK)
			return
		}
		errText := describeError(form.Get("ErrorCode"), form.Get("ErrorMessage"))
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), storeTimeout)
		defer cancel()
		found, err := upd.UpdateDeliveryByProvider(ctx, c.cfg.ChannelID, sid, state, errText)
		if err != nil {
			c.log.Error("twilio status not recorded", "message_sid", sid, "status", status, "err", err)
			http.Error(w, "status not recorded, retry later", http.StatusServiceUnavailable)
			return
		}
		if !found {
			c.log.Warn("twilio status for a message Wasl does not know", "message_sid", sid, "status", status)
		} else {
			c.log.Debug("twilio status recorded", "message_sid", sid, "state", string(state), "error", errText)
		}
		w.WriteHeader(http.StatusOK)
	})
}

// verify reads the form and checks Twilio's signature. On failure it has
// answered the request and logged why.
func (c *Channel) verify(w http.ResponseWriter, r *http.Request) (form url.Values, raw []byte, ok bool) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed: Twilio webhooks are POST", http.StatusMethodNotAllowed)
		return nil, nil, false
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxFormBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			c.log.Warn("twilio webhook refused: body too large", "limit", maxFormBytes, "remote", r.RemoteAddr)
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return nil, nil, false
		}
		c.log.Warn("twilio webhook: reading body", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "cannot read request body", http.StatusBadRequest)
		return nil, nil, false
	}
	form, err = url.ParseQuery(string(raw))
	if err != nil {
		c.log.Warn("twilio webhook refused: malformed form", "err", err, "remote", r.RemoteAddr)
		http.Error(w, "malformed form body", http.StatusBadRequest)
		return nil, nil, false
	}

	reject := func(reason string, attrs ...any) {
		c.log.Warn("twilio webhook refused: "+reason, append(attrs, "remote", r.RemoteAddr)...)
		http.Error(w, "forbidden: invalid Twilio signature", http.StatusForbidden)
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" {
		reject("no X-Twilio-Signature header")
		return nil, nil, false
	}
	params := make(map[string]string, len(form))
	for k, v := range form {
		if len(v) > 1 {
			// twilio-go's validator signs the first value of each field
			// only, so extra values could be added unnoticed. Twilio never
			// repeats a field in these webhooks.
			reject("repeated form field cannot be verified", "field", k)
			return nil, nil, false
		}
		params[k] = v[0]
	}
	signedURL := c.signedURL(r)
	if !c.validator.Validate(signedURL, params, sig) {
		reject("signature does not match", "url", signedURL)
		return nil, nil, false
	}
	if sid := form.Get("AccountSid"); sid != "" && sid != c.cfg.AccountSID {
		reject("signed for another account", "account_sid", sid)
		return nil, nil, false
	}
	return form, raw, true
}

// signedURL rebuilds the URL Twilio called, which is what it signed.
func (c *Channel) signedURL(r *http.Request) string {
	scheme, host := c.public.Scheme, c.public.Host
	if c.cfg.TrustForwardedHeaders {
		if p := strings.ToLower(firstListValue(r.Header.Get("X-Forwarded-Proto"))); p == "http" || p == "https" {
			scheme = p
		}
		if h := firstListValue(r.Header.Get("X-Forwarded-Host")); validHost(h) {
			host = h
		}
	}
	// RequestURI is the request target exactly as received (escaping
	// intact, untouched by http.StripPrefix); handlers called directly in
	// tests may leave it empty.
	uri := r.RequestURI
	if !strings.HasPrefix(uri, "/") {
		uri = r.URL.RequestURI()
	}
	return scheme + "://" + host + c.public.EscapedPath() + uri
}

// firstListValue returns the first element of a comma-separated header,
// which proxies append to: the leftmost is what the client used.
func firstListValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

func validHost(h string) bool {
	if h == "" {
		return false
	}
	u, err := url.Parse("//" + h)
	return err == nil && u.Host == h && u.Path == "" && u.User == nil
}

var sidPattern = regexp.MustCompile(`^[A-Za-z0-9]{1,64}$`)

// inbound turns a verified webhook form, received at receivedAt, into a
// message. It fails only when
// the message cannot be keyed (no MessageSid) or has no sender; every other
// problem quarantines the message, which keeps it with raw for a person to
// look at.
func (c *Channel) inbound(form url.Values, raw []byte, receivedAt time.Time) (message.Inbound, error) {
	sid := firstOf(form, "MessageSid", "SmsMessageSid")
	if sid == "" {
		return message.Inbound{}, errors.New("MessageSid is missing")
	}
	if !sidPattern.MatchString(sid) {
		return message.Inbound{}, fmt.Errorf("MessageSid %.80q is not a Twilio sid", sid)
	}
	from := strings.TrimSpace(form.Get("From"))
	if from == "" {
		return message.Inbound{}, errors.New("From is missing")
	}

	var problems []string
	problem := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	text := func(field string) string {
		s, ok := cleanText(form.Get(field))
		if !ok {
			problem("%s was not valid UTF-8 or held NUL bytes; they were replaced", field)
		}
		return s
	}

	in := message.Inbound{
		ChannelID:  c.cfg.ChannelID,
		Channel:    c.kind,
		ExternalID: sid,
		Text:       text("Body"),
		ReceivedAt: receivedAt,
		Raw:        raw,
	}
	phone, err := message.NormalizePhone(from, c.cfg.DefaultRegion)
	if err != nil {
		// Short codes and alphanumeric senders ("STC") cannot be answered
		// like a customer; keep the message for a person.
		problem("sender is not a phone number: %v", err)
		phone = strings.TrimSpace(strings.TrimPrefix(text("From"), whatsappPrefix))
		if phone == "" {
			return message.Inbound{}, fmt.Errorf("From %.40q names no sender", from)
		}
	}
	in.From = message.Party{Kind: message.IdentityPhone, Value: phone, Name: strings.TrimSpace(text("ProfileName"))}
	if to := text("To"); to != "" {
		if p, err := message.NormalizePhone(to, c.cfg.DefaultRegion); err == nil {
			to = p
		}
		in.To = []string{strings.TrimPrefix(to, whatsappPrefix)}
	}

	n := 0
	if s := form.Get("NumMedia"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 0 || n > maxMedia {
			problem("NumMedia %.20q is not a number from 0 to %d", s, maxMedia)
			// Keep whatever media fields are there.
			n = 0
			for n < maxMedia && form.Has("MediaUrl"+strconv.Itoa(n)) {
				n++
			}
		}
	}
	for i := range n {
		idx := strconv.Itoa(i)
		u := text("MediaUrl" + idx)
		if u == "" {
			problem("MediaUrl%d is missing (NumMedia is %d)", i, n)
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Scheme != "https" || pu.Host == "" {
			problem("MediaUrl%d %.200q is not an https URL", i, u)
		}
		ct := mediaType(text("MediaContentType" + idx))
		in.Attachments = append(in.Attachments, message.Attachment{
			URL:         u,
			ContentType: ct,
			Filename:    mediaFilename(u, ct, i),
		})
	}

	if len(problems) > 0 {
		in.Quarantined = true
		in.QuarantineReason = strings.Join(problems, "; ")
	}
	return in, nil
}

func firstOf(form url.Values, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(form.Get(k)); v != "" {
			return v
		}
	}
	return ""
}

// cleanText makes s storable (PostgreSQL refuses invalid UTF-8 and NUL) and
// reports whether it had to change anything.
func cleanText(s string) (string, bool) {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s, true
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", ""), false
}

// mediaType returns ct normalized, or application/octet-stream when it is
// not a media type.
func mediaType(ct string) string {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "application/octet-stream"
	}
	return mime.FormatMediaType(mt, params)
}

// extensions for the types Twilio and WhatsApp deliver; the mime package's
// table lists several per type in an unhelpful order (.jfif for JPEG).
var extensions = map[string]string{
	"image/jpeg":         ".jpg",
	"image/png":          ".png",
	"image/gif":          ".gif",
	"image/webp":         ".webp",
	"image/heic":         ".heic",
	"audio/ogg":          ".ogg",
	"audio/mpeg":         ".mp3",
	"audio/mp4":          ".m4a",
	"audio/amr":          ".amr",
	"audio/aac":          ".aac",
	"video/mp4":          ".mp4",
	"video/3gpp":         ".3gp",
	"application/pdf":    ".pdf",
	"text/plain":         ".txt",
	"text/vcard":         ".vcf",
	"text/x-vcard":       ".vcf",
	"text/csv":           ".csv",
	"application/msword": ".doc",
	"application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
	"application/vnd.ms-excel": ".xls",
	"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":         ".xlsx",
	"application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
}

var safeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// mediaFilename names an attachment Twilio delivers without a name: the
// media sid (the URL's last segment) and an extension for its type.
func mediaFilename(mediaURL, ct string, i int) string {
	base := ""
	if u, err := url.Parse(mediaURL); err == nil {
		base = safeName.ReplaceAllString(path.Base(u.Path), "")
	}
	if base == "" || base == "." || len(base) > 64 {
		base = "media" + strconv.Itoa(i)
	}
	mt, _, _ := mime.ParseMediaType(ct)
	ext, ok := extensions[mt]
	if !ok {
		if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
			ext = exts[0]
		} else {
			ext = ".bin"
		}
	}
	return base + ext
}

// deliveryState maps Twilio's message statuses onto Wasl's.
func deliveryState(status string) (message.DeliveryState, bool) {
	switch strings.ToLower(status) {
	case "accepted", "scheduled", "queued":
		return message.StateQueued, true
	case "sending":
		return message.StateSending, true
	case "sent":
		return message.StateSent, true
	case "delivered", "read": // WhatsApp's "read" comes after delivery
		return message.StateDelivered, true
	case "undelivered":
		return message.StateUndelivered, true
	case "failed", "canceled":
		return message.StateFailed, true
	}
	return "", false
}

// errorTexts describes the error codes Twilio most often reports in status
// callbacks, so that staff see more than a number.
var errorTexts = map[string]string{
	"21610": "recipient has unsubscribed (replied STOP)",
	"21614": "recipient is not a mobile number",
	"30003": "unreachable destination handset",
	"30004": "message blocked by the recipient or carrier",
	"30005": "unknown destination handset",
	"30006": "landline or unreachable carrier",
	"30007": "filtered by the carrier as spam",
	"30008": "unknown error from the carrier",
	"63016": "outside WhatsApp's 24-hour customer service window",
}

func describeError(code, msg string) string {
	code, msg = strings.TrimSpace(code), strings.TrimSpace(msg)
	if code == "" && msg == "" {
		return ""
	}
	if msg == "" {
		msg = errorTexts[code]
	}
	var b strings.Builder
	b.WriteString("twilio error")
	if code != "" {
		b.WriteString(" " + code)
	}
	if msg != "" {
		b.WriteString(": " + msg)
	}
	if _, err := strconv.Atoi(code); err == nil {
		b.WriteString(" (https://www.twilio.com/docs/errors/" + code + ")")
	}
	s, _ := cleanText(b.String())
	return s
}

// Sign returns the X-Twilio-Signature Twilio sends when it posts form to
// fullURL: base64(HMAC-SHA1(authToken, fullURL followed by every parameter
// name and value, sorted by name, then by value)).
func Sign(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		vals := slices.Clone(form[k])
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
