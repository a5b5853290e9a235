// Package replies holds the knowledge bank an operator edits (topics, their
// example phrases and answers, links, referrals, working hours, the fixed
// texts of every automatic reply) and renders replies from it in Arabic or
// English, as plain text for SMS and WhatsApp and as text plus HTML for email.
//
// The bank is YAML. Parsing walks the yaml.Node tree by hand so that unknown
// fields are rejected and every problem names its file and line; all problems
// are reported at once. Bank texts are text/template templates producing
// plain text; the HTML of an email is built from that text by html/template,
// so neither the operator's wording nor a customer's name can inject markup.
package replies

import (
	"bytes"
	"fmt"
	htmltemplate "html/template"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"

	"github.com/wasl-dev/wasl/message"
)

// Text is a piece of wording in both languages the bank speaks.
type Text struct {
	AR, EN string
}

// In returns the text in lang ("en" gives English, anything else Arabic).
func (t Text) In(lang string) string {
	if lang == "en" {
		return t.EN
	}
	return t.AR
}

// Scope says whether a topic is the unit's business ("in") or must be
// referred elsewhere ("out").
type Scope string

// The two scopes.
const (
	ScopeIn  Scope = "in"
	ScopeOut Scope = "out"
)

// Department is a unit that tickets are routed to. ID is the stable key
// tickets and reports use; Name is what customers and staff read.
type Department struct {
	ID   string
	Name Text
}

// Link is a form or page a reply points the customer to.
type Link struct {
	Title Text
	URL   string
}

// Referral says who handles an out-of-scope request and how to reach them.
type Referral struct {
	Office  Text
	Contact string // phone, email or both, as written by the operator
	URL     string // may be empty when Contact is given
}

// TopicKind says whether a topic is a request or a message that asks for
// nothing.
type TopicKind string

// Topic kinds. A request is in or out of scope (Topic.Scope). Small talk
// (greetings, thanks, "ok") is answered with the topic's one polite line
// and never becomes a ticket; spam (prize draws, loan offers, mass
// marketing) is kept for the inbox and never answered. Neither has a
// scope, department, SLA, links or referral.
const (
	TopicRequest   TopicKind = "request"
	TopicSmallTalk TopicKind = "smalltalk"
	TopicSpam      TopicKind = "spam"
)

// Examples are the phrases the classifier learns a topic from.
type Examples struct {
	AR, EN []string
}

// Topic is one kind of request the bank knows.
type Topic struct {
	ID         string
	Title      Text
	Kind       TopicKind // TopicRequest unless the bank says otherwise
	Scope      Scope     // "" for small talk and spam
	Actionable bool      // true: the request becomes a ticket; false: answer only
	Department string    // Department.ID; empty only for out-of-scope topics
	// SLA is the time the department has to resolve a ticket, counted in
	// the calendar's working time: whole days ("3d") are working days, the
	// rest ("4h", "1d4h") working hours. SLAText is it as written ("" when
	// not set), which package tickets reads into days and hours; SLA is the
	// same as one duration (a day as 24 h), for wording it.
	SLA     time.Duration
	SLAText string
	// FirstResponse is the time, counted the same way, within which a
	// person (not an automatic reply) should first answer; optional.
	FirstResponse     time.Duration
	FirstResponseText string
	Examples          Examples
	Answer            Text // text/template source
	Links             []Link
	Referral          *Referral // set for out-of-scope topics
	// Form is the topic's public request form (forms.go); nil for none.
	Form *Form
	Line int // where the topic starts in the bank file

	answer langTemplates
}

// Rule is an operator override for the classifier: a message that matches
// any keyword, pattern (regular expression) or sender domain goes to Topic.
// The bank only checks rules; the classifier applies them.
type Rule struct {
	Name          string
	Topic         string
	Keywords      []string
	Patterns      []string
	SenderDomains []string // lower-case, without "@"
	Line          int
}

// Texts are the bank's fixed wordings, each a text/template.
type Texts struct {
	Greeting        Text // optional
	Acknowledgement Text // ticket created; use {{.TicketRef}}
	Referral        Text // out of scope; use {{.Office}}, {{.Contact}}, {{.URL}}
	Fallback        Text // not sure what the customer wants
	OutOfHours      Text // added when closed; use {{.NextOpening}}
	Closing         Text // ticket closed; use {{.SurveyURL}}
	// Choose introduces the services a customer is asked to pick from when
	// the classifier is unsure; optional (a built-in wording is used).
	Choose Text
	// FollowUp opens what a representative sends a caller after a call
	// (the links they spoke of follow); Rating closes it, with
	// {{.SurveyURL}} the call's rating link. Both optional (built-in
	// wordings are used).
	FollowUp, Rating Text
}

// Bank is a parsed and validated knowledge bank. It is immutable and safe for
// concurrent use; do not modify what its accessors return.
type Bank struct {
	file        string
	name        Text
	defaultLang string
	surveyURL   string
	cal         *Calendar
	departments []Department
	texts       Texts
	topics      []*Topic
	byID        map[string]*Topic
	rules       []Rule

	greeting, ack, referral, fallback, ooh, closing, choose, followUp, rating langTemplates
	layout                                                                    *htmltemplate.Template
}

// langTemplates holds one compiled template per language; index 0 is
// Arabic, 1 English. A nil entry means the text is not set.
type langTemplates [2]*template.Template

func langIndex(lang string) int {
	if lang == "en" {
		return 1
	}
	return 0
}

// LoadBank reads and validates the bank at path. Problems name path as given.
func LoadBank(path string) (*Bank, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load knowledge bank: %w", err)
	}
	return ParseBank(data, path)
}

// Topic returns the topic with id.
func (b *Bank) Topic(id string) (*Topic, bool) {
	t, ok := b.byID[id]
	return t, ok
}

// Topics returns every topic in file order.
func (b *Bank) Topics() []*Topic { return append([]*Topic(nil), b.topics...) }

// Calendar returns the working-hours calendar.
func (b *Bank) Calendar() *Calendar { return b.cal }

// Rules returns the classifier overrides in file order.
func (b *Bank) Rules() []Rule { return append([]Rule(nil), b.rules...) }

// Departments returns the departments in file order.
func (b *Bank) Departments() []Department { return append([]Department(nil), b.departments...) }

// Department returns the department with id.
func (b *Bank) Department(id string) (Department, bool) {
	for _, d := range b.departments {
		if d.ID == id {
			return d, true
		}
	}
	return Department{}, false
}

// DefaultLanguage is the language used when a message's is unknown or mixed.
func (b *Bank) DefaultLanguage() string { return b.defaultLang }

// Name is the organisation's name, as replies sign it.
func (b *Bank) Name() Text { return b.name }

// SurveyURL is the satisfaction-survey link closing replies carry.
func (b *Bank) SurveyURL() string { return b.surveyURL }

// Texts returns the bank's fixed wordings (template sources).
func (b *Bank) Texts() Texts { return b.texts }

// File is the name the bank was parsed under.
func (b *Bank) File() string { return b.file }

// weekdayKey is the bank's key for a day of the week: "sunday"…
func weekdayKey(wd time.Weekday) string { return strings.ToLower(wd.String()) }

// ParseBank parses and validates a bank. filename is used in problems only.
// The error, when not nil, is a *BankError listing every problem found.
func ParseBank(data []byte, filename string) (*Bank, error) {
	c := &checker{file: filename}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.syntax(err)
		return nil, c.err()
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		c.errf(0, "the file is empty")
		return nil, c.err()
	}
	root, ok := c.mapping(doc.Content[0], "bank", "name", "default_language", "survey_url", "hours",
		"departments", "texts", "forms", "topics", "rules")
	if !ok {
		return nil, c.err()
	}
	b := &Bank{file: filename, byID: map[string]*Topic{}}

	b.name, _, _ = c.text(root, "name", "bank", true)
	lang, line := c.str(root, "default_language", "bank", true)
	switch lang {
	case "ar", "en":
		b.defaultLang = lang
	case "":
	default:
		c.errf(line, "bank: default_language must be ar or en, got %q", lang)
	}
	if u, line := c.str(root, "survey_url", "bank", true); u != "" {
		checkURL(c, line, "bank: survey_url", u)
		b.surveyURL = u
	}
	b.cal = c.hours(root)
	b.departments = c.departments(root)
	b.texts = c.texts(root, b)
	b.topics = c.topics(root, b, c.formsRoot(root))
	for _, t := range b.topics {
		if t.ID != "" {
			b.byID[t.ID] = t
		}
	}
	b.rules = c.rules(root, b)

	if err := c.err(); err != nil {
		return nil, err
	}
	layout, err := htmltemplate.New("email").Parse(emailLayout)
	if err != nil {
		return nil, fmt.Errorf("replies: email layout: %w", err)
	}
	b.layout = layout
	return b, nil
}

func (c *checker) hours(root fields) *Calendar {
	fl, ok := root.get("hours")
	if !ok {
		c.errf(root.line, "bank: hours is missing")
		return nil
	}
	known := []string{"timezone", "holidays", "special"}
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		known = append(known, weekdayKey(wd))
	}
	h, ok := c.mapping(fl.val, "hours", known...)
	if !ok {
		return nil
	}
	h.line = fl.key.Line
	var loc *time.Location
	if tz, line := c.str(h, "timezone", "hours", true); tz != "" {
		l, err := time.LoadLocation(tz)
		if err != nil {
			c.errf(line, "hours: timezone %q does not load: %v", tz, err)
		} else {
			loc = l
		}
	}
	week := map[time.Weekday][]Range{}
	given := false
	for wd := time.Sunday; wd <= time.Saturday; wd++ {
		name := weekdayKey(wd)
		spans, lines := c.strList(h, name, "hours")
		given = given || len(spans) > 0
		var rs []Range
		for i, s := range spans {
			r, err := parseRange(s)
			if err != nil {
				c.errf(lines[i], "hours: %s: %v", name, err)
				continue
			}
			rs = append(rs, r)
		}
		if len(rs) == 0 {
			continue
		}
		if err := checkDay(rs); err != nil {
			c.errf(lines[0], "hours: %s: %v", name, err)
			continue
		}
		week[wd] = rs
	}
	if !given {
		c.errf(h.line, "hours: no working day has opening times")
	}
	var hols []Holiday
	items, _ := c.list(h, "holidays", "hours")
	for i, n := range items {
		what := fmt.Sprintf("hours: holidays[%d]", i)
		hf, ok := c.mapping(n, what, "date", "until", "name")
		if !ok {
			continue
		}
		var hol Holiday
		ds, line := c.str(hf, "date", what, true)
		if ds != "" {
			d, err := ParseDate(ds)
			if err != nil {
				c.errf(line, "%s: %v", what, err)
				continue
			}
			hol.From, hol.To = d, d
		}
		if us, line := c.str(hf, "until", what, false); us != "" {
			d, err := ParseDate(us)
			if err != nil {
				c.errf(line, "%s: until: %v", what, err)
			} else if d.before(hol.From) {
				c.errf(line, "%s: until %s is before date %s", what, d, hol.From)
			} else {
				hol.To = d
			}
		}
		hol.Name, _, _ = c.text(hf, "name", what, true)
		hols = append(hols, hol)
	}
	special := c.special(h)
	if loc == nil {
		return nil
	}
	cal, err := NewCalendar(loc, week, hols)
	if err == nil {
		cal, err = cal.WithSpecial(special...)
	}
	if err != nil {
		c.errf(h.line, "hours: %v", err)
		return nil
	}
	return cal
}

// special reads hours.special: periods with other opening times for every
// working day, e.g. Ramadan's.
func (c *checker) special(h fields) []Special {
	var out []Special
	items, _ := c.list(h, "special", "hours")
	for i, n := range items {
		what := fmt.Sprintf("hours: special[%d]", i)
		f, ok := c.mapping(n, what, "date", "until", "name", "hours")
		if !ok {
			continue
		}
		var sp Special
		ds, line := c.str(f, "date", what, true)
		if ds != "" {
			d, err := ParseDate(ds)
			if err != nil {
				c.errf(line, "%s: %v", what, err)
				continue
			}
			sp.From, sp.To = d, d
		}
		if us, line := c.str(f, "until", what, false); us != "" {
			d, err := ParseDate(us)
			if err != nil {
				c.errf(line, "%s: until: %v", what, err)
			} else if d.before(sp.From) {
				c.errf(line, "%s: until %s is before date %s", what, d, sp.From)
			} else {
				sp.To = d
			}
		}
		sp.Name, _, _ = c.text(f, "name", what, true)
		spans, lines := c.strList(f, "hours", what)
		if len(spans) == 0 {
			c.errf(f.line, "%s: hours is missing (a closed period is a holiday)", what)
		}
		for j, s := range spans {
			r, err := parseRange(s)
			if err != nil {
				c.errf(lines[j], "%s: %v", what, err)
				continue
			}
			sp.Ranges = append(sp.Ranges, r)
		}
		if len(sp.Ranges) > 0 {
			if err := checkDay(sp.Ranges); err != nil {
				c.errf(lines[0], "%s: %v", what, err)
				continue
			}
		}
		out = append(out, sp)
	}
	return out
}

var idPattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func (c *checker) departments(root fields) []Department {
	items, present := c.list(root, "departments", "bank")
	if !present {
		c.errf(root.line, "bank: departments is missing")
	}
	var out []Department
	seen := map[string]int{}
	for i, n := range items {
		what := fmt.Sprintf("departments[%d]", i)
		f, ok := c.mapping(n, what, "id", "name")
		if !ok {
			continue
		}
		id, line := c.str(f, "id", what, true)
		if id != "" {
			what = fmt.Sprintf("department %q", id)
			if !idPattern.MatchString(id) {
				c.errf(line, "%s: id must be lower-case letters, digits and _", what)
			}
			if first, dup := seen[id]; dup {
				c.errf(line, "%s: duplicate id (first at line %d)", what, first)
			}
			seen[id] = line
		}
		name, _, _ := c.text(f, "name", what, true)
		out = append(out, Department{ID: id, Name: name})
	}
	return out
}

func (c *checker) texts(root fields, b *Bank) Texts {
	fl, ok := root.get("texts")
	if !ok {
		c.errf(root.line, "bank: texts is missing")
		return Texts{}
	}
	f, ok := c.mapping(fl.val, "texts", "greeting", "acknowledgement", "referral", "fallback", "out_of_hours", "closing", "choose",
		"follow_up", "rating")
	if !ok {
		return Texts{}
	}
	f.line = fl.key.Line
	var t Texts
	for _, x := range []struct {
		name string
		src  *Text
		dst  *langTemplates
		opt  bool
	}{
		{"greeting", &t.Greeting, &b.greeting, true},
		{"acknowledgement", &t.Acknowledgement, &b.ack, false},
		{"referral", &t.Referral, &b.referral, false},
		{"fallback", &t.Fallback, &b.fallback, false},
		{"out_of_hours", &t.OutOfHours, &b.ooh, false},
		{"closing", &t.Closing, &b.closing, false},
		{"choose", &t.Choose, &b.choose, true},
		{"follow_up", &t.FollowUp, &b.followUp, true},
		{"rating", &t.Rating, &b.rating, true},
	} {
		text, line, _ := c.text(f, x.name, "texts", !x.opt)
		*x.src = text
		*x.dst = c.compile("texts", x.name, text, line)
	}
	return t
}

func (c *checker) topics(root fields, b *Bank, common []FormField) []*Topic {
	items, present := c.list(root, "topics", "bank")
	if !present || len(items) == 0 {
		c.errf(root.line, "bank: topics is missing or empty")
	}
	var out []*Topic
	seen := map[string]int{}
	exampleOwner := map[string]string{} // normalized phrase → topic id
	for i, n := range items {
		what := fmt.Sprintf("topics[%d]", i)
		f, ok := c.mapping(n, what, "id", "title", "kind", "scope", "actionable", "department", "sla", "first_response",
			"examples", "answer", "links", "referral", "form")
		if !ok {
			continue
		}
		t := &Topic{Line: n.Line, Kind: TopicRequest}
		id, line := c.str(f, "id", what, true)
		if id != "" {
			what = fmt.Sprintf("topic %q", id)
			if !idPattern.MatchString(id) {
				c.errf(line, "%s: id must be lower-case letters, digits and _", what)
			}
			if id == "oos" {
				c.errf(line, "%s: id \"oos\" is reserved for out-of-scope evaluation data", what)
			}
			if first, dup := seen[id]; dup {
				c.errf(line, "%s: duplicate id (first at line %d)", what, first)
			}
			seen[id] = line
		}
		t.ID = id
		t.Title, _, _ = c.text(f, "title", what, true)

		kind, line := c.str(f, "kind", what, false)
		switch TopicKind(kind) {
		case "", TopicRequest:
		case TopicSmallTalk, TopicSpam:
			t.Kind = TopicKind(kind)
			c.notARequest(f, what, t, exampleOwner)
			out = append(out, t)
			continue
		default:
			c.errf(line, "%s: kind must be request, smalltalk or spam, got %q", what, kind)
		}

		scope, line := c.str(f, "scope", what, true)
		switch Scope(scope) {
		case ScopeIn, ScopeOut:
			t.Scope = Scope(scope)
		case "":
		default:
			c.errf(line, "%s: scope must be in or out, got %q", what, scope)
		}
		t.Actionable = c.boolean(f, "actionable", what, false)
		if t.Scope == ScopeOut && t.Actionable {
			c.errf(line, "%s: an out-of-scope topic cannot be actionable", what)
		}

		dep, line := c.str(f, "department", what, false)
		switch {
		case dep == "" && t.Scope == ScopeIn:
			c.errf(f.line, "%s: department is missing", what)
		case dep != "":
			if _, ok := b.Department(dep); !ok && len(b.departments) > 0 {
				c.errf(line, "%s: department %q is not in departments", what, dep)
			}
		}
		t.Department = dep

		if s, line := c.str(f, "sla", what, false); s != "" {
			d, err := parseSLA(s)
			if err != nil {
				c.errf(line, "%s: sla: %v", what, err)
			}
			t.SLA, t.SLAText = d, strings.TrimSpace(s)
		} else if t.Actionable && t.Scope == ScopeIn {
			c.errf(f.line, "%s: sla is missing (actionable topics need one)", what)
		}
		if s, line := c.str(f, "first_response", what, false); s != "" {
			d, err := parseSLA(s)
			if err != nil {
				c.errf(line, "%s: first_response: %v", what, err)
			}
			t.FirstResponse, t.FirstResponseText = d, strings.TrimSpace(s)
		}

		t.Examples = c.examples(f, what, id, exampleOwner)
		var answerLine int
		t.Answer, answerLine, _ = c.text(f, "answer", what, true)
		t.answer = c.compile(what, "answer", t.Answer, answerLine)
		t.Links = c.links(f, what)
		t.Referral = c.referral(f, what)
		t.Form = c.topicForm(f, what, t, common)
		if t.Scope == ScopeOut && t.Referral == nil {
			if _, given := f.get("referral"); !given {
				c.errf(f.line, "%s: referral is missing (out-of-scope topics must say who handles them)", what)
			}
		}
		out = append(out, t)
	}
	return out
}

// notARequest reads a small-talk or spam topic: examples, and the one line
// that answers small talk; nothing that only a request can have.
func (c *checker) notARequest(f fields, what string, t *Topic, owner map[string]string) {
	t.Examples = c.examples(f, what, t.ID, owner)
	for _, name := range []string{"scope", "actionable", "department", "sla", "links", "referral", "form"} {
		if fl, given := f.get(name); given {
			c.errf(fl.key.Line, "%s: a %s topic takes no %s", what, t.Kind, name)
		}
	}
	if fl, given := f.get("answer"); given && t.Kind == TopicSpam {
		c.errf(fl.key.Line, "%s: a spam topic is never answered: remove answer", what)
	}
	if t.Kind == TopicSmallTalk {
		var line int
		t.Answer, line, _ = c.text(f, "answer", what, true)
		t.answer = c.compile(what, "answer", t.Answer, line)
	}
}

func (c *checker) examples(f fields, what, id string, owner map[string]string) Examples {
	fl, ok := f.get("examples")
	if !ok {
		c.errf(f.line, "%s: examples is missing", what)
		return Examples{}
	}
	ef, ok := c.mapping(fl.val, what+": examples", "ar", "en")
	if !ok {
		return Examples{}
	}
	ef.line = fl.key.Line
	var ex Examples
	for _, lang := range []string{"ar", "en"} {
		phrases, lines := c.strList(ef, lang, what+": examples")
		if len(phrases) == 0 {
			c.errf(ef.line, "%s: examples.%s is missing or empty", what, lang)
			continue
		}
		for i, p := range phrases {
			arabic := hasArabic(p)
			if lang == "ar" && !arabic {
				c.errf(lines[i], "%s: examples.ar %q has no Arabic letters", what, p)
			}
			if lang == "en" && arabic {
				c.errf(lines[i], "%s: examples.en %q contains Arabic letters", what, p)
			}
			key := foldPhrase(p)
			if other, dup := owner[key]; dup {
				if other == id {
					c.errf(lines[i], "%s: example %q is repeated", what, p)
				} else {
					c.errf(lines[i], "%s: example %q is also an example of topic %q", what, p, other)
				}
				continue
			}
			owner[key] = id
		}
		if lang == "ar" {
			ex.AR = phrases
		} else {
			ex.EN = phrases
		}
	}
	return ex
}

func hasArabic(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Arabic, r) && unicode.IsLetter(r) {
			return true
		}
	}
	return false
}

// foldPhrase is the key for spotting duplicate examples: case and spacing
// do not make a phrase new.
func foldPhrase(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

func (c *checker) links(f fields, what string) []Link {
	items, _ := c.list(f, "links", what)
	var out []Link
	for i, n := range items {
		lw := fmt.Sprintf("%s: links[%d]", what, i)
		lf, ok := c.mapping(n, lw, "title", "url")
		if !ok {
			continue
		}
		var l Link
		l.Title, _, _ = c.text(lf, "title", lw, true)
		u, line := c.str(lf, "url", lw, true)
		if u != "" {
			checkURL(c, line, lw+": url", u)
		}
		l.URL = u
		out = append(out, l)
	}
	return out
}

func (c *checker) referral(f fields, what string) *Referral {
	fl, ok := f.get("referral")
	if !ok || isNull(fl.val) {
		return nil
	}
	rw := what + ": referral"
	rf, ok := c.mapping(fl.val, rw, "office", "contact", "url")
	if !ok {
		return nil
	}
	rf.line = fl.key.Line
	var r Referral
	r.Office, _, _ = c.text(rf, "office", rw, true)
	r.Contact, _ = c.str(rf, "contact", rw, false)
	u, line := c.str(rf, "url", rw, false)
	if u != "" {
		checkURL(c, line, rw+": url", u)
	}
	r.URL = u
	if strings.TrimSpace(r.Contact) == "" && u == "" {
		c.errf(rf.line, "%s: give a contact, a url or both", rw)
	}
	return &r
}

func checkURL(c *checker, line int, what, raw string) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.errf(line, "%s %q is not an absolute http(s) URL", what, raw)
	}
}

var domainPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$`)

func (c *checker) rules(root fields, b *Bank) []Rule {
	items, _ := c.list(root, "rules", "bank")
	var out []Rule
	seen := map[string]int{}
	for i, n := range items {
		what := fmt.Sprintf("rules[%d]", i)
		f, ok := c.mapping(n, what, "name", "topic", "keywords", "patterns", "sender_domains")
		if !ok {
			continue
		}
		r := Rule{Line: n.Line}
		name, line := c.str(f, "name", what, true)
		if name != "" {
			what = fmt.Sprintf("rule %q", name)
			if first, dup := seen[name]; dup {
				c.errf(line, "%s: duplicate name (first at line %d)", what, first)
			}
			seen[name] = line
		}
		r.Name = name
		topic, line := c.str(f, "topic", what, true)
		if topic != "" {
			if _, ok := b.byID[topic]; !ok {
				c.errf(line, "%s: topic %q is not in topics", what, topic)
			}
		}
		r.Topic = topic
		r.Keywords, _ = c.strList(f, "keywords", what)
		var lines []int
		r.Patterns, lines = c.strList(f, "patterns", what)
		for i, p := range r.Patterns {
			if _, err := regexp.Compile(p); err != nil {
				c.errf(lines[i], "%s: pattern %q does not compile: %v", what, p, err)
			}
		}
		domains, lines := c.strList(f, "sender_domains", what)
		for i, d := range domains {
			d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
			if !domainPattern.MatchString(d) {
				c.errf(lines[i], "%s: sender domain %q is not a domain name", what, domains[i])
				continue
			}
			r.SenderDomains = append(r.SenderDomains, d)
		}
		if len(r.Keywords)+len(r.Patterns)+len(domains) == 0 {
			c.errf(f.line, "%s: give keywords, patterns or sender_domains", what)
		}
		out = append(out, r)
	}
	return out
}

// maxSLA bounds an SLA to something a department can mean.
const maxSLA = 3650 * 24 * time.Hour

// parseSLA reads an SLA in the config's duration grammar
// (message.ParseDuration): positive, at most ten years.
func parseSLA(s string) (time.Duration, error) {
	d, err := message.ParseDuration(s)
	switch {
	case err != nil:
		return 0, err
	case d <= 0:
		return 0, fmt.Errorf("%q: must be positive", s)
	case d > maxSLA:
		return 0, fmt.Errorf("%q: more than ten years", s)
	}
	return d, nil
}

// compile parses a template pair and runs it once on sample data, so a
// misspelt field ({{.Nmae}}) fails at load time rather than on a customer.
func (c *checker) compile(what, name string, src Text, line int) langTemplates {
	var out langTemplates
	for i, lang := range []string{"ar", "en"} {
		s := src.In(lang)
		if s == "" {
			continue
		}
		tn := name + "." + lang
		t, err := template.New(tn).Option("missingkey=error").Parse(s)
		if err != nil {
			c.errf(line, "%s: %s does not parse: %v", what, tn, err)
			continue
		}
		if err := t.Execute(io.Discard, sampleData()); err != nil {
			c.errf(line, "%s: %s does not run: %v", what, tn, err)
			continue
		}
		out[i] = t
	}
	return out
}

// sampleData fills every field so templates are exercised at load time.
func sampleData() TemplateData {
	return TemplateData{
		Name: "Sample", TicketRef: "EDU-2026-000001", Topic: "topic", Department: "department",
		SLA: "3 days", Org: "org", Hours: "hours", NextOpening: "Sunday", Holiday: "holiday",
		SurveyURL: "https://example.com/s", Office: "office", Contact: "contact", URL: "https://example.com/",
	}
}

func execute(t *template.Template, data TemplateData) (string, error) {
	if t == nil {
		return "", nil
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	return strings.TrimSpace(buf.String()), nil
}
