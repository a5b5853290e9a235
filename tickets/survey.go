package tickets

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"
)

// Survey link subjects: what a signed link is for.
const (
	SurveyTicket  = 't' // a closed ticket
	SurveyMessage = 'm' // a message answered only automatically
)

// Why a survey link is refused. The page says each kindly; none records
// anything.
var (
	ErrSurveyTampered = errors.New("survey link is not one of ours (tampered or cut)")
	ErrSurveyExpired  = errors.New("survey link has expired")
)

// SurveyLink is what a link carries, all of it signed.
type SurveyLink struct {
	Kind    byte  // SurveyTicket or SurveyMessage
	ID      int64 // the ticket's or message's id
	Expires time.Time
}

// SurveySigner signs and checks survey links: HMAC-SHA256 over the
// subject (ticket or message id) and the expiry, with a key derived from
// the gateway's secret, so a link works without sign-in and cannot be
// made for another ticket or kept past its time. Single use is the
// store's (a response per link).
type SurveySigner struct {
	key []byte
}

// macSize is the part of the HMAC a link carries: 128 bits, plenty
// against forgery, short enough for an SMS.
const macSize = 16

// NewSurveySigner derives the links' key from secret (32 random bytes or
// more; the gateway's secret key).
func NewSurveySigner(secret []byte) (*SurveySigner, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("survey signer: secret of %d bytes is too short", len(secret))
	}
	key, err := hkdf.Key(sha256.New, secret, nil, "wasl survey links v1", 32)
	if err != nil {
		return nil, fmt.Errorf("survey signer: %w", err)
	}
	return &SurveySigner{key: key}, nil
}

// Sign makes the token of a link: base64url of kind, id, expiry and MAC.
func (s *SurveySigner) Sign(l SurveyLink) string {
	payload := []byte{l.Kind}
	payload = binary.AppendUvarint(payload, uint64(l.ID))
	payload = binary.AppendUvarint(payload, uint64(l.Expires.Unix()))
	return base64.RawURLEncoding.EncodeToString(append(payload, s.mac(payload)...))
}

func (s *SurveySigner) mac(payload []byte) []byte {
	h := hmac.New(sha256.New, s.key)
	h.Write(payload)
	return h.Sum(nil)[:macSize]
}

// Verify reads a token back: ErrSurveyTampered when it was not signed
// with our key (or was altered), ErrSurveyExpired when its time has
// passed at now.
func (s *SurveySigner) Verify(token string, now time.Time) (SurveyLink, error) {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 1+2+macSize || len(raw) > 64 {
		return SurveyLink{}, ErrSurveyTampered
	}
	payload, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	if !hmac.Equal(mac, s.mac(payload)) {
		return SurveyLink{}, ErrSurveyTampered
	}
	l := SurveyLink{Kind: payload[0]}
	id, n := binary.Uvarint(payload[1:])
	if n <= 0 {
		return SurveyLink{}, ErrSurveyTampered
	}
	exp, m := binary.Uvarint(payload[1+n:])
	if m <= 0 || 1+n+m != len(payload) || (l.Kind != SurveyTicket && l.Kind != SurveyMessage) {
		return SurveyLink{}, ErrSurveyTampered
	}
	l.ID, l.Expires = int64(id), time.Unix(int64(exp), 0).UTC()
	if !now.Before(l.Expires) {
		return l, ErrSurveyExpired
	}
	return l, nil
}

// SurveyLinks makes the public survey URLs of closing messages and
// automatic answers: BaseURL/survey/TOKEN, valid for ValidFor.
type SurveyLinks struct {
	Signer   *SurveySigner
	BaseURL  string // the gateway's public URL
	ValidFor time.Duration
}

func (l SurveyLinks) url(kind byte, id int64, now time.Time) string {
	valid := l.ValidFor
	if valid <= 0 {
		valid = 14 * 24 * time.Hour
	}
	tok := l.Signer.Sign(SurveyLink{Kind: kind, ID: id, Expires: now.Add(valid).Truncate(time.Second)})
	return strings.TrimSuffix(l.BaseURL, "/") + "/survey/" + tok
}

// TicketSurveyURL is the link of a closed ticket's survey.
func (l SurveyLinks) TicketSurveyURL(ticketID int64, now time.Time) string {
	return l.url(SurveyTicket, ticketID, now)
}

// MessageSurveyURL is the link of the survey about an automatic answer
// to a message.
func (l SurveyLinks) MessageSurveyURL(messageID int64, now time.Time) string {
	return l.url(SurveyMessage, messageID, now)
}

// surveyInvite is the line that offers the survey in an automatic answer.
func surveyInvite(lang string) string {
	if lang == "en" {
		return "Did this answer help? Rate it:"
	}
	return "هل أفادتك هذه الإجابة؟ قيّمها:"
}

// SurveyInvite is the text line offering the survey at url.
func SurveyInvite(lang, url string) string { return surveyInvite(lang) + " " + url }

// SurveyInviteHTML adds the survey's offer at url to an HTML reply, before
// its </body> when it has one.
func SurveyInviteHTML(body, lang, url string) string {
	p := `<p dir="auto"><a href="` + html.EscapeString(url) + `">` + html.EscapeString(surveyInvite(lang)) + `</a></p>`
	if i := strings.LastIndex(body, "</body>"); i >= 0 {
		return body[:i] + p + body[i:]
	}
	return body + p
}
