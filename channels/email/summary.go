// The normalized message as `wasl inspect email` prints it.

package email

import (
	"time"

	"github.com/wasl-dev/wasl/message"
)

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
