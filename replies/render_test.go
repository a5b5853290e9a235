package replies

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files from the current output")

// Times in Riyadh for the test bank's calendar.
func openNow(t *testing.T) time.Time { // Sunday 10:00
	return at(t, mustLoc(t, "Asia/Riyadh"), "2026-09-20 10:00:00")
}

func fridayNow(t *testing.T) time.Time { // weekend
	return at(t, mustLoc(t, "Asia/Riyadh"), "2026-09-25 20:15:00")
}

func holidayNow(t *testing.T) time.Time { // National Day, a Wednesday
	return at(t, mustLoc(t, "Asia/Riyadh"), "2026-09-23 09:00:00")
}

func TestRenderKinds(t *testing.T) {
	b := loadTestBank(t)
	tests := []struct {
		name        string
		req         Request
		subject     string
		contains    []string
		notContains []string
	}{
		{"acknowledgement ar",
			Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "ar", Channel: message.Email, TicketRef: "EDU-2026-000123", Name: "سارة"},
			"[EDU-2026-000123] تم استلام طلبك",
			[]string{"مرحبًا سارة،", "نصلح أجهزة العرض", "رقم طلبك EDU-2026-000123 لدى مركز الصيانة خلال يومي عمل.",
				"روابط مفيدة:\n- نموذج الصيانة: https://example.edu.sa/forms/repair\n- منظومة إتقان: https://example.edu.sa/itqan",
				"ساعات العمل: من الأحد إلى الخميس، من 7:30 صباحًا حتى 2:30 ظهرًا بتوقيت الرياض"},
			[]string{"خارج الدوام", "Hello"}},
		{"acknowledgement en",
			Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "en", Channel: message.Email, TicketRef: "EDU-2026-000123", Name: "Sara"},
			"[EDU-2026-000123] We received your request",
			[]string{"Hello Sara,", "We repair projectors", "Your ticket is EDU-2026-000123 with the Maintenance Center, within 2 working days.",
				"Useful links:\n- Repair form: https://example.edu.sa/forms/repair",
				"Working hours: Sunday–Thursday, 7:30 AM–2:30 PM (Riyadh time)"},
			[]string{"We are closed", "مرحبًا"}},
		{"answer ar",
			Request{Kind: KindAnswer, TopicID: "faq", Language: "ar", Channel: message.WhatsApp},
			"بخصوص استفسارك: الأسئلة العامة",
			[]string{"مرحبًا،", "نقدم خدمات القاعات.", "ساعات العمل:"},
			[]string{"روابط مفيدة", "رقم طلبك"}},
		{"answer en",
			Request{Kind: KindAnswer, TopicID: "faq", Language: "en", Channel: message.SMS},
			"About your inquiry: General questions",
			[]string{"Hello,", "We look after the classrooms.", "Working hours:"},
			[]string{"Useful links", "ticket"}},
		{"referral ar",
			Request{Kind: KindReferral, TopicID: "grades", Language: "ar", Channel: message.Email},
			"الجهة المختصة بطلبك: عمادة القبول والتسجيل",
			[]string{"الدرجات ليست من اختصاصنا.", "الجهة المختصة: عمادة القبول والتسجيل، registrar@example.edu.sa، https://example.edu.sa/registrar"},
			nil},
		{"referral en",
			Request{Kind: KindReferral, TopicID: "grades", Language: "en", Channel: message.WhatsApp},
			"Who handles your request: the Registrar",
			[]string{"Grades are not ours.", "Handled by the Registrar: registrar@example.edu.sa, https://example.edu.sa/registrar"},
			nil},
		{"fallback ar",
			Request{Kind: KindFallback, Language: "ar", Channel: message.Email},
			"تم استلام رسالتك",
			[]string{"لم نفهم طلبك، نرجو التوضيح.", "ساعات العمل:"},
			[]string{"روابط"}},
		{"fallback en",
			Request{Kind: KindFallback, Language: "en", Channel: message.SMS},
			"We received your message",
			[]string{"We could not tell what you need; please tell us more.", "Working hours:"},
			nil},
		{"closing ar",
			Request{Kind: KindClosing, Language: "ar", Channel: message.Email, TicketRef: "EDU-2026-000123"},
			"[EDU-2026-000123] تم إغلاق طلبك",
			[]string{"أُغلق طلبك EDU-2026-000123. قيّمنا: https://example.edu.sa/survey?src=test&x=1"},
			[]string{"ساعات العمل"}},
		{"closing en",
			Request{Kind: KindClosing, Language: "en", Channel: message.WhatsApp, TicketRef: "EDU-2026-000123", TopicID: "repair"},
			"[EDU-2026-000123] Your request is closed",
			[]string{"Ticket EDU-2026-000123 closed. Rate us: https://example.edu.sa/survey?src=test&x=1"},
			[]string{"Working hours", "Useful links"}},
		// Small talk: the one line and nothing else — no greeting, hours or links.
		{"smalltalk ar",
			Request{Kind: KindSmallTalk, TopicID: "chat", Language: "ar", Channel: message.WhatsApp, Name: "سارة"},
			"شكرًا لتواصلك",
			[]string{"العفو يا سارة، نحن في الخدمة."},
			[]string{"مرحبًا", "ساعات العمل", "روابط"}},
		{"smalltalk en",
			Request{Kind: KindSmallTalk, TopicID: "chat", Language: "en", Channel: message.Email},
			"Thank you for your message",
			[]string{"You're welcome; we're here to help."},
			[]string{"Hello", "Working hours", "links"}},
		// Choose: the bank's question, then the services numbered with their
		// form (an out-of-scope one with its office's page), then hours.
		{"choose ar",
			Request{Kind: KindChoose, Topics: []string{"repair", "grades", "faq"}, Language: "ar", Channel: message.Email},
			"أي خدمة تحتاج؟",
			[]string{"مرحبًا،", "أي هذه الخدمات تقصد؟\n\n1- الصيانة: https://example.edu.sa/forms/repair\n2- الدرجات: https://example.edu.sa/registrar\n3- الأسئلة العامة", "ساعات العمل:"},
			[]string{"روابط مفيدة", "3- الأسئلة العامة:"}},
		{"choose en",
			Request{Kind: KindChoose, Topics: []string{"faq", "repair"}, Language: "en", Channel: message.SMS},
			"Which service do you need?",
			[]string{"Which of these do you need?\n\n1- General questions\n2- Repairs: https://example.edu.sa/forms/repair", "Working hours:"},
			[]string{"Useful links", "3-", "ticket"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Now = openNow(t)
			r, err := b.Render(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject != tt.subject {
				t.Errorf("Subject = %q, want %q", r.Subject, tt.subject)
			}
			for _, s := range tt.contains {
				if !strings.Contains(r.Text, s) {
					t.Errorf("Text lacks %q:\n%s", s, r.Text)
				}
			}
			for _, s := range tt.notContains {
				if strings.Contains(r.Text, s) {
					t.Errorf("Text has %q:\n%s", s, r.Text)
				}
			}
			if (r.HTML != "") != (tt.req.Channel == message.Email) {
				t.Errorf("HTML set = %v for channel %s", r.HTML != "", tt.req.Channel)
			}
		})
	}
}

func TestRenderOutOfHours(t *testing.T) {
	b := loadTestBank(t)
	ry := mustLoc(t, "Asia/Riyadh")
	tests := []struct {
		name string
		lang string
		now  time.Time
		want string // "" when no notice is expected
	}{
		{"open at 07:30", "en", at(t, ry, "2026-09-20 07:30:00"), ""},
		{"closed at 14:30", "en", at(t, ry, "2026-09-20 14:30:00"), "We are closed; back Monday 21 September at 7:30 AM (Riyadh time)."},
		{"friday evening", "en", fridayNow(t), "We are closed; back Sunday 27 September at 7:30 AM (Riyadh time)."},
		{"friday evening ar", "ar", fridayNow(t), "نحن خارج الدوام، نعود الأحد 27 سبتمبر الساعة 7:30 صباحًا بتوقيت الرياض."},
		{"national day", "en", holidayNow(t), "We are closed (National Day); back Thursday 24 September at 7:30 AM (Riyadh time)."},
		{"national day ar", "ar", holidayNow(t), "نحن خارج الدوام (اليوم الوطني)، نعود الخميس 24 سبتمبر الساعة 7:30 صباحًا بتوقيت الرياض."},
		{"open, customer in UTC", "ar", at(t, time.UTC, "2026-09-20 05:00:00"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kind := range []Kind{KindAcknowledgement, KindAnswer, KindReferral, KindFallback} {
				req := Request{Kind: kind, TopicID: "repair", Language: tt.lang, Channel: message.Email, TicketRef: "EDU-1", Now: tt.now}
				if kind == KindReferral {
					req.TopicID = "grades"
				}
				r, err := b.Render(req)
				if err != nil {
					t.Fatal(err)
				}
				notice := strings.Contains(r.Text, "We are closed") || strings.Contains(r.Text, "خارج الدوام")
				if tt.want == "" && notice {
					t.Errorf("%s: out-of-hours notice while open:\n%s", kind, r.Text)
				}
				if tt.want != "" && !strings.HasSuffix(r.Text, "\n\n"+tt.want) {
					t.Errorf("%s: text does not end with the notice %q:\n%s", kind, tt.want, r.Text)
				}
			}
			// Closing replies never carry the notice: staff close tickets at any hour.
			r, err := b.Render(Request{Kind: KindClosing, Language: tt.lang, Channel: message.SMS, TicketRef: "EDU-1", Now: tt.now})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.Text, "closed;") || strings.Contains(r.Text, "خارج الدوام") {
				t.Errorf("closing has the out-of-hours notice:\n%s", r.Text)
			}
		})
	}
}

func TestRenderEscaping(t *testing.T) {
	b := loadTestBank(t)
	name := `<script>alert("x")</script> & Co`
	for _, lang := range []string{"ar", "en"} {
		t.Run(lang, func(t *testing.T) {
			r, err := b.Render(Request{Kind: KindAcknowledgement, TopicID: "repair", Language: lang, Channel: message.Email,
				TicketRef: "EDU-2026-000123", Name: name, Now: openNow(t)})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(r.HTML, "<script") || strings.Contains(r.HTML, `alert("x")`) {
				t.Errorf("HTML carries the name unescaped:\n%s", r.HTML)
			}
			if !strings.Contains(r.HTML, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co") {
				t.Errorf("HTML lacks the escaped name:\n%s", r.HTML)
			}
			// Plain text is not HTML: the name stays as written.
			if !strings.Contains(r.Text, name) {
				t.Errorf("Text lacks the name as written:\n%s", r.Text)
			}
		})
	}
	r, err := b.Render(Request{Kind: KindClosing, Language: "en", Channel: message.Email, TicketRef: "EDU-1"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.HTML, `<a href="https://example.edu.sa/survey?src=test&amp;x=1">https://example.edu.sa/survey?src=test&amp;x=1</a>`) {
		t.Errorf("survey link not an escaped anchor:\n%s", r.HTML)
	}
}

func TestRenderHTMLDirection(t *testing.T) {
	b := loadTestBank(t)
	tests := []struct {
		lang, dir, notDir string
	}{
		{"ar", "rtl", "ltr"},
		{"en", "ltr", "rtl"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			r, err := b.Render(Request{Kind: KindAnswer, TopicID: "repair", Language: tt.lang, Channel: message.Email, Now: openNow(t)})
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{`<html dir="` + tt.dir + `" lang="` + tt.lang + `">`, `<div dir="` + tt.dir + `" lang="` + tt.lang + `"`} {
				if !strings.Contains(r.HTML, want) {
					t.Errorf("HTML lacks %s:\n%s", want, r.HTML)
				}
			}
			if strings.Contains(r.HTML, `dir="`+tt.notDir+`"`) {
				t.Errorf("HTML has dir=%q:\n%s", tt.notDir, r.HTML)
			}
			// Every link of the topic is a clickable anchor.
			for _, l := range []string{"https://example.edu.sa/forms/repair", "https://example.edu.sa/itqan"} {
				if !strings.Contains(r.HTML, `<a href="`+l+`">`) {
					t.Errorf("HTML lacks a link to %s", l)
				}
			}
			// Line breaks inside a paragraph survive as <br>.
			if !strings.Contains(r.HTML, "<br>") {
				t.Errorf("HTML lost the answer's line break:\n%s", r.HTML)
			}
		})
	}
}

func TestRenderLanguage(t *testing.T) {
	b := loadTestBank(t)
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"ar", "ar", false},
		{"en", "en", false},
		{"EN", "en", false},
		{"ar-SA", "ar", false},
		{"en_GB", "en", false},
		{"", "ar", false},      // the bank's default_language
		{"mixed", "ar", false}, // the classifier's answer for mixed script
		{"und", "ar", false},
		{"fr", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := b.Render(Request{Kind: KindFallback, Language: tt.in, Channel: message.SMS, Now: openNow(t)})
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error for an unsupported language")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			gotAR := hasArabic(r.Text)
			if gotAR != (tt.want == "ar") {
				t.Errorf("language %q rendered Arabic=%v, want %s:\n%s", tt.in, gotAR, tt.want, r.Text)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	b := loadTestBank(t)
	now := openNow(t)
	tests := []struct {
		name    string
		req     Request
		wantErr string
	}{
		{"unknown kind", Request{Kind: "poem", Language: "en", Channel: message.SMS, Now: now}, `unknown reply kind "poem"`},
		{"unknown topic", Request{Kind: KindAnswer, TopicID: "nope", Language: "en", Channel: message.SMS, Now: now}, `unknown topic "nope"`},
		{"answer without topic", Request{Kind: KindAnswer, Language: "en", Channel: message.SMS, Now: now}, `unknown topic ""`},
		{"ack without ticket", Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "en", Channel: message.SMS, Now: now}, "needs a ticket reference"},
		{"referral without referral", Request{Kind: KindReferral, TopicID: "faq", Language: "en", Channel: message.SMS, Now: now}, `topic "faq" has no referral`},
		{"bad channel", Request{Kind: KindFallback, Language: "en", Channel: "fax", Now: now}, `unknown channel "fax"`},
		{"no time", Request{Kind: KindFallback, Language: "en", Channel: message.SMS}, "Now is needed"},
		{"closing with unknown topic", Request{Kind: KindClosing, TopicID: "nope", Language: "en", Channel: message.SMS}, `unknown topic "nope"`},
		{"answer for small talk", Request{Kind: KindAnswer, TopicID: "chat", Language: "en", Channel: message.SMS, Now: now}, `answer reply for topic "chat", a smalltalk topic`},
		{"answer for spam", Request{Kind: KindAnswer, TopicID: "junk", Language: "en", Channel: message.SMS, Now: now}, `answer reply for topic "junk", a spam topic`},
		{"small talk for a request", Request{Kind: KindSmallTalk, TopicID: "repair", Language: "en", Channel: message.SMS, Now: now}, `smalltalk reply for topic "repair", a request topic`},
		{"small talk for spam", Request{Kind: KindSmallTalk, TopicID: "junk", Language: "en", Channel: message.SMS, Now: now}, `smalltalk reply for topic "junk", a spam topic`},
		{"choose one", Request{Kind: KindChoose, Topics: []string{"repair"}, Language: "en", Channel: message.SMS, Now: now}, "needs two topics or more, got 1"},
		{"choose unknown", Request{Kind: KindChoose, Topics: []string{"repair", "nope"}, Language: "en", Channel: message.SMS, Now: now}, `choose reply: unknown topic "nope"`},
		{"choose small talk", Request{Kind: KindChoose, Topics: []string{"repair", "chat"}, Language: "en", Channel: message.SMS, Now: now}, `topic "chat" is smalltalk, not a service`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Render(tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Render error = %v, want %q", err, tt.wantErr)
			}
			_, err = b.RenderShort(tt.req, 160)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("RenderShort error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := b.RenderShort(Request{Kind: KindFallback, Language: "en", Channel: message.SMS, Now: now}, 1); err == nil {
		t.Error("RenderShort accepted a budget of 1")
	}
}

func TestRenderShort(t *testing.T) {
	b := loadTestBank(t)
	const ref = "EDU-2026-000123"
	tests := []struct {
		name     string
		req      Request
		max      int
		link     string // must appear whole, once; "" for none
		keep     string // must survive the cut
		wantText string // exact, when set
	}{
		{"ack ar one segment", Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "ar"}, 70, "https://example.edu.sa/forms/repair", ref, ""},
		{"ack en one segment", Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "en"}, 160, "https://example.edu.sa/forms/repair", ref, ""},
		{"ack ar two segments", Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "ar"}, 134, "https://example.edu.sa/forms/repair", ref, ""},
		{"answer en roomy", Request{Kind: KindAnswer, TopicID: "faq", Language: "en"}, 160, "", "",
			"We look after the classrooms."},
		{"answer en tight", Request{Kind: KindAnswer, TopicID: "repair", Language: "en"}, 60, "https://example.edu.sa/forms/repair", "", ""},
		{"referral ar", Request{Kind: KindReferral, TopicID: "grades", Language: "ar"}, 70, "https://example.edu.sa/registrar", "عمادة القبول", ""},
		{"referral en roomy keeps the link once", Request{Kind: KindReferral, TopicID: "grades", Language: "en"}, 160, "https://example.edu.sa/registrar", "the Registrar",
			"Handled by the Registrar: registrar@example.edu.sa, https://example.edu.sa/registrar Grades are not ours."},
		{"closing en", Request{Kind: KindClosing, Language: "en", TicketRef: ref}, 70, "https://example.edu.sa/survey?src=test&x=1", "", ""},
		{"closing ar roomy", Request{Kind: KindClosing, Language: "ar", TicketRef: ref}, 160, "https://example.edu.sa/survey?src=test&x=1", ref,
			"أُغلق طلبك EDU-2026-000123. قيّمنا: https://example.edu.sa/survey?src=test&x=1"},
		{"fallback en", Request{Kind: KindFallback, Language: "en"}, 30, "", "", "We could not tell what you…"},
		{"link longer than budget is left out", Request{Kind: KindAnswer, TopicID: "repair", Language: "en"}, 20, "", "", "We repair…"},
		{"smalltalk ar", Request{Kind: KindSmallTalk, TopicID: "chat", Language: "ar"}, 70, "", "", "العفو، نحن في الخدمة."},
		{"choose en names without links", Request{Kind: KindChoose, Topics: []string{"repair", "grades"}, Language: "en"}, 160, "", "",
			"Which of these do you need? 1- Repairs 2- Grades"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Channel = message.SMS
			tt.req.Now = openNow(t)
			if tt.req.Kind == KindAcknowledgement {
				tt.req.TicketRef = ref
			}
			r, err := b.RenderShort(tt.req, tt.max)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%q", r.Text)
			n := utf8.RuneCountInString(r.Text)
			if n > tt.max {
				t.Errorf("%d runes > %d: %q", n, tt.max, r.Text)
			}
			if r.HTML != "" || strings.Contains(r.Text, "\n") {
				t.Errorf("short form has HTML or line breaks: %q", r.Text)
			}
			if tt.link != "" && strings.Count(r.Text, tt.link) != 1 {
				t.Errorf("text does not carry the link %s exactly once: %q", tt.link, r.Text)
			}
			if tt.link == "" && strings.Contains(r.Text, "http") {
				t.Errorf("text has a link, want none: %q", r.Text)
			}
			if tt.keep != "" && !strings.Contains(r.Text, tt.keep) {
				t.Errorf("text lost %q: %q", tt.keep, r.Text)
			}
			if tt.wantText != "" && r.Text != tt.wantText {
				t.Errorf("text = %q, want %q", r.Text, tt.wantText)
			}
			if r.Subject == "" {
				t.Error("no subject")
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short enough", 20, "short enough"},
		{"exactly twelve", 14, "exactly twelve"},
		{"cut between words here", 10, "cut…"},                // "cut betwe" → last space
		{"cut between words here", 12, "cut between…"},        // the 12th rune is a space: a clean cut
		{"a, b, c, d", 5, "a, b…"},                            // trailing comma dropped
		{"supercalifragilistic", 8, "superca…"},               // one long word is cut inside
		{"نرجو تزويدنا بالتفاصيل كاملة", 15, "نرجو تزويدنا…"}, // runes, not bytes
		{"abc", 1, "…"},
		{"see https://example.edu.sa/a for more", 30, "see…"},   // never "…" glued to a URL
		{"see https://example.edu.sa/a, then more", 31, "see…"}, // nor cut inside one
	}
	for _, tt := range tests {
		got := truncate(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if utf8.RuneCountInString(got) > tt.max {
			t.Errorf("truncate(%q, %d) = %q is too long", tt.in, tt.max, got)
		}
	}
}

func TestWorkingDuration(t *testing.T) {
	tests := []struct {
		d      time.Duration
		en, ar string
	}{
		{24 * time.Hour, "1 working day", "يوم عمل واحد"},
		{48 * time.Hour, "2 working days", "يومي عمل"},
		{3 * 24 * time.Hour, "3 working days", "3 أيام عمل"},
		{12 * 24 * time.Hour, "12 working days", "12 يوم عمل"},
		{4 * time.Hour, "4 working hours", "4 ساعات عمل"},
		{28 * time.Hour, "1 working day and 4 working hours", "يوم عمل واحد و4 ساعات عمل"},
		{90 * time.Minute, "90 working minutes", "90 دقيقة عمل"},
	}
	for _, tt := range tests {
		if got := workingDuration(tt.d, "en"); got != tt.en {
			t.Errorf("workingDuration(%s, en) = %q, want %q", tt.d, got, tt.en)
		}
		if got := workingDuration(tt.d, "ar"); got != tt.ar {
			t.Errorf("workingDuration(%s, ar) = %q, want %q", tt.d, got, tt.ar)
		}
	}
}

// Golden files show whole replies as a customer gets them; review a diff with
// `go test ./replies -run Golden -update` after changing wording.
func TestRenderGolden(t *testing.T) {
	test := loadTestBank(t)
	demo, err := LoadBank(configsBank)
	if err != nil {
		t.Fatal(err)
	}
	ry := mustLoc(t, "Asia/Riyadh")
	thursdayEvening := at(t, ry, "2026-10-01 18:40:00")
	tests := []struct {
		name  string
		bank  *Bank
		req   Request
		short int
	}{
		{"test_ack_ar_email", test, Request{Kind: KindAcknowledgement, TopicID: "repair", Language: "ar", Channel: message.Email, TicketRef: "EDU-2026-000123", Name: "سارة", Now: openNow(t)}, 0},
		{"test_fallback_en_email_closed", test, Request{Kind: KindFallback, Language: "en", Channel: message.Email, Now: fridayNow(t)}, 0},
		{"demo_ack_ar_email_closed", demo, Request{Kind: KindAcknowledgement, TopicID: "equipment_maintenance", Language: "ar", Channel: message.Email, TicketRef: "EDU-2026-000123", Name: "د. خالد", Now: thursdayEvening}, 0},
		{"demo_ack_en_email", demo, Request{Kind: KindAcknowledgement, TopicID: "equipment_supply", Language: "en", Channel: message.Email, TicketRef: "EDU-2026-000124", Name: "Dr. Sara", Now: openNow(t)}, 0},
		{"demo_answer_ar_whatsapp", demo, Request{Kind: KindAnswer, TopicID: "clearance", Language: "ar", Channel: message.WhatsApp, Now: openNow(t)}, 0},
		{"demo_referral_en_email", demo, Request{Kind: KindReferral, TopicID: "it_accounts", Language: "en", Channel: message.Email, Now: openNow(t)}, 0},
		{"demo_fallback_ar_whatsapp_holiday", demo, Request{Kind: KindFallback, Language: "mixed", Channel: message.WhatsApp, Now: holidayNow(t)}, 0},
		{"demo_closing_ar_email", demo, Request{Kind: KindClosing, TopicID: "video_coverage", Language: "ar", Channel: message.Email, TicketRef: "EDU-2026-000125"}, 0},
		{"demo_ack_ar_sms_short", demo, Request{Kind: KindAcknowledgement, TopicID: "video_coverage", Language: "ar", Channel: message.SMS, TicketRef: "EDU-2026-000126", Now: openNow(t)}, 134},
		{"demo_referral_en_sms_short", demo, Request{Kind: KindReferral, TopicID: "housing", Language: "en", Channel: message.SMS, Now: openNow(t)}, 160},
		{"demo_choose_ar_email", demo, Request{Kind: KindChoose, Topics: []string{"equipment_maintenance", "housing", "inquiries"}, Language: "ar", Channel: message.Email, Name: "نورة", Now: openNow(t)}, 0},
		{"demo_smalltalk_en_whatsapp", demo, Request{Kind: KindSmallTalk, TopicID: "smalltalk", Language: "en", Channel: message.WhatsApp, Now: fridayNow(t)}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Reply
			var err error
			if tt.short > 0 {
				r, err = tt.bank.RenderShort(tt.req, tt.short)
			} else {
				r, err = tt.bank.Render(tt.req)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "Subject: " + r.Subject + "\n--- text\n" + r.Text + "\n"
			if r.HTML != "" {
				got += "--- html\n" + r.HTML
			}
			path := filepath.Join("testdata", "golden", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs; run with -update and review the diff.\n--- got\n%s", path, got)
			}
		})
	}
}

// Every topic of the shipped bank renders in both languages on every
// channel, and its short SMS form fits one Arabic segment.
func TestRenderConfigsBank(t *testing.T) {
	b, err := LoadBank(configsBank)
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, tp := range b.Topics() {
		if tp.Kind == TopicRequest {
			services = append(services, tp.ID)
		}
	}
	for _, tp := range b.Topics() {
		kinds := []Kind{KindAnswer}
		switch tp.Kind {
		case TopicSmallTalk:
			kinds = []Kind{KindSmallTalk}
		case TopicSpam:
			kinds = nil // never answered
		}
		if tp.Actionable {
			kinds = append(kinds, KindAcknowledgement)
		}
		if tp.Referral != nil {
			kinds = append(kinds, KindReferral)
		}
		if tp.ID == services[0] {
			kinds = append(kinds, KindChoose)
		}
		for _, kind := range kinds {
			for _, lang := range []string{"ar", "en"} {
				for _, ch := range []message.Kind{message.Email, message.SMS, message.WhatsApp} {
					req := Request{Kind: kind, TopicID: tp.ID, Language: lang, Channel: ch, TicketRef: "EDU-2026-000001", Now: fridayNow(t)}
					if kind == KindChoose {
						req.TopicID, req.Topics = "", services[:3]
					}
					r, err := b.Render(req)
					if err != nil {
						t.Errorf("%s %s %s %s: %v", tp.ID, kind, lang, ch, err)
						continue
					}
					if strings.Contains(r.Text, "<no value>") || strings.Contains(r.Text, "{{") {
						t.Errorf("%s %s %s: template left a gap:\n%s", tp.ID, kind, lang, r.Text)
					}
					if lang == "en" && hasArabic(r.Text) {
						t.Errorf("%s %s en: Arabic in an English reply:\n%s", tp.ID, kind, r.Text)
					}
					s, err := b.RenderShort(req, 70)
					if err != nil {
						t.Errorf("%s %s %s short: %v", tp.ID, kind, lang, err)
						continue
					}
					if n := utf8.RuneCountInString(s.Text); n > 70 || n < 20 {
						t.Errorf("%s %s %s short: %d runes: %q", tp.ID, kind, lang, n, s.Text)
					}
				}
			}
		}
	}
}

// A bank without texts.choose still asks: in the code's own wording.
func TestRenderChooseDefaultWording(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "bank.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	i := strings.Index(src, "  choose:\n")
	j := strings.Index(src, "topics:\n")
	b, err := ParseBank([]byte(src[:i]+src[j:]), "no-choose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for lang, want := range map[string]string{
		"en": "We could not tell which service you need. Is it one of these? Reply with its name, or open its form directly:\n\n1- Repairs: https://example.edu.sa/forms/repair\n2- Grades",
		"ar": "لم نتبيّن الخدمة التي تحتاجها. هل طلبك واحد مما يلي؟ أرسل لنا اسمه، أو افتح نموذجه مباشرة:\n\n1- الصيانة",
	} {
		r, err := b.Render(Request{Kind: KindChoose, Topics: []string{"repair", "grades"}, Language: lang, Channel: message.WhatsApp, Now: openNow(t)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, want) {
			t.Errorf("%s: text lacks %q:\n%s", lang, want, r.Text)
		}
	}
}
