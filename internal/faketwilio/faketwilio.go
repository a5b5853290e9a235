// Package faketwilio is an in-process stand-in for Twilio's REST API, for
// tests and the demo. It speaks Twilio's wire format: the 2010-04-01 paths,
// form-encoded bodies with basic auth, JSON replies and JSON error bodies. It
// also builds the signed webhooks (inbound messages, status callbacks) Twilio
// would post to Wasl.
//
// Client returns an *http.Client whose transport sends requests for
// api.twilio.com and mms.twiliocdn.com to the fake, so code under test keeps
// using the real URLs; any other host is refused, so a test can never reach
// the real Twilio.
package faketwilio

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Hosts the fake answers for (through Client's transport).
const (
	APIHost   = "api.twilio.com"
	MediaHost = "mms.twiliocdn.com" // where media URLs redirect, like Twilio's CDN
)

// TB is the part of testing.TB that Start needs; an interface keeps the
// testing package out of the demo binary.
type TB interface {
	Helper()
	Cleanup(func())
}

// SentMessage is one message the fake accepted (HTTP 201).
type SentMessage struct {
	SID                 string
	AccountSID          string
	To                  string
	From                string
	MessagingServiceSID string
	Body                string
	StatusCallback      string
	Status              string // as answered: "queued", or "accepted" with a Messaging Service
	Form                url.Values
}

// Request is one request the fake received, whatever it answered.
type Request struct {
	Method string
	Host   string // as the client addressed it (api.twilio.com, mms.twiliocdn.com)
	Path   string
	// HasAuth is true when the request carried an Authorization header;
	// Authorized when it was the account's basic-auth credentials.
	HasAuth    bool
	Authorized bool
	Form       url.Values
	Status     int       // 0 when the connection was dropped on purpose
	At         time.Time // when the fake answered it (or dropped it)
}

type failure struct {
	status, code int
	msg          string
}

type mediaItem struct {
	contentType string
	data        []byte
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	accountSID string
	authToken  string
	srv        *httptest.Server

	mu       sync.Mutex
	seq      int
	sent     []SentMessage
	requests []Request
	fails    []failure
	media    map[string]mediaItem // by ME sid
	cdn      map[string]string    // CDN path key → ME sid
}

// Start starts a fake for the account and closes it when the test ends.
func Start(t TB, accountSID, authToken string) *Server {
	t.Helper()
	s := New(accountSID, authToken)
	t.Cleanup(s.Close)
	return s
}

// New starts a fake for the account on a loopback port. Close it when done.
func New(accountSID, authToken string) *Server {
	s := &Server{
		accountSID: accountSID,
		authToken:  authToken,
		media:      make(map[string]mediaItem),
		cdn:        make(map[string]string),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /2010-04-01/Accounts/{file}", s.getAccount)
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.createMessage)
	mux.HandleFunc("GET /2010-04-01/Accounts/{sid}/Messages/{msid}/Media/{mesid}", s.getMedia)
	mux.HandleFunc("GET "+MediaHost+"/{key...}", s.getCDN)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.record(r, nil, http.StatusNotFound, false)
		writeError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// Close shuts the fake down.
func (s *Server) Close() { s.srv.Close() }

// URL is the fake's own base URL (http://127.0.0.1:port).
func (s *Server) URL() string { return s.srv.URL }

// AccountSID is the account the fake serves.
func (s *Server) AccountSID() string { return s.accountSID }

// Client returns an HTTP client whose transport rewrites requests for
// api.twilio.com and mms.twiliocdn.com (any scheme) to the fake, keeping the
// Host header, and refuses every other host.
func (s *Server) Client() *http.Client {
	target, _ := url.Parse(s.srv.URL)
	return &http.Client{Transport: &rewriter{target: target, base: s.srv.Client().Transport}}
}

type rewriter struct {
	target *url.URL
	base   http.RoundTripper
}

func (rw *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	host := req.URL.Hostname()
	if host != APIHost && host != MediaHost {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("faketwilio: refusing to contact %q: only %s and %s are faked", req.URL.Host, APIHost, MediaHost)
	}
	out := req.Clone(req.Context())
	out.URL.Scheme = rw.target.Scheme
	out.URL.Host = rw.target.Host
	out.Host = host
	resp, err := rw.base.RoundTrip(out)
	if resp != nil {
		resp.Request = req // callers see the URL they asked for
	}
	return resp, err
}

// Sent returns the messages accepted so far, oldest first.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent)
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// FailNext makes the next n message-creation requests (after authentication)
// fail with the HTTP status and Twilio error code given. Status 0 drops the
// connection without an answer, like a network failure.
func (s *Server) FailNext(n, status, code int, msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.fails = append(s.fails, failure{status: status, code: code, msg: msg})
	}
}

// AddMedia registers media content and returns its Twilio URL
// (https://api.twilio.com/2010-04-01/Accounts/{AC}/Messages/{MM}/Media/{ME}).
// Fetching it with the account's credentials redirects to mms.twiliocdn.com,
// which serves the bytes without credentials, as Twilio does.
func (s *Server) AddMedia(contentType string, data []byte) string {
	s.mu.Lock()
	msid := s.newSIDLocked("MM")
	s.mu.Unlock()
	return s.addMedia(msid, contentType, data)
}

func (s *Server) addMedia(messageSID, contentType string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	mesid := s.newSIDLocked("ME")
	s.media[mesid] = mediaItem{contentType: contentType, data: slices.Clone(data)}
	s.cdn[s.accountSID+"/"+mesid] = mesid
	return fmt.Sprintf("https://%s/2010-04-01/Accounts/%s/Messages/%s/Media/%s", APIHost, s.accountSID, messageSID, mesid)
}

// newSIDLocked returns a Twilio-shaped sid: two letters and 32 hex digits.
func (s *Server) newSIDLocked(prefix string) string {
	s.seq++
	return fmt.Sprintf("%s%032x", prefix, s.seq)
}

// record notes a request. form may be nil.
func (s *Server) record(r *http.Request, form url.Values, status int, authorized bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{
		Method:     r.Method,
		Host:       r.Host,
		Path:       r.URL.Path,
		HasAuth:    r.Header.Get("Authorization") != "",
		Authorized: authorized,
		Form:       form,
		Status:     status,
		At:         time.Now(),
	})
}

func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	return ok &&
		subtle.ConstantTimeCompare([]byte(user), []byte(s.accountSID)) == 1 &&
		subtle.ConstantTimeCompare([]byte(pass), []byte(s.authToken)) == 1
}

// getAccount answers GET /2010-04-01/Accounts/{sid}.json as Twilio does:
// the account, auth token included, for its own credentials; 401 without
// them; 404 for another account.
func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	if !ok {
		s.record(r, nil, http.StatusNotFound, false)
		writeError(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	if !s.authorized(r) {
		s.record(r, nil, http.StatusUnauthorized, false)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if sid != s.accountSID {
		s.record(r, nil, http.StatusNotFound, true)
		writeError(w, http.StatusNotFound, 20404, fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	s.record(r, nil, http.StatusOK, true)
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s.json", s.accountSID)
	writeJSON(w, http.StatusOK, map[string]any{
		"auth_token":        s.authToken,
		"date_created":      "Mon, 01 Sep 2025 08:00:00 +0000",
		"date_updated":      "Mon, 01 Sep 2025 08:00:00 +0000",
		"friendly_name":     "Wasl test account",
		"owner_account_sid": s.accountSID,
		"sid":               s.accountSID,
		"status":            "active",
		"subresource_uris":  map[string]string{"messages": strings.TrimSuffix(uri, ".json") + "/Messages.json"},
		"type":              "Full",
		"uri":               uri,
	})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func (s *Server) createMessage(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.record(r, nil, http.StatusBadRequest, false)
		writeError(w, http.StatusBadRequest, 20001, "Unable to parse request: "+err.Error())
		return
	}
	form := r.PostForm
	if !s.authorized(r) {
		s.record(r, form, http.StatusUnauthorized, false)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	if r.PathValue("sid") != s.accountSID {
		s.record(r, form, http.StatusNotFound, true)
		writeError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}

	s.mu.Lock()
	var fail *failure
	if len(s.fails) > 0 {
		f := s.fails[0]
		s.fails = s.fails[1:]
		fail = &f
	}
	s.mu.Unlock()
	if fail != nil {
		if fail.status == 0 {
			s.record(r, form, 0, true)
			dropConnection(w)
			return
		}
		s.record(r, form, fail.status, true)
		writeError(w, fail.status, fail.code, fail.msg)
		return
	}

	if status, code, msg := validateMessage(form); status != 0 {
		s.record(r, form, status, true)
		writeError(w, status, code, msg)
		return
	}

	s.mu.Lock()
	sid := s.newSIDLocked("SM")
	status := "queued"
	if form.Get("MessagingServiceSid") != "" && form.Get("From") == "" {
		status = "accepted"
	}
	msg := SentMessage{
		SID:                 sid,
		AccountSID:          s.accountSID,
		To:                  form.Get("To"),
		From:                form.Get("From"),
		MessagingServiceSID: form.Get("MessagingServiceSid"),
		Body:                form.Get("Body"),
		StatusCallback:      form.Get("StatusCallback"),
		Status:              status,
		Form:                form,
	}
	s.sent = append(s.sent, msg)
	s.mu.Unlock()
	s.record(r, form, http.StatusCreated, true)

	now := time.Now().UTC().Format(time.RFC1123Z)
	uri := fmt.Sprintf("/2010-04-01/Accounts/%s/Messages/%s", s.accountSID, sid)
	segments := "0" // Twilio reports 0 until a Messaging Service picks a sender
	if msg.From != "" {
		segments = strconv.Itoa(approxSegments(msg.Body))
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"account_sid":           s.accountSID,
		"api_version":           "2010-04-01",
		"body":                  msg.Body,
		"date_created":          now,
		"date_sent":             nil,
		"date_updated":          now,
		"direction":             "outbound-api",
		"error_code":            nil,
		"error_message":         nil,
		"from":                  nullable(msg.From),
		"messaging_service_sid": nullable(msg.MessagingServiceSID),
		"num_media":             "0",
		"num_segments":          segments,
		"price":                 nil,
		"price_unit":            "USD",
		"sid":                   sid,
		"status":                status,
		"subresource_uris":      map[string]string{"media": uri + "/Media.json"},
		"to":                    msg.To,
		"uri":                   uri + ".json",
	})
}

// validateMessage applies the checks Twilio makes synchronously, with its
// error codes. A zero status means the message is accepted.
func validateMessage(form url.Values) (status, code int, msg string) {
	to, from, svc, body := form.Get("To"), form.Get("From"), form.Get("MessagingServiceSid"), form.Get("Body")
	switch {
	case to == "":
		return 400, 21604, "A 'To' phone number is required."
	case from == "" && svc == "":
		return 400, 21603, "A 'From' phone number is required."
	case body == "" && len(form["MediaUrl"]) == 0 && form.Get("ContentSid") == "":
		return 400, 21602, "Message body is required."
	case !e164.MatchString(strings.TrimPrefix(to, "whatsapp:")):
		return 400, 21211, fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)
	case from != "" && strings.HasPrefix(to, "whatsapp:") != strings.HasPrefix(from, "whatsapp:"):
		return 400, 21910, "Invalid 'To' and 'From' pair. 'From' and 'To' should be of the same channel."
	case len([]rune(body)) > 1600:
		return 400, 21617, "The concatenated message body exceeds the 1600 character limit."
	}
	return 0, 0, ""
}

// approxSegments estimates num_segments: ASCII as GSM-7, anything else as
// UCS-2. The exact count lives in channels/sms; the fake only needs a
// plausible number.
func approxSegments(body string) int {
	n, single, multi := 0, 160, 153
	ascii := true
	for _, r := range body {
		if r >= 0x80 {
			ascii = false
		}
	}
	if ascii {
		n = len(body)
	} else {
		n = len(utf16.Encode([]rune(body)))
		single, multi = 70, 67
	}
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

func (s *Server) getMedia(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(r) {
		s.record(r, nil, http.StatusUnauthorized, false)
		writeError(w, http.StatusUnauthorized, 20003, "Authenticate")
		return
	}
	mesid := r.PathValue("mesid")
	s.mu.Lock()
	_, ok := s.media[mesid]
	s.mu.Unlock()
	if !ok || r.PathValue("sid") != s.accountSID {
		s.record(r, nil, http.StatusNotFound, true)
		writeError(w, http.StatusNotFound, 20404,
			fmt.Sprintf("The requested resource %s was not found", r.URL.Path))
		return
	}
	s.record(r, nil, http.StatusFound, true)
	// Twilio answers with a redirect to a short-lived CDN URL.
	http.Redirect(w, r, "https://"+MediaHost+"/"+s.accountSID+"/"+mesid, http.StatusFound)
}

func (s *Server) getCDN(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	item, ok := s.media[s.cdn[r.PathValue("key")]]
	s.mu.Unlock()
	if !ok {
		s.record(r, nil, http.StatusNotFound, false)
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	s.record(r, nil, http.StatusOK, false)
	w.Header().Set("Content-Type", item.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(item.data)))
	w.WriteHeader(http.StatusOK)
	w.Write(item.data)
}

// Inbound is a message a customer sends to one of the account's numbers.
type Inbound struct {
	MessageSID  string // generated when empty
	From        string // "+9665…" or "whatsapp:+9665…"
	To          string // the channel's number, same form
	Body        string
	ProfileName string // WhatsApp display name
	Media       []Media
}

// Media is one file attached to an Inbound message.
type Media struct {
	ContentType string
	Data        []byte
}

// InboundForm returns the form Twilio posts to a messaging webhook for m,
// registering its media so that the MediaUrl fields can be fetched.
func (s *Server) InboundForm(m Inbound) url.Values {
	sid := m.MessageSID
	if sid == "" {
		prefix := "SM"
		if len(m.Media) > 0 {
			prefix = "MM"
		}
		s.mu.Lock()
		sid = s.newSIDLocked(prefix)
		s.mu.Unlock()
	}
	f := url.Values{}
	f.Set("ToCountry", "")
	f.Set("ToState", "")
	f.Set("SmsMessageSid", sid)
	f.Set("NumMedia", strconv.Itoa(len(m.Media)))
	f.Set("ToCity", "")
	f.Set("FromZip", "")
	f.Set("SmsSid", sid)
	f.Set("FromState", "")
	f.Set("SmsStatus", "received")
	f.Set("FromCity", "")
	f.Set("Body", m.Body)
	f.Set("FromCountry", "")
	f.Set("To", m.To)
	f.Set("ToZip", "")
	f.Set("NumSegments", "1")
	f.Set("MessageSid", sid)
	f.Set("AccountSid", s.accountSID)
	f.Set("From", m.From)
	f.Set("ApiVersion", "2010-04-01")
	if strings.HasPrefix(m.From, "whatsapp:") {
		f.Set("WaId", strings.TrimPrefix(m.From, "whatsapp:+"))
		f.Set("ProfileName", m.ProfileName)
		f.Set("ReferralNumMedia", "0")
		msgType := "text"
		if len(m.Media) > 0 {
			msgType, _, _ = strings.Cut(m.Media[0].ContentType, "/")
		}
		f.Set("MessageType", msgType)
	}
	for i, md := range m.Media {
		f.Set("MediaContentType"+strconv.Itoa(i), md.ContentType)
		f.Set("MediaUrl"+strconv.Itoa(i), s.addMedia(sid, md.ContentType, md.Data))
	}
	return f
}

// StatusForm returns the status callback Twilio would post for a sent
// message: the URL (the StatusCallback given at creation) and the form.
// errorCode 0 means none.
func (s *Server) StatusForm(sid, status string, errorCode int) (callbackURL string, form url.Values, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.sent {
		if m.SID != sid {
			continue
		}
		if m.StatusCallback == "" {
			return "", nil, fmt.Errorf("faketwilio: message %s was sent without a StatusCallback", sid)
		}
		f := url.Values{}
		if errorCode != 0 {
			f.Set("ErrorCode", strconv.Itoa(errorCode))
		}
		f.Set("SmsSid", sid)
		f.Set("SmsStatus", status)
		f.Set("MessageStatus", status)
		f.Set("To", m.To)
		f.Set("MessageSid", sid)
		f.Set("AccountSid", s.accountSID)
		from := m.From
		if from == "" {
			from = "+15005550006" // the sender a Messaging Service picked
		}
		f.Set("From", from)
		if m.MessagingServiceSID != "" {
			f.Set("MessagingServiceSid", m.MessagingServiceSID)
		}
		if strings.HasPrefix(m.To, "whatsapp:") {
			f.Set("ChannelPrefix", "whatsapp")
		}
		f.Set("ApiVersion", "2010-04-01")
		return m.StatusCallback, f, nil
	}
	return "", nil, fmt.Errorf("faketwilio: no sent message %s", sid)
}

// WebhookRequest returns a POST of form to webhookURL carrying the
// X-Twilio-Signature Twilio computes with the account's auth token.
func (s *Server) WebhookRequest(webhookURL string, form url.Values) (*http.Request, error) {
	req, err := http.NewRequest(http.MethodPost, webhookURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("faketwilio: webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", Signature(s.authToken, webhookURL, form))
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	return req, nil
}

// Signature is Twilio's webhook signature: base64(HMAC-SHA1(authToken, URL
// followed by each parameter name and value, sorted by name, then value)).
// It repeats sms.Sign on purpose: the stand-in must not trust the code it
// tests, and importing channels/sms here would make an import cycle with
// sms's own tests.
func Signature(authToken, fullURL string, form url.Values) string {
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

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// writeError answers with Twilio's JSON error body.
func writeError(w http.ResponseWriter, status, code int, msg string) {
	writeJSON(w, status, map[string]any{
		"code":      code,
		"message":   msg,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", code),
		"status":    status,
	})
}

// dropConnection closes the connection without answering.
func dropConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// The server's own way to abort a response without logging it.
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}
