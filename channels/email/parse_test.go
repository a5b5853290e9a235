package email

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

var testNow = time.Date(2026, 11, 26, 8, 0, 0, 0, time.UTC)

func testOpts() ParseOptions {
	return ParseOptions{ChannelID: 7, Now: func() time.Time { return testNow }}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read fixture: %v", err)
	}
	return raw
}

// checkInvariants holds for every input: the store can always keep the
// result (raw kept, a dedupe key, UTF-8 text without NULs for PostgreSQL) and
// a quarantined message always says why.
func checkInvariants(t testing.TB, raw []byte, in message.Inbound) {
	t.Helper()
	if !bytes.Equal(in.Raw, raw) {
		t.Fatalf("Raw not kept: %d bytes in, %d bytes kept", len(raw), len(in.Raw))
	}
	if in.Channel != message.Email {
		t.Fatalf("Channel = %q", in.Channel)
	}
	if in.ExternalID == "" {
		t.Fatal("empty ExternalID")
	}
	if in.Quarantined != (in.QuarantineReason != "") {
		t.Fatalf("Quarantined=%v but reason %q", in.Quarantined, in.QuarantineReason)
	}
	if strings.HasPrefix(in.QuarantineReason, "internal parser error") {
		t.Fatalf("parser panicked: %s", in.QuarantineReason)
	}
	if !in.Quarantined && in.From.Value == "" {
		t.Fatal("accepted a message without a sender")
	}
	strs := []string{in.ExternalID, in.From.Value, in.From.Name, in.Subject, in.Text, in.HTML,
		in.MessageID, in.InReplyTo, in.QuarantineReason}
	strs = append(strs, in.To...)
	strs = append(strs, in.References...)
	for _, a := range in.Attachments {
		strs = append(strs, a.Filename, a.ContentType)
		if a.Size != int64(len(a.Content)) {
			t.Fatalf("attachment %q: Size %d, content %d bytes", a.Filename, a.Size, len(a.Content))
		}
		if a.Filename == "" || strings.ContainsAny(a.Filename, `/\`) {
			t.Fatalf("bad attachment file name %q", a.Filename)
		}
	}
	for _, s := range strs {
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Fatalf("string not storable (invalid UTF-8 or NUL): %q", s)
		}
	}
}

type wantAtt struct {
	Filename, ContentType string
	Size                  int64
	Prefix                []byte // first bytes of the decoded content
}

func TestParseFixtures(t *testing.T) {
	tests := []struct {
		file        string
		maxSize     int64
		messageID   string // "" means none, and ExternalID is the sha256 of raw
		from, name  string
		to          []string
		subject     string
		text        []string // substrings the text must contain
		notText     []string // and must not
		hasHTML     bool
		atts        []wantAtt
		inReplyTo   string
		references  []string
		flags       message.Flags
		sentAt      time.Time
		quarantined string // substring of the reason; "" means not quarantined
	}{
		{
			file:      "win1256-arabic.eml",
			messageID: "DB9PR04MB8412A1B2C3D4E5F6@DB9PR04MB8412.eurprd04.prod.outlook.com",
			from:      "m.otaibi@uni.example.edu.sa", name: "محمد العتيبي",
			to:      []string{"support@example.edu.sa"},
			subject: "طلب صيانة جهاز العرض في القاعة 12",
			text: []string{"السلام عليكم ورحمة الله،\n\nنرجو التكرم بإرسال فني لصيانة جهاز العرض في القاعة 12 بمبنى كلية الهندسة، حيث",
				"د. محمد العتيبي\nقسم الهندسة الكهربائية"},
			notText: []string{"\r", "=\n", "=C7"},
			sentAt:  time.Date(2026, 11, 8, 6, 13, 58, 0, time.UTC),
		},
		{
			file:      "iso-8859-6.eml",
			messageID: "20261109080241.GA1234@student.example.edu.sa",
			from:      "sara.q@student.example.edu.sa", name: "سارة القحطاني",
			to:      []string{"support@example.edu.sa"},
			subject: "استفسار عن إخلاء الطرف",
			text:    []string{"أنا طالب في السنة الأخيرة وأريد أن أعرف خطوات إخلاء الطرف قبل التخرج؟"},
			notText: []string{"\uFFFD"},
			sentAt:  time.Date(2026, 11, 9, 8, 2, 41, 0, time.UTC),
		},
		{
			file:      "utf8-base64.eml",
			messageID: "CAF=abc123XYZ+def@mail.gmail.com",
			from:      "ahmed.salem@example.com", name: "Ahmed Salem",
			to:      []string{"support@example.edu.sa"},
			subject: "Video coverage — تغطية مؤتمر",
			text:    []string{"Hello,\nCould you cover our conference on Tuesday with video? مؤتمر الطاقة المتجددة\nThanks,"},
			notText: []string{"\uFEFF", "\r"},
			sentAt:  time.Date(2026, 11, 10, 7, 45, 0, 0, time.UTC),
		},
		{
			file:      "html-only.eml",
			messageID: "form-77@example.edu.sa",
			from:      "forms@example.edu.sa", name: "Equipment Form", // Reply-To is not the identity
			to:      []string{"support@example.edu.sa"},
			subject: "Equipment request",
			hasHTML: true,
			text: []string{"New request\n\nDear team,\nI need a projector for room B-204 & a microphone.",
				"Details: equipment form", "- Date: 12/11/2026\n- Time: 10:00 – 12:00", "شكرا لكم"},
			notText: []string{"tracking", "color: red", "Form submission", "<", "&amp;", "&nbsp;", "\n\n\n"},
		},
		{
			file:      "alternative.eml",
			messageID: "CAJ7q9=Hk2mP@mail.gmail.com",
			from:      "noura.h@gmail.com", name: "نورة",
			to:      []string{"support@example.edu.sa"},
			subject: "ساعات العمل",
			hasHTML: true,
			text:    []string{"صباح الخير،\nمتى تبدأ ساعات العمل يوم الأحد؟"},
			notText: []string{"<b>", "dir="},
		},
		{
			file:      "attachment-rfc2231.eml",
			messageID: "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b@example.org",
			from:      "khalid@example.org", name: "Khalid Al-Harbi",
			to:      []string{"support@example.edu.sa"},
			subject: "Clearance form attached",
			// format=flowed soft break undone
			text: []string{"Please find the clearance form and the lecture schedule attached."},
			atts: []wantAtt{
				{Filename: "نموذج طلب إخلاء طرف.pdf", ContentType: "application/pdf", Size: 77, Prefix: []byte("%PDF-1.4")},
				{Filename: "جدول المحاضرات الأسبوعي للفصل الثاني.xlsx",
					ContentType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", Size: 264, Prefix: []byte("PK\x03\x04")},
			},
		},
		{
			file:      "attachment-rfc2047.eml",
			messageID: "AM0PR10MB3155F00D@AM0PR10MB3155.EURPRD10.PROD.OUTLOOK.COM",
			from:      "a.shammari@uni.example.edu.sa", name: "عبدالله الشمري",
			to:      []string{"support@example.edu.sa"},
			subject: "عطل في السبورة الذكية",
			hasHTML: true,
			text:    []string{"السبورة الذكية في القاعة 5 لا تعمل."},
			atts: []wantAtt{
				{Filename: "image001.png", ContentType: "image/png", Size: 32, Prefix: []byte("\x89PNG")},
				{Filename: "صورة العطل.jpg", ContentType: "image/jpeg", Size: 53, Prefix: []byte("\xff\xd8\xff")},
			},
		},
		{
			file:      "reply.eml",
			messageID: "reply-3@example.com",
			from:      "omar@example.com", name: "Omar",
			to:         []string{"support@example.edu.sa"},
			subject:    "Re: [#EDU-2026-000123] Projector in room B-204",
			text:       []string{"Thanks, it works now.", "> We sent a technician."},
			inReplyTo:  "wasl.2.ab12cd@example.edu.sa",
			references: []string{"first-1@example.com", "wasl.1.ff00ee@example.edu.sa", "wasl.2.ab12cd@example.edu.sa"},
		},
		{
			file:      "ooo-outlook.eml",
			messageID: "b2c3d4e5f6a7@PAXPR04MB9999.eurprd04.prod.outlook.com",
			from:      "hind.d@uni.example.edu.sa", name: "هند الدوسري",
			to:         []string{"support@example.edu.sa"},
			subject:    "رد تلقائي: [#EDU-2026-000123] طلب صيانة",
			text:       []string{"أنا خارج المكتب حتى 20 نوفمبر.\nI am out of the office"},
			inReplyTo:  "wasl.5.aa11@example.edu.sa",
			references: []string{"wasl.5.aa11@example.edu.sa"},
			flags:      message.Flags{AutoSubmitted: true},
		},
		{
			file:      "bounce.eml",
			messageID: "20261117070001.4Xk9Q@mx.example.edu.sa",
			from:      "mailer-daemon@mx.example.edu.sa", name: "Mail Delivery System",
			to:      []string{"support@example.edu.sa"},
			subject: "Undelivered Mail Returned to Sender",
			text:    []string{"could not\nbe delivered", "<nobody@example.invalid>: Host or domain name not found."},
			notText: []string{"Reporting-MTA", "Your request was received."},
			atts: []wantAtt{
				{Filename: "attachment-1.txt", ContentType: "message/delivery-status", Size: 121, Prefix: []byte("Reporting-MTA: dns;")},
				{Filename: "Re: [#EDU-2026-000200] Request received.eml", ContentType: "message/rfc822", Size: 218, Prefix: []byte("From: Support")},
			},
			flags: message.Flags{Bounce: true, AutoSubmitted: true},
		},
		{
			file:      "list.eml",
			messageID: "announce-2026-11-18@lists.example.edu.sa",
			from:      "it-announce@lists.example.edu.sa", name: "IT Announcements",
			to:      []string{"all-staff@lists.example.edu.sa"},
			subject: "[IT] Planned network maintenance on Friday",
			text:    []string{"The network will be down"},
			flags:   message.Flags{List: true, Bulk: true},
		},
		{
			file:      "noreply.eml",
			messageID: "notif-88811@portal.example.edu.sa",
			from:      "no-reply@portal.example.edu.sa", name: "Portal Notifications",
			to:      []string{"support@example.edu.sa"},
			subject: "Your password will expire in 3 days",
			text:    []string{"Please change your password."},
			flags:   message.Flags{NoReply: true},
		},
		{
			// No Message-ID, no display name, and a raw 8-bit windows-1256
			// Subject that the client forgot to encode.
			file:    "no-message-id.eml",
			from:    "reception@clinic.example.com",
			to:      []string{"support@example.edu.sa"},
			subject: "اقتراح",
			text:    []string{"اقتراح: تمديد ساعات العمل يوم الخميس"},
			sentAt:  time.Date(2026, 11, 19, 5, 30, 0, 0, time.UTC),
		},
		{
			// mbox "From " line first; message/rfc822 attached inline; two To.
			file:      "forwarded.eml",
			messageID: "fwd-1@example.org",
			from:      "khalid@example.org", name: "Khalid",
			to:      []string{"support@example.edu.sa", "desk2@example.edu.sa"},
			subject: "Fwd: approval",
			text:    []string{"See the approval below."},
			notText: []string{"Approved."},
			atts: []wantAtt{
				{Filename: "موافقة على الطلب.eml", ContentType: "message/rfc822", Size: 220, Prefix: []byte("From: Dean Office")},
			},
		},
		{
			// Over the limit: quarantined, but the header is still read.
			file:      "oversized.eml",
			maxSize:   4096,
			messageID: "big-1@example.com",
			from:      "big@example.com", name: "Big Sender",
			to:          []string{"support@example.edu.sa"},
			subject:     "ملف كبير",
			quarantined: "message is 4.4 KB, over the 4 KB limit",
		},
		{
			file:        "garbage.bin",
			quarantined: "not an email: malformed MIME header key in header field 1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw := readFixture(t, tt.file)
			opts := testOpts()
			opts.MaxSize = tt.maxSize
			in := Parse(raw, opts)
			checkInvariants(t, raw, in)

			if in.ChannelID != 7 || !in.ReceivedAt.Equal(testNow) {
				t.Errorf("ChannelID=%d ReceivedAt=%v", in.ChannelID, in.ReceivedAt)
			}
			if tt.quarantined == "" && in.Quarantined {
				t.Fatalf("quarantined: %s", in.QuarantineReason)
			}
			if tt.quarantined != "" && (!in.Quarantined || !strings.Contains(in.QuarantineReason, tt.quarantined)) {
				t.Fatalf("quarantine reason = %q (quarantined=%v), want it to contain %q", in.QuarantineReason, in.Quarantined, tt.quarantined)
			}
			if in.MessageID != tt.messageID {
				t.Errorf("MessageID = %q, want %q", in.MessageID, tt.messageID)
			}
			wantExt := tt.messageID
			if wantExt == "" {
				sum := sha256.Sum256(raw)
				wantExt = "sha256:" + hex.EncodeToString(sum[:])
			}
			if in.ExternalID != wantExt {
				t.Errorf("ExternalID = %q, want %q", in.ExternalID, wantExt)
			}
			wantFrom := message.Party{Kind: message.IdentityEmail, Value: tt.from, Name: tt.name}
			if tt.from == "" {
				wantFrom = message.Party{}
			}
			if in.From != wantFrom {
				t.Errorf("From = %+v, want %+v", in.From, wantFrom)
			}
			if !reflect.DeepEqual(in.To, tt.to) {
				t.Errorf("To = %q, want %q", in.To, tt.to)
			}
			if in.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", in.Subject, tt.subject)
			}
			for _, s := range tt.text {
				if !strings.Contains(in.Text, s) {
					t.Errorf("Text lacks %q; Text:\n%s", s, in.Text)
				}
			}
			for _, s := range tt.notText {
				if strings.Contains(in.Text, s) {
					t.Errorf("Text contains %q; Text:\n%s", s, in.Text)
				}
			}
			if (in.HTML != "") != tt.hasHTML {
				t.Errorf("HTML present = %v, want %v", in.HTML != "", tt.hasHTML)
			}
			if len(in.Attachments) != len(tt.atts) {
				t.Fatalf("%d attachments, want %d: %+v", len(in.Attachments), len(tt.atts), Summarize(in).Attachments)
			}
			for i, w := range tt.atts {
				a := in.Attachments[i]
				if a.Filename != w.Filename || a.ContentType != w.ContentType || a.Size != w.Size || !bytes.HasPrefix(a.Content, w.Prefix) {
					t.Errorf("attachment %d = {%q %q %d %q…}, want {%q %q %d %q…}", i,
						a.Filename, a.ContentType, a.Size, a.Content[:min(len(a.Content), 8)],
						w.Filename, w.ContentType, w.Size, w.Prefix)
				}
			}
			if in.InReplyTo != tt.inReplyTo {
				t.Errorf("InReplyTo = %q, want %q", in.InReplyTo, tt.inReplyTo)
			}
			if !reflect.DeepEqual(in.References, tt.references) {
				t.Errorf("References = %q, want %q", in.References, tt.references)
			}
			if in.Flags != tt.flags {
				t.Errorf("Flags = %+v, want %+v", in.Flags, tt.flags)
			}
			if !tt.sentAt.IsZero() && !in.SentAt.Equal(tt.sentAt) {
				t.Errorf("SentAt = %v, want %v", in.SentAt, tt.sentAt)
			}
		})
	}
}

// The id of a mail without Message-ID must survive re-delivery of the same
// bytes (so dedupe works) and must differ for different bytes.
func TestParseExternalIDStable(t *testing.T) {
	raw := readFixture(t, "no-message-id.eml")
	a := Parse(raw, testOpts())
	b := Parse(append([]byte(nil), raw...), ParseOptions{ChannelID: 9})
	if a.ExternalID != b.ExternalID || !strings.HasPrefix(a.ExternalID, "sha256:") || len(a.ExternalID) != len("sha256:")+64 {
		t.Fatalf("ExternalID not stable: %q vs %q", a.ExternalID, b.ExternalID)
	}
	changed := bytes.Replace(raw, []byte("19 Nov"), []byte("20 Nov"), 1)
	if c := Parse(changed, testOpts()); c.ExternalID == a.ExternalID {
		t.Fatal("different bytes gave the same ExternalID")
	}
	if b.ReceivedAt.IsZero() {
		t.Fatal("nil Now must default to time.Now")
	}
}

func TestParseDefaultSizeLimit(t *testing.T) {
	header := "From: =?UTF-8?B?2LPYp9mE2YU=?= <salem@example.com>\r\nSubject: scan\r\nMessage-ID: <huge@example.com>\r\nContent-Type: text/plain\r\n\r\n"
	raw := append([]byte(header), bytes.Repeat([]byte("0123456789abcdef\r\n"), 31<<20/18+1)...)
	in := Parse(raw, testOpts()) // MaxSize 0: the 25 MB default
	checkInvariants(t, raw, in)
	if !in.Quarantined || in.QuarantineReason != "message is 31 MB, over the 25 MB limit" {
		t.Fatalf("reason = %q", in.QuarantineReason)
	}
	if in.From.Value != "salem@example.com" || in.From.Name != "سالم" || in.Subject != "scan" || in.ExternalID != "huge@example.com" {
		t.Fatalf("header not parsed: %+v", Summarize(in))
	}
	if in.Text != "" {
		t.Fatal("body of an oversized message must not be parsed")
	}
	// The same mail under the limit is fine.
	small := append([]byte(header), "hello\r\n"...)
	if in := Parse(small, testOpts()); in.Quarantined || in.Text != "hello" {
		t.Fatalf("small mail: %+v", Summarize(in))
	}
}

// Broken input of many kinds: each must be quarantined with a reason that
// names the problem, or accepted when leniency is the right call.
func TestParseBrokenInput(t *testing.T) {
	hdr := "From: a@example.com\r\nMessage-ID: <x@example.com>\r\n"
	deep := hdr + "Content-Type: multipart/mixed; boundary=b0\r\n\r\n"
	for i := 1; i <= maxMIMEDepth+2; i++ {
		deep += "--b" + strconv.Itoa(i-1) + "\r\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\r\n\r\n"
	}
	tests := []struct {
		name   string
		raw    string
		reason string // "" means accepted
		text   string
	}{
		{"empty", "", "empty message", ""},
		{"whitespace", " \r\n\r\n ", "empty message", ""},
		{"plain prose", "Hello there, this is not a mail\n", "not an email: malformed MIME header line in header field 1", ""},
		{"no from", "Subject: hi\r\n\r\nbody\r\n", "no sender", ""},
		{"from without address", "From: Someone\r\n\r\nbody\r\n", "no sender", ""},
		{"header only, no body", hdr, "", ""},
		{"bad header after good ones", hdr + "Subject: x\r\nthis line has no colon\r\n\r\nbody", "malformed header: malformed MIME header line in header field 4", ""},
		{"multipart without boundary", hdr + "Content-Type: multipart/mixed\r\n\r\nhello\r\n", "multipart/mixed without a boundary", ""},
		{"boundary never appears", hdr + "Content-Type: multipart/mixed; boundary=zzz\r\n\r\nhello\r\n", "has no part delimited by its boundary", ""},
		{"too deep", deep, "MIME structure too deep", ""},
		{"missing final boundary is tolerated", hdr + "Content-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\ntruncated text\r\n", "", "truncated text"},
		{"bad base64 is decoded leniently", hdr + "Content-Transfer-Encoding: base64\r\n\r\nSGVs!!bG8g*d29y\r\nbGQ=\r\n", "", "Hello world"},
		{"bad quoted-printable kept literally", hdr + "Content-Transfer-Encoding: quoted-printable\r\n\r\n2+2=4 and =C3=A9t=C3=A9 =ZZ soft=\r\nbreak\r\n", "", "2+2=4 and été =ZZ softbreak"},
		{"unknown charset", hdr + "Content-Type: text/plain; charset=x-klingon\r\n\r\nqapla\r\n", "", "qapla"},
		{"utf-8 that is really windows-1256", hdr + "Content-Type: text/plain; charset=utf-8\r\n\r\n\xd4\xdf\xd1\xc7\r\n", "", "شكرا"},
		{"NUL and CR in body", hdr + "\r\na\x00b\rc\r\n", "", "ab\nc"},
		{"mbox From line", "From a@example.com Mon Nov 23 10:00:00 2026\n" + hdr + "\r\nhi\r\n", "", "hi"},
		{"invalid content type is text/plain", hdr + "Content-Type: garbage\r\n\r\nstill text\r\n", "", "still text"},
		{"duplicate params do not fail", hdr + "Content-Type: text/plain; charset=utf-8; charset=latin1\r\n\r\nok\r\n", "", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.raw)
			in := Parse(raw, testOpts())
			checkInvariants(t, raw, in)
			if tt.reason == "" {
				if in.Quarantined {
					t.Fatalf("quarantined: %s", in.QuarantineReason)
				}
			} else if !in.Quarantined || !strings.Contains(in.QuarantineReason, tt.reason) {
				t.Fatalf("reason = %q, want it to contain %q", in.QuarantineReason, tt.reason)
			}
			if tt.text != "" && in.Text != tt.text {
				t.Fatalf("Text = %q, want %q", in.Text, tt.text)
			}
		})
	}
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   message.Flags
	}{
		{"plain person", "From: a@example.com", message.Flags{}},
		{"auto-submitted no", "From: a@example.com\r\nAuto-Submitted: no", message.Flags{}},
		{"auto-generated", "From: a@example.com\r\nAuto-Submitted: auto-generated", message.Flags{AutoSubmitted: true}},
		{"auto-replied with params", "From: a@example.com\r\nAuto-Submitted: Auto-Replied; owner-email=\"x@y\"", message.Flags{AutoSubmitted: true}},
		{"x-autoreply", "From: a@example.com\r\nX-Autoreply: yes", message.Flags{AutoSubmitted: true}},
		{"x-autorespond", "From: a@example.com\r\nX-Autorespond: vacation", message.Flags{AutoSubmitted: true}},
		{"suppress all", "From: a@example.com\r\nX-Auto-Response-Suppress: All", message.Flags{AutoSubmitted: true}},
		{"suppress oof", "From: a@example.com\r\nX-Auto-Response-Suppress: DR, OOF, AutoReply", message.Flags{AutoSubmitted: true}},
		{"suppress receipts only", "From: a@example.com\r\nX-Auto-Response-Suppress: DR, RN, NRN", message.Flags{}},
		{"precedence bulk", "From: a@example.com\r\nPrecedence: Bulk", message.Flags{Bulk: true}},
		{"precedence junk", "From: a@example.com\r\nPrecedence: junk", message.Flags{Bulk: true}},
		{"precedence auto_reply", "From: a@example.com\r\nPrecedence: auto_reply", message.Flags{AutoSubmitted: true}},
		{"precedence first-class", "From: a@example.com\r\nPrecedence: first-class", message.Flags{}},
		{"list-unsubscribe only", "From: a@example.com\r\nList-Unsubscribe: <mailto:u@example.com>", message.Flags{List: true}},
		{"postmaster", "From: Postmaster@example.com", message.Flags{Bounce: true}},
		{"null return path", "From: a@example.com\r\nReturn-Path: <>", message.Flags{Bounce: true}},
		{"real return path", "From: a@example.com\r\nReturn-Path: <a@example.com>", message.Flags{}},
		{"failed recipients", "From: a@example.com\r\nX-Failed-Recipients: b@example.com", message.Flags{Bounce: true}},
		{"dsn content type", "From: a@example.com\r\nContent-Type: multipart/report; report-type=\"delivery-status\"; boundary=x", message.Flags{Bounce: true}},
		{"read receipt", "From: a@example.com\r\nContent-Type: multipart/report; report-type=disposition-notification; boundary=x", message.Flags{AutoSubmitted: true}},
		{"noreply", "From: noreply@example.com", message.Flags{NoReply: true}},
		{"do_not_reply", "From: Do_Not_Reply@example.com", message.Flags{NoReply: true}},
		{"donotreply", "From: donotreply@example.com", message.Flags{NoReply: true}},
		{"github-noreply with tag", "From: x+github-noreply@example.com", message.Flags{}},
		{"prefixed noreply", "From: notifications-noreply@example.com", message.Flags{NoReply: true}},
		{"no.reply", "From: no.reply@example.com", message.Flags{NoReply: true}},
		{"domain noreply is not local part", "From: info@noreply.example.com", message.Flags{}},
		{"replyto person is not noreply", "From: nora@example.com", message.Flags{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(tt.header + "\r\n\r\nbody\r\n")
			in := Parse(raw, testOpts())
			checkInvariants(t, raw, in)
			if in.Flags != tt.want {
				t.Fatalf("Flags = %+v, want %+v", in.Flags, tt.want)
			}
		})
	}
}

func TestParseMediaHeader(t *testing.T) {
	tests := []struct {
		in       string
		typ      string
		key, val string
	}{
		{`text/plain; charset="windows-1256"`, "text/plain", "charset", "windows-1256"},
		{`Text/HTML;CHARSET=UTF-8;`, "text/html", "charset", "UTF-8"},
		{`attachment; filename*=UTF-8''%D9%85%D9%84%D9%81.pdf`, "attachment", "filename", "ملف.pdf"},
		{`attachment; filename*=windows-1256'ar'%E3%E1%DD.txt`, "attachment", "filename", "ملف.txt"},
		{`attachment; filename*=iso-8859-6''%E7%E6%CF.txt`, "attachment", "filename", "هند.txt"},
		{"attachment; filename*0*=UTF-8''%D9%85; filename*1*=%D9%84%D9%81; filename*2=\".doc\"", "attachment", "filename", "ملف.doc"},
		{`attachment; filename="plain.pdf"; filename*=UTF-8''%D9%85.pdf`, "attachment", "filename", "م.pdf"},
		{`attachment; filename="=?UTF-8?B?2YXZhNmBLnBkZg==?="`, "attachment", "filename", "ملف.pdf"},
		{`attachment; filename=my report.pdf`, "attachment", "filename", "my report.pdf"},
		{`attachment; filename="a\"b.txt"`, "attachment", "filename", `a"b.txt`},
		{`attachment; filename="unterminated.txt`, "attachment", "filename", "unterminated.txt"},
		{`multipart/mixed; boundary="----=_Part_1"; boundary=dup`, "multipart/mixed", "boundary", "----=_Part_1"},
		{`inline; filename*=UTF-8''bad%ZZpct.txt`, "inline", "filename", "bad%ZZpct.txt"},
		{``, "", "x", ""},
	}
	for _, tt := range tests {
		typ, params := mediaType(tt.in)
		if typ != tt.typ || params[tt.key] != tt.val {
			t.Errorf("mediaType(%q) = %q, %s=%q; want %q, %q", tt.in, typ, tt.key, params[tt.key], tt.typ, tt.val)
		}
	}
}

func TestParseHTMLToText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<p>One</p><p>Two</p>", "One\n\nTwo"},
		{"a<br>b<br/><br>c", "a\nb\n\nc"},
		{"<div>x</div><div>y</div>", "x\ny"},
		{"<script>alert(1)</script><style>p{}</style>text", "text"},
		{"<head><title>T</title></head><body>B</body>", "B"},
		{`<a href="https://x">the link</a>`, "the link"},
		{"&lt;tag&gt; &amp; &quot;q&quot; &#1587;&#1604;&#1575;&#1605;", `<tag> & "q" سلام`},
		{"spaces   \n\t collapse", "spaces collapse"},
		{"<p>a</p>\n\n\n<p></p><p></p><p>b</p>", "a\n\nb"},
		{"<pre>keep\n  this</pre>", "keep\n  this"},
		{"<ul><li>one<li>two</ul>", "- one\n- two"},
		{"<table><tr><td>k</td><td>v</td></tr></table>", "k v"},
		{"<p>unclosed <b>bold", "unclosed bold"},
		{"<style>never closed", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := htmlToText(tt.in); got != tt.want {
			t.Errorf("htmlToText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseUnflow(t *testing.T) {
	tests := []struct {
		in    string
		delsp bool
		want  string
	}{
		{"one \ntwo \nthree\nnext", false, "one two three\nnext"},
		{"joined-\nnot", false, "joined-\nnot"},
		{"Arabic قطعة \nثانية", false, "Arabic قطعة ثانية"},
		{"delsp  \nword", true, "delsp word"},
		{"> quoted \n> more\nreply", false, "> quoted more\nreply"},
		{">> deep \n> shallow", false, ">> deep \n> shallow"},
		{" From stuffed", false, "From stuffed"},
		{"sig\n-- \nName", false, "sig\n-- \nName"},
	}
	for _, tt := range tests {
		if got := unflow(tt.in, tt.delsp); got != tt.want {
			t.Errorf("unflow(%q, %v) = %q, want %q", tt.in, tt.delsp, got, tt.want)
		}
	}
}

func TestParseDate(t *testing.T) {
	riyadh := time.FixedZone("", 3*3600)
	want := time.Date(2026, 11, 8, 9, 13, 58, 0, riyadh)
	for _, v := range []string{
		"Sun, 8 Nov 2026 09:13:58 +0300",
		"Sun, 08 Nov 2026 09:13:58 +0300 (Arab Standard Time)",
		"8 Nov 2026 09:13:58 +0300",
		"Sun,  8 Nov 2026 09:13:58   +0300",
		"2026-11-08T09:13:58+03:00",
	} {
		if got := headerDate(v); !got.Equal(want) {
			t.Errorf("headerDate(%q) = %v", v, got)
		}
	}
	if got := headerDate("yesterday-ish"); !got.IsZero() {
		t.Errorf("garbage date parsed as %v", got)
	}
}

func TestParseReferencesCapped(t *testing.T) {
	var refs []string
	for i := range 150 {
		refs = append(refs, "<r."+strconv.Itoa(i)+"@example.com>")
	}
	raw := []byte("From: a@example.com\r\nReferences: " + strings.Join(refs, "\r\n ") + "\r\n\r\nx")
	in := Parse(raw, testOpts())
	if len(in.References) != maxRefs {
		t.Fatalf("%d references kept, want %d", len(in.References), maxRefs)
	}
	if in.References[0] != strings.Trim(refs[0], "<>") || in.References[maxRefs-1] != strings.Trim(refs[149], "<>") {
		t.Fatalf("want the thread root and the latest ids kept, got %q … %q", in.References[0], in.References[maxRefs-1])
	}
}

func TestSummarizeJSON(t *testing.T) {
	in := Parse(readFixture(t, "attachment-rfc2231.eml"), testOpts())
	b, err := json.Marshal(Summarize(in))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"message_id", "from", "to", "subject", "text", "has_html", "attachments",
		"in_reply_to", "references", "auto_submitted", "quarantined", "reason", "flags"} {
		if _, ok := got[k]; !ok {
			t.Errorf("summary JSON lacks %q: %s", k, b)
		}
	}
	if refs, ok := got["references"].([]any); !ok || len(refs) != 0 {
		t.Errorf("references must be [] not null: %s", b)
	}
	atts := got["attachments"].([]any)
	first := atts[0].(map[string]any)
	if first["filename"] != "نموذج طلب إخلاء طرف.pdf" || first["content_type"] != "application/pdf" || first["size"] != float64(77) {
		t.Errorf("attachment summary = %v", first)
	}
}

func BenchmarkParse(b *testing.B) {
	for _, name := range []string{"win1256-arabic.eml", "attachment-rfc2231.eml", "html-only.eml"} {
		raw := readFixture(b, name)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				Parse(raw, ParseOptions{})
			}
		})
	}
}
