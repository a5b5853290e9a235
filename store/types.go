package store

import (
	"encoding/json"
	"slices"
	"time"

	"github.com/wasl-dev/wasl/message"
)

// Channel is one configured connector.
type Channel struct {
	ID     int64           `json:"id"`
	Name   string          `json:"name"`
	Kind   message.Kind    `json:"kind"`
	Config json.RawMessage `json:"config,omitempty"` // non-secret settings
	// Secret is encrypted by the caller; the store only keeps the bytes. It
	// is never marshalled, so it cannot leak through an API response.
	Secret  []byte `json:"-"`
	Enabled bool   `json:"enabled"`
	// Source is SourceConfig (the file; read-only in the UI) or SourceUI.
	Source string `json:"source"`
	// Revision counts changes made in the UI; replicas restart a channel's
	// connectors when it moves.
	Revision  int64      `json:"revision"`
	DeletedAt *time.Time `json:"deleted_at,omitempty"`
	// Action is the last request for whoever drives the channel (pair,
	// logout); ActionSeq counts them.
	Action    string    `json:"-"`
	ActionSeq int64     `json:"-"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Channel sources.
const (
	SourceConfig = "config"
	SourceUI     = "ui"
)

// Contact is a person, known by one or more identities.
type Contact struct {
	ID          int64  `json:"id"`
	DisplayName string `json:"display_name"`
	Language    string `json:"language,omitempty"`
	// AutoReplyMutedUntil is set when the contact got as many automatic
	// replies as the cap allows (an autoresponder answering ours, a loop):
	// none is sent before then. Nil when not muted.
	AutoReplyMutedUntil *time.Time      `json:"auto_reply_muted_until,omitempty"`
	CreatedAt           time.Time       `json:"created_at"`
	Identities          []message.Party `json:"identities,omitempty"`
}

// Conversation statuses.
const (
	ConversationOpen   = "open"
	ConversationClosed = "closed"
)

// Conversation is a thread with one contact on one channel.
type Conversation struct {
	ID        int64  `json:"id"`
	ContactID int64  `json:"contact_id"`
	ChannelID int64  `json:"channel_id"`
	Subject   string `json:"subject,omitempty"`
	Status    string `json:"status"`
	// CitesForeignTicket is the reference of another contact's ticket that
	// the message opening this conversation cited, and so was kept apart
	// from (a reference is no proof of the thread). Empty for most.
	CitesForeignTicket string `json:"cites_foreign_ticket,omitempty"`
	// Topic, Scope and Language are its newest classified message's (the
	// store's triggers keep them), Department its newest ticket's. A new
	// conversation is written with those of the message and ticket it
	// starts with, so that nothing rewrites its row in the same
	// transaction.
	Topic         string    `json:"topic,omitempty"`
	Scope         string    `json:"scope,omitempty"`
	Language      string    `json:"language,omitempty"`
	Department    string    `json:"department,omitempty"`
	LastMessageAt time.Time `json:"last_message_at"`
	CreatedAt     time.Time `json:"created_at"`
}

// Message is one stored inbound message.
type Message struct {
	ID             int64         `json:"id"`
	ChannelID      int64         `json:"channel_id"`
	ExternalID     string        `json:"external_id"`
	ConversationID int64         `json:"conversation_id,omitempty"` // 0 for quarantined messages without one
	ContactID      int64         `json:"contact_id,omitempty"`
	From           message.Party `json:"from"`
	To             []string      `json:"to,omitempty"`
	Subject        string        `json:"subject,omitempty"`
	Text           string        `json:"text"`
	HTML           string        `json:"html,omitempty"` // sanitized by the channel before it is stored
	// TextTruncated and HTMLTruncated say the body was cut at the channel's
	// size cap; the whole original is the raw blob RawSHA256.
	TextTruncated    bool            `json:"text_truncated"`
	HTMLTruncated    bool            `json:"html_truncated"`
	HeaderMessageID  string          `json:"header_message_id,omitempty"`
	InReplyTo        string          `json:"in_reply_to,omitempty"`
	References       []string        `json:"references,omitempty"`
	Flags            message.Flags   `json:"flags"`
	Quarantined      bool            `json:"quarantined"`
	QuarantineReason string          `json:"quarantine_reason,omitempty"`
	RawSHA256        string          `json:"raw_sha256,omitempty"`
	Language         string          `json:"language,omitempty"`
	Scope            string          `json:"scope,omitempty"`
	Topic            string          `json:"topic,omitempty"`
	Confidence       float64         `json:"confidence"`
	Decision         json.RawMessage `json:"decision,omitempty"`
	SentAt           time.Time       `json:"sent_at"`
	ReceivedAt       time.Time       `json:"received_at"`
	CreatedAt        time.Time       `json:"created_at"`
	Attachments      []Attachment    `json:"attachments,omitempty"`
	// Fields are a form's or a call log's answers, in the order asked.
	Fields []message.Field `json:"fields,omitempty"`
	// IndexTerms are the search index's terms of Subject and Text when the
	// caller made them already with Store.IndexTerms (the pipeline does,
	// on every core, before its transaction); nil: InsertMessage makes them.
	IndexTerms []string `json:"-"`
}

// Attachment is a file that came with a message; its bytes are the blob
// SHA256, once fetched.
type Attachment struct {
	ID          int64  `json:"id"`
	MessageID   int64  `json:"message_id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256,omitempty"` // empty until fetched
	URL         string `json:"url,omitempty"`    // remote, e.g. Twilio media
	// MissingReason says why there is no content (too large, gone at the
	// provider); empty while it may still come.
	MissingReason string `json:"missing_reason,omitempty"`
	// Descriptor is what the channel needs to fetch the content later
	// (WhatsApp: direct path, media key, hashes). It is secret and opaque:
	// never serialized, filled only by PendingAttachments, cleared once the
	// attachment is settled.
	Descriptor []byte    `json:"-"`
	CreatedAt  time.Time `json:"created_at"`
}

// Ticket statuses: the one definition of the values stored. Package
// tickets names them as its Status type and rules the moves between them;
// the store, which tickets imports, must validate what it writes.
const (
	TicketOpen        = "open"
	TicketTransferred = "transferred"
	TicketPending     = "pending"
	TicketInProgress  = "in_progress"
	TicketClosed      = "closed"
)

// TicketStatuses returns every ticket status in the weekly report's order.
func TicketStatuses() []string {
	return []string{TicketOpen, TicketTransferred, TicketPending, TicketInProgress, TicketClosed}
}

// ValidTicketStatus reports whether s is one of the ticket statuses.
func ValidTicketStatus(s string) bool { return slices.Contains(TicketStatuses(), s) }

// Ticket is an actionable request, numbered per prefix and year.
type Ticket struct {
	ID             int64      `json:"id"`
	Ref            string     `json:"ref"` // e.g. EDU-2026-000123
	Prefix         string     `json:"prefix"`
	Year           int        `json:"year"`
	Number         int64      `json:"number"`
	ConversationID int64      `json:"conversation_id,omitempty"`
	ContactID      int64      `json:"contact_id,omitempty"`
	Topic          string     `json:"topic,omitempty"`
	Department     string     `json:"department,omitempty"`
	Status         string     `json:"status"`
	Subject        string     `json:"subject,omitempty"`
	SLADueAt       *time.Time `json:"sla_due_at,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	ClosedAt       *time.Time `json:"closed_at,omitempty"`

	// The SLA clocks, in working time (package tickets computes them):
	// the targets as the bank wrote them when the ticket opened, the due
	// times they give, working time paused while pending on the customer
	// (PendingSince, WaitingOn), and the first answer by a person.
	SLATarget           string     `json:"sla_target,omitempty"`
	FirstResponseTarget string     `json:"first_response_target,omitempty"`
	FirstResponseDueAt  *time.Time `json:"first_response_due_at,omitempty"`
	FirstResponseAt     *time.Time `json:"first_response_at,omitempty"`
	PausedSeconds       int64      `json:"paused_seconds,omitempty"`
	PendingSince        *time.Time `json:"pending_since,omitempty"`
	WaitingOn           string     `json:"waiting_on,omitempty"` // customer or supply, while pending
	// How it ended: outcome (done / not_done) with the reason, the visit or
	// completion date (YYYY-MM-DD), the department that did the work and
	// the reply it gave the front desk for the customer.
	Outcome            string `json:"outcome,omitempty"`
	OutcomeReason      string `json:"outcome_reason,omitempty"`
	OutcomeDate        string `json:"outcome_date,omitempty"`
	ResolvedDepartment string `json:"resolved_department,omitempty"`
	HandbackReply      string `json:"handback_reply,omitempty"`
	// LinkedTicketID is the earlier ticket this one follows (the customer
	// wrote again after the reopen window); 0 for none.
	LinkedTicketID int64 `json:"linked_ticket_id,omitempty"`
	// WorkedBy is the user who did the work (the assignee when the ticket
	// was handed back or closed); 0 while unknown.
	WorkedBy int64 `json:"worked_by,omitempty"`
}

// Ticket event kinds.
const (
	EventCreated  = "created"
	EventStatus   = "status"
	EventNote     = "note"
	EventTransfer = "transfer"
	// EventMessage records a customer message added to an open ticket.
	EventMessage = "message"
)

// TicketEvent is one entry in a ticket's history.
type TicketEvent struct {
	ID         int64     `json:"id"`
	TicketID   int64     `json:"ticket_id"`
	Kind       string    `json:"kind"`
	Actor      string    `json:"actor,omitempty"`
	FromStatus string    `json:"from_status,omitempty"`
	ToStatus   string    `json:"to_status,omitempty"`
	Note       string    `json:"note,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
}

// Outbound is one reply, automatic or from staff, and where its delivery
// stands.
type Outbound struct {
	ID                 int64                 `json:"id"`
	ChannelID          int64                 `json:"channel_id"`
	Channel            message.Kind          `json:"channel,omitempty"` // the channel's kind; filled on reads
	ConversationID     int64                 `json:"conversation_id"`
	InReplyToMessageID int64                 `json:"in_reply_to_message_id,omitempty"` // our messages.id, 0 if none
	TicketID           int64                 `json:"ticket_id,omitempty"`              // 0 if none
	ContactID          int64                 `json:"contact_id"`
	To                 message.Party         `json:"to"`
	Subject            string                `json:"subject,omitempty"`
	Text               string                `json:"text"`
	HTML               string                `json:"html,omitempty"`
	HeaderMessageID    string                `json:"header_message_id,omitempty"`
	InReplyTo          string                `json:"in_reply_to,omitempty"`
	References         []string              `json:"references,omitempty"`
	Auto               bool                  `json:"auto"`
	State              message.DeliveryState `json:"state"`
	ProviderID         string                `json:"provider_id,omitempty"`
	Error              string                `json:"error,omitempty"`
	Attempts           int                   `json:"attempts"`
	CreatedAt          time.Time             `json:"created_at"`
	SentAt             *time.Time            `json:"sent_at,omitempty"`
	UpdatedAt          time.Time             `json:"updated_at"`
}

// Message is the reply as a channel Sender takes it.
func (o Outbound) Message() message.Outbound {
	return message.Outbound{
		ID:         o.ID,
		ChannelID:  o.ChannelID,
		Channel:    o.Channel,
		To:         o.To,
		Subject:    o.Subject,
		Text:       o.Text,
		HTML:       o.HTML,
		MessageID:  o.HeaderMessageID,
		InReplyTo:  o.InReplyTo,
		References: o.References,
		Auto:       o.Auto,
	}
}

// ConversationFilter selects conversations for ListConversations.
type ConversationFilter struct {
	Status    string `json:"status,omitempty"`     // "open" or "closed"; empty for both
	ChannelID int64  `json:"channel_id,omitempty"` // 0 for all
	Limit     int    `json:"limit,omitempty"`      // default 50, at most 500
	// BeforeID pages: only conversations that sort after this one (older
	// activity, or the same activity and a lower id).
	BeforeID int64 `json:"before_id,omitempty"`
}

// ConversationSummary is one line of the inbox.
type ConversationSummary struct {
	Conversation
	ContactName  string       `json:"contact_name,omitempty"`
	ChannelName  string       `json:"channel_name"`
	ChannelKind  message.Kind `json:"channel_kind"`
	LastText     string       `json:"last_text,omitempty"` // newest inbound message, cut to 200 characters
	Messages     int          `json:"messages"`            // inbound messages
	TicketRef    string       `json:"ticket_ref,omitempty"`
	TicketStatus string       `json:"ticket_status,omitempty"`
}

// ConversationDetail is a conversation with its messages (all of them, or
// one page), the replies written in the time those messages span, and its
// tickets; each list oldest first.
type ConversationDetail struct {
	Conversation Conversation `json:"conversation"`
	Contact      Contact      `json:"contact"`
	Channel      Channel      `json:"channel"`
	Messages     []Message    `json:"messages"`
	Outbound     []Outbound   `json:"outbound"`
	Tickets      []Ticket     `json:"tickets"`
	// NextBefore is set when older messages exist: the MessagePage.BeforeID
	// of the page before this one.
	NextBefore int64 `json:"next_before,omitempty"`
}

// MessagePage selects a page of a conversation's messages for
// ConversationPage: the newest Limit (default 50, at most 500) that are
// older than message BeforeID (0 for the newest page). A page also stops
// early, after at least one message, once its bodies pass pageBodyBytes.
type MessagePage struct {
	Limit    int   `json:"limit,omitempty"`
	BeforeID int64 `json:"before_id,omitempty"`
}

// pageBodyBytes bounds the text and HTML of one page, whatever the limit:
// bodies can each be a megabyte or two (the email channel's caps).
const pageBodyBytes = 8 << 20

// TicketFilter selects tickets for ListTickets, newest first.
type TicketFilter struct {
	Status     string `json:"status,omitempty"`
	Department string `json:"department,omitempty"`
	Limit      int    `json:"limit,omitempty"`     // default 50, at most 500
	BeforeID   int64  `json:"before_id,omitempty"` // pages by id
}

// Stats are row counts for tests, the dashboard and /metrics.
type Stats struct {
	Messages        int64                           `json:"messages"`
	Quarantined     int64                           `json:"quarantined"`
	Conversations   int64                           `json:"conversations"`
	Contacts        int64                           `json:"contacts"`
	Tickets         int64                           `json:"tickets"`
	TicketsByStatus map[string]int64                `json:"tickets_by_status"`
	Outbound        map[message.DeliveryState]int64 `json:"outbound"`
	// MessagesByChannel counts inbound messages by channel kind: calls and
	// form submissions count like mail, SMS and WhatsApp.
	MessagesByChannel map[message.Kind]int64 `json:"messages_by_channel"`
}

// limit applies the default and maximum page size.
func limit(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > 500:
		return 500
	}
	return n
}
