package whatsapp

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/wasl-dev/wasl/message"
)

var (
	customer    = types.NewJID("966501234567", types.DefaultUserServer)
	customerLID = types.NewJID("123456789012345", types.HiddenUserServer)
	groupChat   = types.NewJID("120363000000000001", types.GroupServer)
	sentAt      = time.Date(2026, 11, 22, 8, 15, 0, 0, time.UTC)
)

// fixture reads a waE2E.Message written as protojson in testdata.
func fixture(t *testing.T, name string) *waE2E.Message {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	var m waE2E.Message
	if err := protojson.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &m
}

// dm is a message a customer sent us directly.
func dm(t *testing.T, file string) *events.Message {
	t.Helper()
	evt := &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: customer, Sender: customer},
			ID:            "3A5F0C1E2D3B4A59687F",
			PushName:      "نورة العتيبي",
			Timestamp:     sentAt,
			Type:          "text",
		},
	}
	if file != "" {
		evt.RawMessage = fixture(t, file)
		evt.UnwrapRaw()
	}
	return evt
}

func testConfig() Config {
	return Config{ChannelID: 7, Name: "wa-main", DefaultRegion: "SA"}
}

func TestTranslate(t *testing.T) {
	type want struct {
		skip        string // prefix
		err         error
		text        string // substring
		from        string
		name        string
		to          []string
		attachment  *message.Attachment
		quarantined bool
	}
	tests := []struct {
		name string
		evt  func(t *testing.T) *events.Message
		cfg  func(*Config)
		want want
	}{
		{
			name: "Arabic conversation text",
			evt:  func(t *testing.T) *events.Message { return dm(t, "conversation_ar.json") },
			want: want{text: "السلام عليكم، نحتاج جهاز عرض في القاعة ١٢ يوم الأحد", from: "+966501234567", name: "نورة العتيبي"},
		},
		{
			name: "extended text with link",
			evt:  func(t *testing.T) *events.Message { return dm(t, "extended_text.json") },
			want: want{text: "the projector in room B-204 is broken: https://example.edu/rooms/b204", from: "+966501234567"},
		},
		{
			name: "image with caption",
			evt:  func(t *testing.T) *events.Message { return dm(t, "image_caption.json") },
			want: want{text: "صورة العطل في المختبر", from: "+966501234567",
				attachment: &message.Attachment{Filename: "whatsapp-image-3A5F0C1E2D3B4A59687F.png", ContentType: "image/png", Size: 69}},
		},
		{
			name: "document with Arabic filename and caption",
			evt:  func(t *testing.T) *events.Message { return dm(t, "document_ar.json") },
			want: want{text: "مرفق نموذج الطلب", from: "+966501234567",
				attachment: &message.Attachment{Filename: "نموذج طلب صيانة.pdf", ContentType: "application/pdf", Size: 1024}},
		},
		{
			name: "document filename loses its path and control characters",
			evt:  func(t *testing.T) *events.Message { return dm(t, "document_path.json") },
			want: want{from: "+966501234567",
				attachment: &message.Attachment{Filename: "passwd.txt", ContentType: "text/plain", Size: 12}},
		},
		{
			name: "voice note",
			evt:  func(t *testing.T) *events.Message { return dm(t, "voice_note.json") },
			want: want{from: "+966501234567",
				attachment: &message.Attachment{Filename: "whatsapp-voice-3A5F0C1E2D3B4A59687F.ogg", ContentType: "audio/ogg; codecs=opus", Size: 5230}},
		},
		{
			name: "video with caption",
			evt:  func(t *testing.T) *events.Message { return dm(t, "video_caption.json") },
			want: want{text: "the door will not close", from: "+966501234567",
				attachment: &message.Attachment{Filename: "whatsapp-video-3A5F0C1E2D3B4A59687F.mp4", ContentType: "video/mp4", Size: 200000}},
		},
		{
			name: "location becomes text with a map link",
			evt:  func(t *testing.T) *events.Message { return dm(t, "location.json") },
			want: want{text: "مبنى ٥\nالرياض\nhttps://maps.google.com/?q=24.713600,46.675300", from: "+966501234567"},
		},
		{
			name: "LID sender with phone as SenderAlt",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Sender, e.Info.Chat = customerLID, customerLID
				e.Info.SenderAlt = types.NewADJID("966501234567", 0, 3)
				e.Info.AddressingMode = types.AddressingModeLID
				return e
			},
			want: want{text: "السلام عليكم", from: "+966501234567"},
		},
		{
			name: "LID sender without phone is quarantined",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Sender, e.Info.Chat = customerLID, customerLID
				return e
			},
			want: want{err: ErrNoPhone, quarantined: true, text: "السلام عليكم", name: "نورة العتيبي"},
		},
		{
			name: "NUL bytes are dropped and the message quarantined",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Message.Conversation = proto.String("جهاز\x00 العرض لا يعمل")
				return e
			},
			want: want{quarantined: true, text: "جهاز العرض لا يعمل", from: "+966501234567"},
		},
		{
			name: "impossible phone number is quarantined",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Sender = types.NewJID("12", types.DefaultUserServer)
				return e
			},
			want: want{quarantined: true, text: "السلام عليكم"},
		},
		{
			name: "push name dash means none",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "extended_text.json")
				e.Info.PushName = "-"
				return e
			},
			want: want{text: "projector", from: "+966501234567", name: ""},
		},
		{
			name: "group chat ignored by default",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Chat, e.Info.IsGroup = groupChat, true
				return e
			},
			want: want{skip: SkipGroup},
		},
		{
			name: "group chat taken when allowed",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.Chat, e.Info.IsGroup = groupChat, true
				return e
			},
			cfg:  func(c *Config) { c.AllowGroups = true },
			want: want{text: "السلام عليكم", from: "+966501234567", to: []string{"120363000000000001@g.us"}},
		},
		{
			name: "status broadcast ignored by default",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "extended_text.json")
				e.Info.Chat, e.Info.IsGroup = types.StatusBroadcastJID, true
				return e
			},
			want: want{skip: SkipStatus},
		},
		{
			name: "status broadcast taken when allowed",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "extended_text.json")
				e.Info.Chat, e.Info.IsGroup = types.StatusBroadcastJID, true
				return e
			},
			cfg:  func(c *Config) { c.AllowStatus = true },
			want: want{text: "projector", from: "+966501234567", to: []string{"status@broadcast"}},
		},
		{
			name: "incoming broadcast list is a direct message",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "extended_text.json")
				e.Info.Chat, e.Info.IsGroup = types.NewJID("1690000000", types.BroadcastServer), true
				return e
			},
			want: want{text: "projector", from: "+966501234567"},
		},
		{
			name: "own message ignored",
			evt: func(t *testing.T) *events.Message {
				e := dm(t, "conversation_ar.json")
				e.Info.IsFromMe = true
				return e
			},
			want: want{skip: SkipFromMe},
		},
		{
			name: "nil message ignored",
			evt:  func(t *testing.T) *events.Message { return dm(t, "") },
			want: want{skip: SkipEmpty},
		},
		{
			name: "message without content ignored",
			evt:  func(t *testing.T) *events.Message { return dm(t, "empty.json") },
			want: want{skip: SkipEmpty},
		},
		{
			name: "blank text ignored",
			evt:  func(t *testing.T) *events.Message { return dm(t, "blank_text.json") },
			want: want{skip: SkipEmpty},
		},
		{
			name: "protocol message (revoke) ignored",
			evt:  func(t *testing.T) *events.Message { return dm(t, "protocol_revoke.json") },
			want: want{skip: SkipProtocol + " (REVOKE)"},
		},
		{
			name: "reaction ignored",
			evt:  func(t *testing.T) *events.Message { return dm(t, "reaction.json") },
			want: want{skip: SkipReaction},
		},
		{
			name: "sticker is unsupported",
			evt:  func(t *testing.T) *events.Message { return dm(t, "sticker.json") },
			want: want{skip: SkipUnsupported + " (stickerMessage)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			evt := tt.evt(t)
			in, skip, err := Translate(evt, cfg)
			w := tt.want
			if w.skip != "" {
				if skip != w.skip || err != nil {
					t.Fatalf("skip = %q, err = %v; want skip %q", skip, err, w.skip)
				}
				if in.ExternalID != "" || in.Text != "" {
					t.Errorf("skipped message still translated: %+v", in)
				}
				return
			}
			if skip != "" {
				t.Fatalf("skipped (%s), want a message", skip)
			}
			if w.quarantined {
				if err == nil {
					t.Fatal("no error, want one")
				}
				if w.err != nil && !errors.Is(err, w.err) {
					t.Fatalf("err = %v, want %v", err, w.err)
				}
				if !in.Quarantined || in.QuarantineReason != err.Error() {
					t.Errorf("Quarantined = %v, reason %q; want true, %q", in.Quarantined, in.QuarantineReason, err)
				}
				if len(in.Raw) == 0 {
					t.Error("quarantined message without Raw")
				}
			} else if err != nil {
				t.Fatalf("err = %v", err)
			}
			if in.Channel != message.WhatsApp || in.ChannelID != 7 {
				t.Errorf("channel = %s/%d", in.Channel, in.ChannelID)
			}
			if in.ExternalID != evt.Info.ID {
				t.Errorf("ExternalID = %q, want %q", in.ExternalID, evt.Info.ID)
			}
			if !in.SentAt.Equal(sentAt) || !in.ReceivedAt.Equal(sentAt) {
				t.Errorf("SentAt = %v, ReceivedAt = %v; want both the server timestamp %v", in.SentAt, in.ReceivedAt, sentAt)
			}
			if !strings.Contains(in.Text, w.text) {
				t.Errorf("Text = %q, want it to contain %q", in.Text, w.text)
			}
			if in.From.Kind != message.IdentityPhone || in.From.Value != w.from {
				t.Errorf("From = %+v, want phone %q", in.From, w.from)
			}
			if w.name != "" || tt.name == "push name dash means none" {
				if in.From.Name != w.name {
					t.Errorf("From.Name = %q, want %q", in.From.Name, w.name)
				}
			}
			if strings.Join(in.To, ",") != strings.Join(w.to, ",") {
				t.Errorf("To = %v, want %v", in.To, w.to)
			}
			switch {
			case w.attachment == nil && len(in.Attachments) != 0:
				t.Errorf("attachments = %+v, want none", in.Attachments)
			case w.attachment != nil:
				if len(in.Attachments) != 1 {
					t.Fatalf("attachments = %+v, want one", in.Attachments)
				}
				got := in.Attachments[0]
				if got.Filename != w.attachment.Filename || got.ContentType != w.attachment.ContentType || got.Size != w.attachment.Size || got.Content != nil {
					t.Errorf("attachment = %q %q %d (content %d bytes), want %+v", got.Filename, got.ContentType, got.Size, len(got.Content), *w.attachment)
				}
			}
			var raw struct {
				Info    map[string]any `json:"info"`
				Message map[string]any `json:"message"`
			}
			if err := json.Unmarshal(in.Raw, &raw); err != nil || raw.Info["ID"] != evt.Info.ID {
				t.Errorf("Raw = %s (%v), want the event as JSON", in.Raw, err)
			}
		})
	}
}

func TestTranslateNilEvent(t *testing.T) {
	if _, _, err := Translate(nil, testConfig()); err == nil {
		t.Fatal("nil event: no error")
	}
}
