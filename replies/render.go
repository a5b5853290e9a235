package replies

import (
	"bytes"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/message"
)

// Kind is what a reply is for.
type Kind string

// The kinds of reply the bank renders.
const (
	KindAnswer          Kind = "answer"          // informational topic: the answer, links, hours
	KindAcknowledgement Kind = "acknowledgement" // a ticket was created: answer plus the ticket reference
	KindReferral        Kind = "referral"        // out of scope: who handles it and how to reach them
	KindFallback        Kind = "fallback"        // unsure what the customer wants
	KindClosing         Kind = "closing"         // the ticket is closed: thanks and the survey link
	KindSmallTalk       Kind = "smalltalk"       // a greeting or thanks: the small-talk topic's one line, nothing else
	KindChoose          Kind = "choose"          // unsure: the likeliest services, with their links, to pick from
)

// Request asks for one reply.
type Request struct {
	Kind      Kind
	TopicID   string       // required for answer, acknowledgement, referral and smalltalk; ignored for fallback
	Topics    []string     // choose: the services to offer, best first (two or more request topics)
	Language  string       // "ar" or "en"; "", "mixed" or "und" give the bank's default_language
	Channel   message.Kind // email gets Text and HTML; sms and whatsapp plain text only
	TicketRef string       // required for acknowledgement; shown in closing subjects
	Name      string       // the customer's display name, may be empty
	Now       time.Time    // when the reply goes out: decides the out-of-hours notice
	// SurveyURL, when set, is this reply's own satisfaction link (signed
	// for the ticket) instead of the bank's survey_url.
	SurveyURL string
	// Lead is plain text put before the reply's own, after the greeting: a
	// department's answer ahead of the closing message.
	Lead string
}

// Reply is a rendered reply. HTML is set for email only.
type Reply struct {
	Subject, Text, HTML string
}

// TemplateData is what bank templates can use. Every field is plain text in
// the reply's language; empty when it does not apply.
type TemplateData struct {
	Name        string // customer's display name
	TicketRef   string // e.g. EDU-2026-000123
	Topic       string // the topic's title
	Department  string // the topic's department name
	SLA         string // in working time, e.g. "3 working days" / "3 أيام عمل"
	Org         string // the bank's name
	Hours       string // the weekly schedule, Calendar.Describe
	NextOpening string // when we open next, with the zone; empty when open now
	Holiday     string // the holiday closing today, if any
	SurveyURL   string
	Office      string // referral: who handles it
	Contact     string // referral: phone or email
	URL         string // referral: their page
}

// lang resolves a request language to "ar" or "en".
func (b *Bank) lang(l string) (string, error) {
	v := strings.ToLower(strings.TrimSpace(l))
	if i := strings.IndexAny(v, "-_"); i >= 0 {
		v = v[:i] // "ar-SA" → "ar"
	}
	switch v {
	case "ar", "en":
		return v, nil
	case "", "mixed", "und":
		return b.defaultLang, nil
	}
	return "", fmt.Errorf("replies: unsupported language %q (want ar or en)", l)
}

// block is one part of a reply: a paragraph of text, or a list of links.
type block struct {
	text     string
	links    []Link
	numbered bool // the links are choices: numbered, and a link may have no URL
}

type prepared struct {
	lang    string
	topic   *Topic
	choices []*Topic // choose
	data    TemplateData
	blocks  []block
}

func (b *Bank) prepare(req Request, short bool) (*prepared, error) {
	lang, err := b.lang(req.Language)
	if err != nil {
		return nil, err
	}
	if !req.Channel.Valid() {
		return nil, fmt.Errorf("replies: unknown channel %q", req.Channel)
	}
	p := &prepared{lang: lang}
	switch req.Kind {
	case KindAnswer, KindAcknowledgement, KindReferral, KindSmallTalk:
		t, ok := b.byID[req.TopicID]
		if !ok {
			return nil, fmt.Errorf("replies: %s reply: unknown topic %q", req.Kind, req.TopicID)
		}
		want := TopicRequest
		if req.Kind == KindSmallTalk {
			want = TopicSmallTalk
		}
		if t.Kind != want {
			return nil, fmt.Errorf("replies: %s reply for topic %q, a %s topic", req.Kind, t.ID, t.Kind)
		}
		p.topic = t
	case KindChoose:
		if len(req.Topics) < 2 {
			return nil, fmt.Errorf("replies: choose reply needs two topics or more, got %d", len(req.Topics))
		}
		for _, id := range req.Topics {
			t, ok := b.byID[id]
			if !ok {
				return nil, fmt.Errorf("replies: choose reply: unknown topic %q", id)
			}
			if t.Kind != TopicRequest {
				return nil, fmt.Errorf("replies: choose reply: topic %q is %s, not a service", id, t.Kind)
			}
			p.choices = append(p.choices, t)
		}
	case KindClosing:
		if req.TopicID != "" {
			t, ok := b.byID[req.TopicID]
			if !ok {
				return nil, fmt.Errorf("replies: closing reply: unknown topic %q", req.TopicID)
			}
			p.topic = t
		}
	case KindFallback:
	default:
		return nil, fmt.Errorf("replies: unknown reply kind %q", req.Kind)
	}
	if req.Kind == KindAcknowledgement && strings.TrimSpace(req.TicketRef) == "" {
		return nil, errors.New("replies: acknowledgement needs a ticket reference")
	}
	if req.Kind == KindReferral && p.topic.Referral == nil {
		return nil, fmt.Errorf("replies: topic %q has no referral", p.topic.ID)
	}
	if req.Kind != KindClosing && req.Now.IsZero() {
		return nil, errors.New("replies: Now is needed for working hours")
	}

	d := TemplateData{
		Name:      strings.TrimSpace(req.Name),
		TicketRef: strings.TrimSpace(req.TicketRef),
		Org:       b.name.In(lang),
		Hours:     b.cal.Describe(lang),
		SurveyURL: b.surveyURL,
	}
	if req.SurveyURL != "" {
		d.SurveyURL = req.SurveyURL
	}
	open := true
	if !req.Now.IsZero() {
		open = b.cal.IsOpen(req.Now)
		if !open {
			if next := b.cal.NextOpening(req.Now); !next.IsZero() {
				d.NextOpening = b.cal.when(next, lang)
			}
			if h, ok := b.cal.HolidayOn(req.Now); ok {
				d.Holiday = h.Name.In(lang)
			}
		}
	}
	if t := p.topic; t != nil {
		d.Topic = t.Title.In(lang)
		if dep, ok := b.Department(t.Department); ok {
			d.Department = dep.Name.In(lang)
		}
		if t.SLA > 0 {
			d.SLA = workingDuration(t.SLA, lang)
		}
		if r := t.Referral; r != nil {
			d.Office, d.Contact, d.URL = r.Office.In(lang), r.Contact, r.URL
		}
	}
	p.data = d

	run := func(ts langTemplates) error {
		s, err := execute(ts[langIndex(lang)], d)
		if err != nil {
			return fmt.Errorf("replies: %w", err)
		}
		if s != "" {
			p.blocks = append(p.blocks, block{text: s})
		}
		return nil
	}
	// The short form keeps only what the customer must know; see RenderShort.
	var steps []langTemplates
	switch req.Kind {
	case KindAnswer:
		steps = []langTemplates{p.topic.answer}
	case KindAcknowledgement:
		if short {
			steps = []langTemplates{b.ack, p.topic.answer}
		} else {
			steps = []langTemplates{p.topic.answer, b.ack}
		}
	case KindReferral:
		if short {
			steps = []langTemplates{b.referral, p.topic.answer}
		} else {
			steps = []langTemplates{p.topic.answer, b.referral}
		}
	case KindFallback:
		steps = []langTemplates{b.fallback}
	case KindClosing:
		steps = []langTemplates{b.closing}
	case KindSmallTalk:
		// One polite line: a greeting or hours would be longer than the
		// message it answers.
		if err := run(p.topic.answer); err != nil {
			return nil, err
		}
		return p, nil
	case KindChoose:
		steps = []langTemplates{b.choose}
	}
	if !short {
		steps = append([]langTemplates{b.greeting}, steps...)
	}
	lead := strings.TrimSpace(req.Lead)
	if short && lead != "" {
		p.blocks = append(p.blocks, block{text: lead})
	}
	for i, ts := range steps {
		if err := run(ts); err != nil {
			return nil, err
		}
		if !short && i == 0 && lead != "" { // after the greeting
			p.blocks = append(p.blocks, block{text: lead})
		}
	}
	if req.Kind == KindChoose {
		if b.choose[langIndex(lang)] == nil {
			p.blocks = append(p.blocks, block{text: label(lang, "choose")})
		}
		bl := block{numbered: true}
		for _, t := range p.choices {
			bl.links = append(bl.links, Link{Title: t.Title, URL: serviceURL(t)})
		}
		if short {
			// No room for links in a text message: the names alone.
			var names []string
			for i, l := range bl.links {
				names = append(names, fmt.Sprintf("%d- %s", i+1, l.Title.In(lang)))
			}
			p.blocks = append(p.blocks, block{text: strings.Join(names, " ")})
		} else {
			p.blocks = append(p.blocks, bl)
		}
	}
	if short {
		return p, nil
	}
	if p.topic != nil && req.Kind != KindClosing && len(p.topic.Links) > 0 {
		p.blocks = append(p.blocks, block{links: p.topic.Links})
	}
	if req.Kind != KindClosing {
		p.blocks = append(p.blocks, block{text: label(lang, "hours") + " " + d.Hours})
		if !open {
			if err := run(b.ooh); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Render renders a full reply: greeting, the topic's answer, the
// acknowledgement or referral or fallback text, links, working hours and,
// when closed at req.Now, the out-of-hours notice; or, for KindClosing, the
// closing text with the survey link.
func (b *Bank) Render(req Request) (Reply, error) {
	p, err := b.prepare(req, false)
	if err != nil {
		return Reply{}, err
	}
	out := Reply{Subject: b.subject(req, p)}
	parts := make([]string, 0, len(p.blocks))
	for _, bl := range p.blocks {
		switch {
		case bl.links == nil:
			parts = append(parts, bl.text)
		case bl.numbered:
			var lines []string
			for i, l := range bl.links {
				line := fmt.Sprintf("%d- %s", i+1, l.Title.In(p.lang))
				if l.URL != "" {
					line += ": " + l.URL
				}
				lines = append(lines, line)
			}
			parts = append(parts, strings.Join(lines, "\n"))
		default:
			lines := []string{label(p.lang, "links")}
			for _, l := range bl.links {
				lines = append(lines, "- "+l.Title.In(p.lang)+": "+l.URL)
			}
			parts = append(parts, strings.Join(lines, "\n"))
		}
	}
	out.Text = strings.Join(parts, "\n\n")
	if req.Channel == message.Email {
		h, err := b.html(p, out.Subject)
		if err != nil {
			return Reply{}, err
		}
		out.HTML = h
	}
	return out, nil
}

// RenderShort renders a reply for a tight budget such as one SMS segment:
// the core text (acknowledgement or referral first, so the ticket reference
// or the office survives) followed by ONE link, at most maxChars runes.
// Text is cut at a word boundary and marked with "…"; the link is never cut,
// but is left out when it alone would not fit. No greeting, hours or HTML.
func (b *Bank) RenderShort(req Request, maxChars int) (Reply, error) {
	if maxChars < 2 {
		return Reply{}, fmt.Errorf("replies: RenderShort: maxChars %d is too small", maxChars)
	}
	p, err := b.prepare(req, true)
	if err != nil {
		return Reply{}, err
	}
	texts := make([]string, len(p.blocks))
	for i, bl := range p.blocks {
		texts[i] = bl.text
	}
	core := strings.Join(strings.Fields(strings.Join(texts, " ")), " ")

	var link string
	switch {
	case req.Kind == KindClosing:
		link = b.surveyURL
	case req.Kind == KindReferral && p.topic.Referral.URL != "":
		link = p.topic.Referral.URL
	case p.topic != nil && len(p.topic.Links) > 0:
		link = p.topic.Links[0].URL
	}
	var text string
	switch {
	case link == "" || utf8.RuneCountInString(link)+2 > maxChars:
		text = truncate(core, maxChars)
	case strings.Contains(core, link) && utf8.RuneCountInString(core) <= maxChars:
		text = core // the template already carries the link, and all of it fits
	default:
		core = strings.Join(strings.Fields(strings.ReplaceAll(core, link, "")), " ")
		text = truncate(core, maxChars-utf8.RuneCountInString(link)-1)
		if text == "" {
			text = link
		} else {
			text += " " + link
		}
	}
	return Reply{Subject: b.subject(req, p), Text: text}, nil
}

// truncate cuts s to at most max runes at a word boundary, marking the cut
// with "…". A single word longer than max is cut inside.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	if n <= 1 {
		return string([]rune("…")[:n])
	}
	cut := r[:n-1]
	// A cut just before a space or punctuation ends a whole word.
	if !unicode.IsSpace(r[n-1]) && !unicode.IsPunct(r[n-1]) {
		if i := lastSpace(cut); i > 0 {
			cut = cut[:i]
		}
	}
	// A mark glued to a URL would break the link: drop the URL instead.
	if i := lastSpace(cut); i > 0 && strings.Contains(string(cut[i+1:]), "://") {
		cut = cut[:i]
	}
	out := strings.TrimRightFunc(string(cut), func(c rune) bool {
		return unicode.IsSpace(c) || strings.ContainsRune(",،;؛:-–", c)
	})
	return out + "…"
}

func lastSpace(r []rune) int {
	for i := len(r) - 1; i >= 0; i-- {
		if unicode.IsSpace(r[i]) {
			return i
		}
	}
	return -1
}

// subject is the email subject: the ticket reference in brackets first, so
// mail clients and our threading find it.
func (b *Bank) subject(req Request, p *prepared) string {
	ar := p.lang == "ar"
	var s string
	switch req.Kind {
	case KindAcknowledgement:
		s = pick(ar, "تم استلام طلبك", "We received your request")
	case KindClosing:
		s = pick(ar, "تم إغلاق طلبك", "Your request is closed")
	case KindAnswer:
		s = pick(ar, "بخصوص استفسارك: ", "About your inquiry: ") + p.data.Topic
	case KindReferral:
		s = pick(ar, "الجهة المختصة بطلبك: ", "Who handles your request: ") + p.data.Office
	case KindChoose:
		s = pick(ar, "أي خدمة تحتاج؟", "Which service do you need?")
	case KindSmallTalk:
		s = pick(ar, "شكرًا لتواصلك", "Thank you for your message")
	default:
		s = pick(ar, "تم استلام رسالتك", "We received your message")
	}
	if ref := p.data.TicketRef; ref != "" {
		s = "[" + ref + "] " + s
	}
	return s
}

func pick(ar bool, a, e string) string {
	if ar {
		return a
	}
	return e
}

// label is the few fixed words the code itself adds.
func label(lang, what string) string {
	ar := lang == "ar"
	switch what {
	case "hours":
		return pick(ar, "ساعات العمل:", "Working hours:")
	case "links":
		return pick(ar, "روابط مفيدة:", "Useful links:")
	case "choose":
		return pick(ar, "لم نتبيّن الخدمة التي تحتاجها. هل طلبك واحد مما يلي؟ أرسل لنا اسمه، أو افتح نموذجه مباشرة:",
			"We could not tell which service you need. Is it one of these? Reply with its name, or open its form directly:")
	}
	return what
}

// serviceURL is where a topic's request is made: its first link, or for an
// out-of-scope topic the competent office's page.
func serviceURL(t *Topic) string {
	if len(t.Links) > 0 {
		return t.Links[0].URL
	}
	if t.Referral != nil {
		return t.Referral.URL
	}
	return ""
}

// workingDuration words an SLA, which counts working time: whole days are
// working days, the rest working hours (or minutes) — "1 working day and 4
// working hours" / "يوم عمل واحد و4 ساعات عمل".
func workingDuration(d time.Duration, lang string) string {
	day := 24 * time.Hour
	days, rest := int(d/day), d%day
	var parts []string
	if days > 0 {
		parts = append(parts, counted(days, "working day", [4]string{"يوم عمل واحد", "يومي عمل", "أيام عمل", "يوم عمل"}, lang))
	}
	switch {
	case rest == 0:
	case rest%time.Hour == 0:
		parts = append(parts, counted(int(rest/time.Hour), "working hour", [4]string{"ساعة عمل واحدة", "ساعتي عمل", "ساعات عمل", "ساعة عمل"}, lang))
	default:
		parts = append(parts, counted(int(rest.Round(time.Minute)/time.Minute), "working minute", [4]string{"دقيقة عمل واحدة", "دقيقتي عمل", "دقائق عمل", "دقيقة عمل"}, lang))
	}
	if lang == "ar" {
		return strings.Join(parts, " و")
	}
	return strings.Join(parts, " and ")
}

// counted is n of a unit: English singular or plural, Arabic in the four
// forms a count takes (one, two, 3–10, 11 and up).
func counted(n int, unit string, ar [4]string, lang string) string {
	if lang != "ar" {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case n == 1:
		return ar[0]
	case n == 2:
		return ar[1]
	case n <= 10:
		return fmt.Sprintf("%d %s", n, ar[2])
	default:
		return fmt.Sprintf("%d %s", n, ar[3])
	}
}

// urlInText finds links in rendered text so the HTML can make them clickable.
var urlInText = regexp.MustCompile(`https?://[^\s<>"]+`)

// segment is a run of a line: plain text, or a link.
type segment struct {
	Text string
	URL  string
}

type htmlBlock struct {
	Paragraph [][]segment // lines
	Heading   string
	Links     []htmlLink
	Numbered  bool // choices: an ordered list without heading
}

type htmlLink struct{ Title, URL string }

// emailLayout is filled by html/template, which escapes every value: the
// bank's wording, the customer's name and the URLs alike.
const emailLayout = `<!DOCTYPE html>
<html dir="{{.Dir}}" lang="{{.Lang}}">
<head>
<meta charset="utf-8">
<title>{{.Subject}}</title>
</head>
<body>
<div dir="{{.Dir}}" lang="{{.Lang}}" style="font-family: Tahoma, Arial, sans-serif; font-size: 15px; line-height: 1.6; text-align: {{.Align}};">
{{- range .Blocks}}
{{- if .Numbered}}
<ol>
{{- range .Links}}
<li>{{if .URL}}<a href="{{.URL}}">{{.Title}}</a>{{else}}{{.Title}}{{end}}</li>
{{- end}}
</ol>
{{- else if .Links}}
<p>{{.Heading}}</p>
<ul>
{{- range .Links}}
<li><a href="{{.URL}}">{{.Title}}</a></li>
{{- end}}
</ul>
{{- else}}
<p>{{range $i, $line := .Paragraph}}{{if $i}}<br>
{{end}}{{range $line}}{{if .URL}}<a href="{{.URL}}">{{.Text}}</a>{{else}}{{.Text}}{{end}}{{end}}{{end}}</p>
{{- end}}
{{- end}}
</div>
</body>
</html>
`

func (b *Bank) html(p *prepared, subject string) (string, error) {
	var blocks []htmlBlock
	for _, bl := range p.blocks {
		if bl.links != nil {
			hb := htmlBlock{Heading: label(p.lang, "links"), Numbered: bl.numbered}
			for _, l := range bl.links {
				hb.Links = append(hb.Links, htmlLink{Title: l.Title.In(p.lang), URL: l.URL})
			}
			blocks = append(blocks, hb)
			continue
		}
		// A blank line in the text starts a new paragraph.
		for _, para := range strings.Split(bl.text, "\n\n") {
			para = strings.TrimSpace(para)
			if para == "" {
				continue
			}
			var lines [][]segment
			for _, line := range strings.Split(para, "\n") {
				lines = append(lines, linkify(strings.TrimSpace(line)))
			}
			blocks = append(blocks, htmlBlock{Paragraph: lines})
		}
	}
	dir, align := "rtl", "right"
	if p.lang == "en" {
		dir, align = "ltr", "left"
	}
	var buf bytes.Buffer
	err := b.layout.Execute(&buf, map[string]any{
		"Dir": dir, "Lang": p.lang, "Align": htmltemplate.CSS(align), "Subject": subject, "Blocks": blocks,
	})
	if err != nil {
		return "", fmt.Errorf("replies: email html: %w", err)
	}
	return buf.String(), nil
}

// linkify splits a line into text and links, leaving trailing punctuation
// outside the link.
func linkify(line string) []segment {
	var out []segment
	last := 0
	for _, m := range urlInText.FindAllStringIndex(line, -1) {
		u := strings.TrimRight(line[m[0]:m[1]], ".,;:!?)]}»،؛؟")
		end := m[0] + len(u)
		if m[0] > last {
			out = append(out, segment{Text: line[last:m[0]]})
		}
		out = append(out, segment{Text: u, URL: u})
		last = end
	}
	if last < len(line) {
		out = append(out, segment{Text: line[last:]})
	}
	return out
}
