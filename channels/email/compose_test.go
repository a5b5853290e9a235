package email

import (
	"bytes"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
)

var testDate = time.Date(2026, 11, 22, 10, 30, 0, 0, time.FixedZone("", 3*3600))

const testFrom = "خدمة العملاء <support@example.edu.sa>"

// compose's output must parse back, through our own parser, into what was
// sent: that is what the customer's client will see.
func TestComposeRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		out      message.Outbound
		wantRefs []string
		wantHTML bool
	}{
		{
			name: "arabic automatic reply threads under the customer's mail",
			out: message.Outbound{
				ID: 41, To: message.Party{Kind: message.IdentityEmail, Value: "m.otaibi@uni.example.edu.sa", Name: "محمد العتيبي"},
				Subject:   "Re: [#EDU-2026-000123] طلب صيانة جهاز العرض في القاعة 12",
				Text:      "شكرا لتواصلكم.\nتم تسجيل طلبكم برقم EDU-2026-000123.\nساعات العمل: الأحد–الخميس 07:30–14:30.",
				MessageID: "wasl.41.abc@example.edu.sa",
				InReplyTo: "DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com",
				Auto:      true,
			},
			wantRefs: []string{"DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com"},
		},
		{
			name: "staff reply deep in a thread with HTML",
			out: message.Outbound{
				ID: 42, To: message.Party{Kind: message.IdentityEmail, Value: "Omar@Example.com", Name: "Omar"},
				Subject:    "Re: Projector",
				Text:       "A technician is on the way.",
				HTML:       "<p>A technician is <b>on the way</b>.</p>",
				MessageID:  "wasl.42.def@example.edu.sa",
				InReplyTo:  "reply-3@example.com",
				References: []string{"first-1@example.com", "wasl.1.ff00ee@example.edu.sa", "reply-3@example.com"},
			},
			wantRefs: []string{"first-1@example.com", "wasl.1.ff00ee@example.edu.sa", "reply-3@example.com"},
			wantHTML: true,
		},
		{
			name: "references without the in-reply-to get it appended",
			out: message.Outbound{
				To:         message.Party{Kind: message.IdentityEmail, Value: "a@example.com"},
				Subject:    "Re: x",
				Text:       "long line " + strings.Repeat("كلمة ", 60),
				MessageID:  "wasl.43@example.edu.sa",
				InReplyTo:  "b@example.com",
				References: []string{"a@example.com"},
			},
			wantRefs: []string{"a@example.com", "b@example.com"},
		},
		{
			name: "a new message has no threading headers",
			out: message.Outbound{
				To:        message.Party{Kind: message.IdentityEmail, Value: "a@example.com"},
				Subject:   "Weekly report",
				Text:      "Attached numbers.",
				MessageID: "wasl.44@example.edu.sa",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := compose(tt.out, testFrom, testDate)
			if err != nil {
				t.Fatal(err)
			}
			checkWire(t, raw)
			// The ticket reference stays readable ASCII, even in an Arabic
			// subject, for robots and filters that do not decode RFC 2047.
			if strings.Contains(tt.out.Subject, "[#EDU-") && !bytes.Contains(raw, []byte("Subject: Re: [#EDU-2026-000123]\r\n =?utf-8?b?")) {
				t.Errorf("ticket reference not readable in the raw Subject:\n%s", raw)
			}

			in := Parse(raw, testOpts())
			if in.Quarantined {
				t.Fatalf("our own mail is quarantined: %s\n%s", in.QuarantineReason, raw)
			}
			if in.MessageID != tt.out.MessageID || in.InReplyTo != tt.out.InReplyTo || !reflect.DeepEqual(in.References, tt.wantRefs) {
				t.Errorf("threading = %q / %q / %q, want %q / %q / %q", in.MessageID, in.InReplyTo, in.References,
					tt.out.MessageID, tt.out.InReplyTo, tt.wantRefs)
			}
			if in.Subject != tt.out.Subject {
				t.Errorf("Subject = %q, want %q", in.Subject, tt.out.Subject)
			}
			if in.Text != strings.TrimSpace(tt.out.Text) {
				t.Errorf("Text = %q, want %q", in.Text, tt.out.Text)
			}
			if (in.HTML != "") != tt.wantHTML || (tt.wantHTML && strings.TrimSpace(in.HTML) != tt.out.HTML) {
				t.Errorf("HTML = %q, want %q", in.HTML, tt.out.HTML)
			}
			if in.From != (message.Party{Kind: message.IdentityEmail, Value: "support@example.edu.sa", Name: "خدمة العملاء"}) {
				t.Errorf("From = %+v", in.From)
			}
			if !reflect.DeepEqual(in.To, []string{strings.ToLower(tt.out.To.Value)}) {
				t.Errorf("To = %q", in.To)
			}
			if !in.SentAt.Equal(testDate) {
				t.Errorf("Date = %v, want %v", in.SentAt, testDate)
			}
			// RFC 3834: our automatic replies are marked, people's are not.
			if in.Flags.AutoSubmitted != tt.out.Auto {
				t.Errorf("AutoSubmitted = %v, want %v", in.Flags.AutoSubmitted, tt.out.Auto)
			}
			hasSuppress := bytes.Contains(raw, []byte("\r\nX-Auto-Response-Suppress: All\r\n"))
			hasAuto := bytes.Contains(raw, []byte("\r\nAuto-Submitted: auto-replied\r\n"))
			if hasSuppress != tt.out.Auto || hasAuto != tt.out.Auto {
				t.Errorf("Auto=%v but Auto-Submitted header %v, X-Auto-Response-Suppress %v", tt.out.Auto, hasAuto, hasSuppress)
			}
		})
	}
}

// checkWire checks what SMTP servers insist on: CRLF line ends, lines
// under 998 bytes, a 7-bit header, and UTF-8 quoted-printable bodies.
func checkWire(t *testing.T, raw []byte) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in message")
	}
	header, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatal("no header/body separator")
	}
	for _, line := range bytes.Split(raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Errorf("line of %d bytes", len(line))
		}
	}
	for _, c := range header {
		if c >= 0x80 {
			t.Fatalf("8-bit byte in header:\n%s", header)
		}
	}
	if !bytes.Contains(raw, []byte("Content-Transfer-Encoding: quoted-printable")) ||
		!regexp.MustCompile(`(?i)charset="?utf-8`).Match(raw) {
		t.Errorf("body is not UTF-8 quoted-printable:\n%s", raw)
	}
	if !bytes.Contains(header, []byte("Message-Id: <")) || !bytes.Contains(header, []byte("Mime-Version: 1.0")) {
		t.Errorf("missing Message-Id or MIME-Version:\n%s", header)
	}
}

func TestComposeRejects(t *testing.T) {
	ok := message.Outbound{
		To:        message.Party{Kind: message.IdentityEmail, Value: "a@example.com"},
		Text:      "x",
		MessageID: "wasl.1@example.edu.sa",
	}
	tests := []struct {
		name   string
		mutate func(*message.Outbound)
		from   string
		want   string
	}{
		{"no message id", func(o *message.Outbound) { o.MessageID = "" }, "", "MessageID is empty"},
		{"message id with brackets", func(o *message.Outbound) { o.MessageID = "<x@y>" }, "", "without <>"},
		{"message id without @", func(o *message.Outbound) { o.MessageID = "nodomain" }, "", "local@domain"},
		{"phone recipient", func(o *message.Outbound) { o.To = message.Party{Kind: message.IdentityPhone, Value: "+966500000000"} }, "", "not an email address"},
		{"reference with space", func(o *message.Outbound) { o.References = []string{"a b@c"} }, "", "reference"},
		{"bad from", func(o *message.Outbound) {}, "not an address", "from address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := ok
			tt.mutate(&out)
			from := testFrom
			if tt.from != "" {
				from = tt.from
			}
			_, err := compose(out, from, testDate)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

// A subject or name carrying CR/LF must not be able to add headers.
func TestComposeNoHeaderInjection(t *testing.T) {
	out := message.Outbound{
		To:        message.Party{Kind: message.IdentityEmail, Value: "a@example.com", Name: "Eve\r\nBcc: victim@example.org"},
		Subject:   "hello\r\nBcc: victim@example.org",
		Text:      "x",
		MessageID: "wasl.1@example.edu.sa",
	}
	raw, err := compose(out, testFrom, testDate)
	if err != nil {
		t.Fatal(err)
	}
	if regexp.MustCompile(`(?im)^bcc:`).Match(raw) {
		t.Fatalf("header injected:\n%s", raw)
	}
	if in := Parse(raw, testOpts()); in.Subject != "hello Bcc: victim@example.org" {
		t.Fatalf("Subject = %q", in.Subject)
	}
}

func TestNewMessageID(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		id := NewMessageID("Example.EDU.sa")
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		if err := checkID("id", id); err != nil || !strings.HasSuffix(id, "@example.edu.sa") || !strings.HasPrefix(id, "wasl.") {
			t.Fatalf("bad id %q: %v", id, err)
		}
	}
	for domain, suffix := range map[string]string{"": "@localhost", "support@example.org": "@example.org", "<x.test>": "@x.test"} {
		if id := NewMessageID(domain); !strings.HasSuffix(id, suffix) {
			t.Errorf("NewMessageID(%q) = %q, want suffix %q", domain, id, suffix)
		}
	}
	// The id must survive compose and Parse unchanged.
	id := NewMessageID("example.edu.sa")
	raw, err := compose(message.Outbound{To: message.Party{Value: "a@example.com"}, Text: "x", MessageID: id}, testFrom, testDate)
	if err != nil {
		t.Fatal(err)
	}
	if in := Parse(raw, testOpts()); in.MessageID != id || in.ExternalID != id {
		t.Fatalf("MessageID %q came back as %q", id, in.MessageID)
	}
}
