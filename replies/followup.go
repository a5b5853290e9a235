package replies

import (
	"errors"
	"fmt"
	"strings"

	"github.com/wasl-dev/wasl/message"
)

// FollowUp asks for what a representative sends a caller after a call: the
// links they spoke of (a form, the competent office) and the rating link,
// which rates both the service and the representative (the catalogue's
// phone service).
type FollowUp struct {
	Language  string
	Channel   message.Kind
	Name      string // the caller's, may be empty
	Links     []Link
	RatingURL string
}

// Built-in wordings for banks without follow_up and rating texts.
var (
	defaultFollowUp = Text{
		AR: "مرحبًا{{if .Name}} {{.Name}}{{end}}، شكرًا لاتصالك بـ{{.Org}}. هذه الروابط التي تحدثنا عنها:",
		EN: "Hello{{if .Name}} {{.Name}}{{end}}, thank you for calling the {{.Org}}. Here are the links we talked about:",
	}
	defaultRating = Text{
		AR: "يسعدنا تقييمك للخدمة ولأداء ممثل خدمة العملاء عبر الرابط: {{.SurveyURL}}",
		EN: "Please rate the service and the representative who helped you: {{.SurveyURL}}",
	}
)

// RenderFollowUp renders a call's follow-up: the opening line, the links,
// and the rating line with the rating link. At least one link or the
// rating link is needed.
func (b *Bank) RenderFollowUp(f FollowUp) (Reply, error) {
	lang, err := b.lang(f.Language)
	if err != nil {
		return Reply{}, err
	}
	if !f.Channel.Valid() {
		return Reply{}, fmt.Errorf("replies: unknown channel %q", f.Channel)
	}
	if len(f.Links) == 0 && f.RatingURL == "" {
		return Reply{}, errors.New("replies: a follow-up needs links or a rating link")
	}
	d := TemplateData{Name: strings.TrimSpace(f.Name), Org: b.name.In(lang), SurveyURL: f.RatingURL}
	p := &prepared{lang: lang, data: d}
	run := func(ts langTemplates, def Text) error {
		t := ts[langIndex(lang)]
		if t == nil {
			var c checker
			t = c.compile("texts", "built-in", def, 0)[langIndex(lang)]
		}
		s, err := execute(t, d)
		if err != nil {
			return fmt.Errorf("replies: %w", err)
		}
		if s != "" {
			p.blocks = append(p.blocks, block{text: s})
		}
		return nil
	}
	if err := run(b.followUp, defaultFollowUp); err != nil {
		return Reply{}, err
	}
	if len(f.Links) > 0 {
		lines := make([]string, len(f.Links))
		for i, l := range f.Links {
			lines[i] = "- " + l.Title.In(lang) + ": " + l.URL
		}
		p.blocks = append(p.blocks, block{text: strings.Join(lines, "\n")})
	}
	if f.RatingURL != "" {
		if err := run(b.rating, defaultRating); err != nil {
			return Reply{}, err
		}
	}
	parts := make([]string, len(p.blocks))
	for i, bl := range p.blocks {
		parts[i] = bl.text
	}
	out := Reply{Subject: pick(lang == "ar", "روابط من مكالمتك مع ", "Links from your call with the ") + d.Org, Text: strings.Join(parts, "\n\n")}
	if f.Channel == message.Email {
		if out.HTML, err = b.html(p, out.Subject); err != nil {
			return Reply{}, err
		}
	}
	return out, nil
}

// LinkChoice is a link of the bank a representative can send, with a stable
// key: "topic#0" for a topic's first link, "topic#referral" for its
// competent office.
type LinkChoice struct {
	Key   string
	Topic string
	Link  Link
}

// LinkChoices lists every link of the bank's request topics, in file order:
// their forms and pages, then for out-of-scope topics the competent
// office's page.
func (b *Bank) LinkChoices() []LinkChoice {
	var out []LinkChoice
	for _, t := range b.topics {
		if t.Kind != TopicRequest {
			continue
		}
		for i, l := range t.Links {
			out = append(out, LinkChoice{Key: fmt.Sprintf("%s#%d", t.ID, i), Topic: t.ID, Link: l})
		}
		if r := t.Referral; r != nil && r.URL != "" {
			out = append(out, LinkChoice{Key: t.ID + "#referral", Topic: t.ID, Link: Link{Title: r.Office, URL: r.URL}})
		}
	}
	return out
}
