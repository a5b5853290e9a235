package whatsapp

import (
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/wasl-dev/wasl/message"
)

// Reasons Translate gives for ignoring a message.
const (
	SkipGroup       = "group chat"
	SkipStatus      = "status broadcast"
	SkipFromMe      = "sent by this account"
	SkipNewsletter  = "newsletter"
	SkipProtocol    = "protocol message"
	SkipReaction    = "reaction"
	SkipEmpty       = "empty message"
	SkipUnsupported = "unsupported message type"
)

// ErrNoPhone means the sender is known only by a LID (WhatsApp's hidden
// user id) and no phone number is known for it. Contacts are keyed by E.164,
// so such a message is quarantined, not guessed at.
var ErrNoPhone = errors.New("sender has no known phone number")

// Translate turns a WhatsApp message event into a message.Inbound.
//
// skip is non-empty when the message is deliberately ignored (group chat,
// status broadcast, own message, reaction, protocol or empty message); in
// that case in is zero and err nil. err is non-nil when the message cannot
// be understood; in is then still filled as far as possible and marked
// Quarantined, so the caller can keep it.
//
// Media are listed as attachments without Content, with the descriptor
// the media job downloads them by later (Channel.OpenMedia): the event
// handler never waits for a download.
func Translate(evt *events.Message, cfg Config) (in message.Inbound, skip string, err error) {
	if evt == nil {
		return in, "", fmt.Errorf("whatsapp: nil message event")
	}
	info := evt.Info
	switch {
	case info.IsFromMe:
		return in, SkipFromMe, nil
	case info.Chat.Server == types.BroadcastServer && info.Chat.User == types.StatusBroadcastJID.User:
		if !cfg.AllowStatus {
			return in, SkipStatus, nil
		}
	case info.Chat.Server == types.GroupServer:
		if !cfg.AllowGroups {
			return in, SkipGroup, nil
		}
	case info.Chat.Server == types.NewsletterServer:
		return in, SkipNewsletter, nil
	}

	msg := evt.Message
	switch {
	case msg == nil:
		return in, SkipEmpty, nil
	case msg.GetProtocolMessage() != nil:
		return in, SkipProtocol + " (" + msg.GetProtocolMessage().GetType().String() + ")", nil
	case msg.GetReactionMessage() != nil:
		return in, SkipReaction, nil
	}

	in = message.Inbound{
		ChannelID:  cfg.ChannelID,
		Channel:    message.WhatsApp,
		ExternalID: info.ID,
		SentAt:     info.Timestamp,
		// WhatsApp's server timestamp, not the moment it reached us: a phone
		// that was offline for days delivers its backlog at once, and the
		// pipeline keeps messages older than its window as history.
		ReceivedAt: info.Timestamp,
		Raw:        rawJSON(evt),
	}
	if info.Chat.Server == types.GroupServer || info.Chat == types.StatusBroadcastJID {
		// Replies go to the sender directly; the chat is kept for the record.
		in.To = []string{info.Chat.String()}
	}

	text, att, hasMedia := content(msg, info.ID)
	text, cleanText := storable(text)
	filename, cleanName := storable(att.Filename)
	att.Filename = filename
	in.Text = text
	if hasMedia {
		in.Attachments = []message.Attachment{att}
	}

	name, cleanPush := storable(strings.TrimSpace(info.PushName))
	if name == "-" {
		name = ""
	}
	phone, perr := senderPhone(info, cfg.DefaultRegion)
	in.From = message.Party{Kind: message.IdentityPhone, Value: phone, Name: name}

	switch {
	case strings.TrimSpace(text) == "" && !hasMedia:
		kind := messageKind(msg)
		if kind == "" || msg.Conversation != nil || msg.ExtendedTextMessage != nil {
			return message.Inbound{}, SkipEmpty, nil
		}
		// Nothing we can show: stickers, polls, contacts…
		return message.Inbound{}, SkipUnsupported + " (" + kind + ")", nil
	case info.ID == "":
		err = fmt.Errorf("whatsapp: message from %s has no id", info.Sender)
	case perr != nil:
		err = perr
	case !cleanText || !cleanName || !cleanPush:
		// The databases refuse them; kept as they came in Raw.
		err = errors.New("whatsapp: text held NUL bytes or invalid UTF-8; they were replaced")
	}
	if err != nil {
		in.Quarantined = true
		in.QuarantineReason = err.Error()
		return in, "", err
	}
	return in, "", nil
}

// senderPhone finds the sender's phone number in E.164: the sender itself
// when it is a phone JID, else its alternative address when the sender is a
// LID.
func senderPhone(info types.MessageInfo, region string) (string, error) {
	var user string
	switch {
	case isPhoneServer(info.Sender.Server):
		user = info.Sender.User
	case info.Sender.Server == types.HiddenUserServer && isPhoneServer(info.SenderAlt.Server):
		user = info.SenderAlt.User
	case info.Sender.Server == types.HiddenUserServer:
		return "", fmt.Errorf("whatsapp: sender %s: %w", info.Sender.ToNonAD(), ErrNoPhone)
	default:
		return "", fmt.Errorf("whatsapp: sender %s is not a user JID: %w", info.Sender, ErrNoPhone)
	}
	phone, err := message.NormalizePhone("+"+user, region)
	if err != nil {
		return "", fmt.Errorf("whatsapp: sender %s: %w", info.Sender.ToNonAD(), err)
	}
	return phone, nil
}

func isPhoneServer(server string) bool {
	return server == types.DefaultUserServer || server == types.LegacyUserServer
}

// content returns the text of msg and, for media, the attachment as far as
// the message describes it.
func content(msg *waE2E.Message, id string) (text string, att message.Attachment, hasMedia bool) {
	if m := mediaOf(msg); m != nil {
		return m.caption, m.attachment(id), true
	}
	switch {
	case msg.Conversation != nil:
		return msg.GetConversation(), att, false
	case msg.ExtendedTextMessage != nil:
		return msg.GetExtendedTextMessage().GetText(), att, false
	case msg.LocationMessage != nil:
		return locationText(msg.GetLocationMessage()), att, false
	}
	return "", att, false
}

func locationText(l *waE2E.LocationMessage) string {
	lat := strconv.FormatFloat(l.GetDegreesLatitude(), 'f', 6, 64)
	lon := strconv.FormatFloat(l.GetDegreesLongitude(), 'f', 6, 64)
	parts := []string{}
	for _, s := range []string{l.GetName(), l.GetAddress()} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	parts = append(parts, "https://maps.google.com/?q="+lat+","+lon)
	return strings.Join(parts, "\n")
}

// media is the downloadable part of a message with what it says about
// itself.
type media struct {
	kind     string // image, video, audio, document
	msg      whatsmeow.DownloadableMessage
	caption  string
	mimetype string
	filename string
	size     int64
}

func mediaOf(msg *waE2E.Message) *media {
	switch {
	case msg.GetImageMessage() != nil:
		m := msg.GetImageMessage()
		return &media{kind: "image", msg: m, caption: m.GetCaption(), mimetype: m.GetMimetype(), size: int64(m.GetFileLength())}
	case msg.GetVideoMessage() != nil:
		m := msg.GetVideoMessage()
		return &media{kind: "video", msg: m, caption: m.GetCaption(), mimetype: m.GetMimetype(), size: int64(m.GetFileLength())}
	case msg.GetAudioMessage() != nil:
		m := msg.GetAudioMessage()
		kind := "audio"
		if m.GetPTT() {
			kind = "voice"
		}
		return &media{kind: kind, msg: m, mimetype: m.GetMimetype(), size: int64(m.GetFileLength())}
	case msg.GetDocumentMessage() != nil:
		m := msg.GetDocumentMessage()
		name := m.GetFileName()
		if name == "" {
			name = m.GetTitle()
		}
		return &media{kind: "document", msg: m, caption: m.GetCaption(), mimetype: m.GetMimetype(), filename: name, size: int64(m.GetFileLength())}
	}
	return nil
}

func (m *media) attachment(id string) message.Attachment {
	ct := m.mimetype
	if ct == "" {
		ct = "application/octet-stream"
	}
	name := safeFilename(m.filename)
	if name == "" {
		name = "whatsapp-" + m.kind + "-" + safeFilename(id) + extension(ct)
	}
	return message.Attachment{Filename: name, ContentType: ct, Size: m.size, Descriptor: m.descriptor()}
}

// safeFilename keeps the customer's name (Arabic included) but not a path.
func safeFilename(name string) string {
	name = strings.ReplaceAll(name, "\\", "/")
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "." || name == ".." {
		return ""
	}
	return name
}

// extension maps the types WhatsApp sends to the usual extension; the
// standard library's table depends on the host, so the common ones are fixed.
func extension(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return ".bin"
	}
	switch mt {
	case "image/jpeg":
		return ".jpg"
	case "image/png":
		return ".png"
	case "image/webp":
		return ".webp"
	case "video/mp4":
		return ".mp4"
	case "audio/ogg":
		return ".ogg"
	case "audio/mpeg":
		return ".mp3"
	case "audio/mp4", "audio/aac":
		return ".m4a"
	case "application/pdf":
		return ".pdf"
	}
	if exts, _ := mime.ExtensionsByType(mt); len(exts) > 0 {
		return exts[0]
	}
	return ".bin"
}

// messageKind names the populated fields of msg, for skip reasons; "" when
// there are none.
func messageKind(msg *waE2E.Message) string {
	var kinds []string
	msg.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
		if fd.Name() != "messageContextInfo" {
			kinds = append(kinds, string(fd.Name()))
		}
		return true
	})
	sort.Strings(kinds)
	return strings.Join(kinds, ",")
}

// rawJSON keeps the event as WhatsApp gave it, for quarantine and audit.
func rawJSON(evt *events.Message) []byte {
	var raw json.RawMessage
	msg := evt.RawMessage
	if msg == nil {
		msg = evt.Message
	}
	if msg != nil {
		if b, err := protojson.Marshal(msg); err == nil {
			raw = b
		}
	}
	b, err := json.Marshal(struct {
		Info    types.MessageInfo `json:"info"`
		Message json.RawMessage   `json:"message,omitempty"`
	}{evt.Info, raw})
	if err != nil {
		return nil
	}
	return b
}

// storable makes s storable (PostgreSQL refuses NUL and invalid UTF-8) and
// reports whether it was already.
func storable(s string) (string, bool) {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s, true
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", ""), false
}
