// Package message holds the normalized types every part of Wasl speaks: an
// inbound message as a channel delivers it and an outbound reply as a channel
// sends it. It does no I/O.
package message

import (
	"time"
)

// Kind names a channel type.
type Kind string

// The channel kinds Wasl speaks. A form (the public service-request
// pages) and a phone line (calls a representative logs in the inbox) take
// messages in but send nothing themselves: what they cause goes out by the
// channels their Routes name.
const (
	Email    Kind = "email"
	SMS      Kind = "sms"
	WhatsApp Kind = "whatsapp"
	Form     Kind = "form"
	Phone    Kind = "phone"
)

// Kinds lists every channel kind, in the order the inbox shows them.
func Kinds() []Kind { return []Kind{Email, SMS, WhatsApp, Form, Phone} }

// Valid reports whether k is a known channel kind.
func (k Kind) Valid() bool {
	switch k {
	case Email, SMS, WhatsApp, Form, Phone:
		return true
	}
	return false
}

// Sends reports whether a channel of kind k sends replies itself; a form
// and a phone line answer through other channels (Route).
func (k Kind) Sends() bool { return k == Email || k == SMS || k == WhatsApp }

// IdentityKind says what an identity value is.
type IdentityKind string

// Identity kinds: an email address (lower-cased) or an E.164 phone number.
const (
	IdentityEmail IdentityKind = "email"
	IdentityPhone IdentityKind = "phone"
)

// Party is a sender or recipient: the identity that keys the contact and the
// name they gave, if any.
type Party struct {
	Kind  IdentityKind `json:"kind"`
	Value string       `json:"value"` // email lower-cased, phone in E.164
	Name  string       `json:"name,omitempty"`
}

// Flags mark messages that must never get an automatic reply (RFC 3834 and
// common practice).
type Flags struct {
	AutoSubmitted bool `json:"auto_submitted"` // Auto-Submitted other than "no", X-Autoreply, X-Autorespond…
	Bulk          bool `json:"bulk"`           // Precedence: bulk, list or junk
	List          bool `json:"list"`           // List-Id or List-Unsubscribe present
	Bounce        bool `json:"bounce"`         // delivery report, MAILER-DAEMON, null sender
	NoReply       bool `json:"no_reply"`       // no-reply@, noreply@, do-not-reply@ …
}

// Any reports whether any flag is set, i.e. whether automatic replies are off.
func (f Flags) Any() bool {
	return f.AutoSubmitted || f.Bulk || f.List || f.Bounce || f.NoReply
}

// Attachment is a file that came with a message. Content is held in memory
// only between the connector and the store; the store keeps it
// content-addressed by SHA-256.
type Attachment struct {
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	Content     []byte `json:"-"`
	// URL is set instead of Content when the channel delivers a link to be
	// fetched later (Twilio media).
	URL string `json:"url,omitempty"`
	// Descriptor is set instead of Content when the channel fetches the
	// content later by means of its own (WhatsApp: direct path, media key,
	// hashes). Opaque to all but that channel, and secret: never
	// serialized or logged.
	Descriptor []byte `json:"-"`
}

// Inbound is one message as a channel delivered it, normalized.
type Inbound struct {
	ChannelID  int64  `json:"channel_id"`
	Channel    Kind   `json:"channel"`
	ExternalID string `json:"external_id"` // the channel's own id: the dedupe key with ChannelID

	From    Party    `json:"from"`
	To      []string `json:"to,omitempty"`
	Subject string   `json:"subject,omitempty"`
	Text    string   `json:"text"`
	// HTML is sanitized by the channel (only email carries HTML): safe to
	// show as it is.
	HTML string `json:"html,omitempty"`
	// TextTruncated and HTMLTruncated say the channel cut the body at its
	// size cap; Raw holds the whole original.
	TextTruncated bool `json:"text_truncated,omitempty"`
	HTMLTruncated bool `json:"html_truncated,omitempty"`

	Attachments []Attachment `json:"attachments,omitempty"`

	// Email threading headers, without angle brackets.
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`

	Flags Flags `json:"flags"`

	SentAt     time.Time `json:"sent_at,omitempty"`     // as the sender's client stated it
	ReceivedAt time.Time `json:"received_at,omitempty"` // when the channel got it

	// Quarantined messages are kept (with Raw) but not classified or answered.
	Quarantined      bool   `json:"quarantined"`
	QuarantineReason string `json:"reason,omitempty"`
	Raw              []byte `json:"-"`

	// Fields are a form's or a call log's answers, in the order asked;
	// Text holds the same as readable lines.
	Fields []Field `json:"fields,omitempty"`
	// Identities are more of the sender's own identities (a form's email
	// and mobile): the contact is found by any of them and keeps them all.
	Identities []Party `json:"identities,omitempty"`
	// Declared is what the form or the representative already said the
	// message is; the pipeline acts on it and records the classifier's view.
	Declared *Declared `json:"declared,omitempty"`
	// Routes are where answers go when the channel cannot send (a form, a
	// logged call): each gets the automatic reply, if one is decided, or
	// its own Text.
	Routes []Route `json:"routes,omitempty"`
}

// Field is one answer of a form or a call log. Label is the question as the
// customer read it (in their language, kept as it was); Value the answer
// as they gave it, or for a choice the option's label, with its key in Code.
type Field struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Value string `json:"value"`
	Code  string `json:"code,omitempty"`
}

// Outcomes a form or a representative declares.
const (
	OutcomeTicket   = "ticket"   // open a ticket for the topic (a form always)
	OutcomeAnswered = "answered" // a call answered on the phone
	OutcomeGuided   = "guided"   // a caller guided to the right form
	OutcomeReferred = "referred" // a caller referred to the competent office
)

// Declared is a message whose topic and outcome the customer (a service's
// form) or a representative (a logged call) already chose.
type Declared struct {
	Topic    string `json:"topic,omitempty"` // a bank topic; may be empty for a call about nothing in particular
	Outcome  string `json:"outcome"`         // one of the Outcome constants
	Language string `json:"language,omitempty"`
	// Note is said in the decision's reasons ("the maintenance form",
	// "logged by sara@…").
	Note string `json:"note,omitempty"`
}

// Route is a channel and an address an answer goes out by.
type Route struct {
	ChannelID int64 `json:"channel_id"`
	Channel   Kind  `json:"channel"` // the sending channel's kind
	To        Party `json:"to"`
	// Text, when set, is sent as it is (Auto false) instead of the
	// automatic reply: the links a representative picked for a caller.
	Text string `json:"text,omitempty"`
}

// Outbound is one reply to be sent out a channel.
type Outbound struct {
	ID        int64 `json:"id"` // the store's id; senders derive idempotency keys from it
	ChannelID int64 `json:"channel_id"`
	Channel   Kind  `json:"channel"`

	To      Party  `json:"to"`
	Subject string `json:"subject,omitempty"`
	Text    string `json:"text"`
	HTML    string `json:"html,omitempty"`

	// Email threading: our own Message-ID for this reply and the ids it answers.
	MessageID  string   `json:"message_id,omitempty"`
	InReplyTo  string   `json:"in_reply_to,omitempty"`
	References []string `json:"references,omitempty"`

	// Auto marks an automatic reply (Auto-Submitted: auto-replied).
	Auto bool `json:"auto"`
}

// Delivery is what a channel reports after handing a reply over.
type Delivery struct {
	ProviderID string // e.g. Twilio's MessageSid, WhatsApp's message id, SMTP queue id
	State      DeliveryState
}

// DeliveryState is where an outbound message stands.
type DeliveryState string

// Delivery states, in the order a message normally passes them.
const (
	StateQueued      DeliveryState = "queued"
	StateSending     DeliveryState = "sending"
	StateSent        DeliveryState = "sent"
	StateDelivered   DeliveryState = "delivered"
	StateUndelivered DeliveryState = "undelivered"
	StateFailed      DeliveryState = "failed"
)

// Outcome is what the pipeline tells a connector about one inbound message
// once it is committed. Connectors acknowledge upstream only after they get
// one without error.
type Outcome struct {
	Duplicate      bool  `json:"duplicate"`
	MessageID      int64 `json:"message_id"`
	ConversationID int64 `json:"conversation_id"`
	TicketID       int64 `json:"ticket_id,omitempty"`
}
