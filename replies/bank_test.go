package replies

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Every broken bank reports all of its problems, each with file and line.
func TestBrokenBanks(t *testing.T) {
	tests := []struct {
		file string
		want []string
	}{
		{"missing_answer_en.yaml", []string{
			`26: topic "maintenance": answer.en is missing`,
		}},
		{"unknown_fields.yaml", []string{
			`16: bank: unknown field "colour"`,
			`18: topic "maintenance": answer is missing`,
			`27: topics[0]: unknown field "answr"`,
		}},
		{"bad_hours.yaml", []string{
			`5: hours: timezone "Mars/Olympus_Mons" does not load: unknown time zone Mars/Olympus_Mons`,
			`6: hours: sunday: time range "14:30-07:30": ends before it starts (split ranges that cross midnight over two days)`,
			`7: hours: monday: time range "7:30-14:30": "7:30" is not HH:MM`,
			`8: hours: tuesday: time ranges 08:00-12:00 and 11:00-13:00 overlap`,
			`9: hours: unknown field "firday"`,
			`11: hours: holidays[0]: date "2026-13-01": want YYYY-MM-DD`,
			`14: hours: holidays[1]: until 2026-04-01 is before date 2026-04-10`,
			`16: hours: holidays[2]: name is missing`,
		}},
		{"scope_referral.yaml", []string{
			`19: topic "faq": scope must be in or out, got "maybe"`,
			`25: topic "faq": links[0]: url "example.edu.sa/form" is not an absolute http(s) URL`,
			`27: topic "faq": links[1]: url "javascript:alert(1)" is not an absolute http(s) URL`,
			`28: topic "grades": referral is missing (out-of-scope topics must say who handles them)`,
			`30: topic "grades": an out-of-scope topic cannot be actionable`,
			`39: topic "housing": referral: give a contact, a url or both`,
			`40: topic "housing": referral: office.en is missing`,
			`44: topic "repair": actionable must be true or false, got "yes please"`,
			`45: topic "repair": department "facilities" is not in departments`,
			`46: topic "repair": sla: invalid duration "soon" (examples: 90s, 30m, 24h, 7d, 1d12h)`,
		}},
		{"kinds.yaml", []string{
			`16: texts: choose.ar does not run: template: choose.ar:1:11: executing "choose.ar" at <.Nmae>: can't evaluate field Nmae in type replies.TemplateData`,
			`18: topic "chat": answer is missing`,
			`21: topic "chat": a smalltalk topic takes no scope`,
			`22: topic "chat": a smalltalk topic takes no department`,
			`27: topic "junk": a spam topic takes no sla`,
			`29: topic "junk": a spam topic is never answered: remove answer`,
			`32: topic "faq": kind must be request, smalltalk or spam, got "question"`,
		}},
		{"templates.yaml", []string{
			`15: texts: closing.en does not parse: template: closing.en:1: bad character U+007D '}'`,
			`24: topic "faq": answer.ar does not run: template: answer.ar:1:13: executing "answer.ar" at <.Nmae>: can't evaluate field Nmae in type replies.TemplateData`,
			`24: topic "faq": answer.en does not parse: template: answer.en:1: function "shout" not defined`,
		}},
		{"duplicates.yaml", []string{
			`10: department "cs": duplicate id (first at line 8)`,
			`22: topics[0]: field "scope" repeated (first at line 21)`,
			`24: topic "faq": example "What do  you DO" is repeated`,
			`26: topic "faq": duplicate id (first at line 19)`,
			`30: topic "faq": example "وش خدماتكم" is repeated`,
		}},
		{"rules.yaml", []string{
			`25: rule "one": topic "nope" is not in topics`,
			"29: rule \"two\": pattern \"([a-z\" does not compile: error parsing regexp: missing closing ]: `[a-z`",
			`30: rule "two": sender domain "not a domain" is not a domain name`,
			`31: rule "two": duplicate name (first at line 27)`,
			`31: rule "two": give keywords, patterns or sender_domains`,
			`33: rules[3]: name is missing`,
			`34: rules[3]: keywords[0] must be non-empty text, got ""`,
		}},
		{"examples.yaml", []string{
			`21: topic "faq": examples.en is missing or empty`,
			`22: topic "faq": examples.ar "what do you do" has no Arabic letters`,
			`28: topic "help": examples.ar is missing or empty`,
			`30: topic "help": examples.en "help me يا جماعة" contains Arabic letters`,
			`31: topic "help": examples: unknown field "fr"`,
		}},
		{"missing_parts.yaml", []string{
			`1: bank: name.en is missing`,
			`1: bank: hours is missing`,
			`1: bank: departments is missing`,
			`1: bank: topics is missing or empty`,
			`2: bank: default_language must be ar or en, got "fr"`,
			`3: bank: survey_url "ftp://example.edu.sa/survey" is not an absolute http(s) URL`,
			`4: texts: acknowledgement is missing`,
			`4: texts: referral is missing`,
			`4: texts: out_of_hours is missing`,
			`4: texts: closing is missing`,
			`5: texts: greeting.en is empty`,
		}},
		{"forms.yaml", []string{
			`18: forms: common: field "name": label.en is missing`,
			`29: topic "repair": form: needs a required field with identity email or mobile, so the request has a contact to answer`,
			`31: topic "repair": form: field "device": unknown type "dropdown" (want text, textarea, email, phone, number, date, time, choice, items, file)`,
			`32: topic "repair": form: field "when": future must be true or false, got "yes"`,
			`33: topic "repair": form: field "count": min 5 is above max 2`,
			`34: topic "repair": form: field "kind": a choice needs two options or more`,
			`35: topic "repair": form: field "photo": rows applies to items fields only`,
			`36: topic "repair": form: field "Email": name must be lower-case letters, digits and _`,
			`37: topic "repair": form: fields[6]: unknown field "colour"`,
			`37: topic "repair": form: field "name" is asked twice (first at line 18)`,
			`44: topic "faq": form: only an in-scope actionable topic has a form (a submission always opens a ticket)`,
			`47: topic "faq": form: field "phone": identity mobile needs type phone, not text`,
		}},
		{"syntax.yaml", []string{
			`2: yaml: did not find expected '-' indicator`,
		}},
		{"not_mapping.yaml", []string{
			`1: bank: expected a mapping, got a list`,
		}},
		{"empty.yaml", []string{
			` the file is empty`, // no line: it is about the whole file
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join("testdata", "broken", tt.file)
			b, err := LoadBank(path)
			if err == nil {
				t.Fatalf("LoadBank(%s) succeeded, want %d problems", path, len(tt.want))
			}
			if b != nil {
				t.Error("a broken bank was returned")
			}
			var be *BankError
			if !errors.As(err, &be) {
				t.Fatalf("error is %T, want *BankError: %v", err, err)
			}
			var got []string
			for _, p := range be.Problems {
				got = append(got, p.String())
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = path + ":" + w
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if err.Error() != strings.Join(got, "\n") {
				t.Errorf("Error() does not list the problems one per line:\n%s", err)
			}
		})
	}
}

func TestLoadBankMissingFile(t *testing.T) {
	_, err := LoadBank(filepath.Join("testdata", "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error = %v, want one wrapping fs.ErrNotExist", err)
	}
}

func loadTestBank(t *testing.T) *Bank {
	t.Helper()
	b, err := LoadBank(filepath.Join("testdata", "bank.yaml"))
	if err != nil {
		t.Fatalf("testdata/bank.yaml: %v", err)
	}
	return b
}

func TestParseBankFields(t *testing.T) {
	b := loadTestBank(t)
	if b.DefaultLanguage() != "ar" || b.Name().EN != "Test Service" || b.SurveyURL() != "https://example.edu.sa/survey?src=test&x=1" {
		t.Errorf("globals: %q %q %q", b.DefaultLanguage(), b.Name().EN, b.SurveyURL())
	}
	if got := b.File(); got != filepath.Join("testdata", "bank.yaml") {
		t.Errorf("File() = %q", got)
	}
	var ids []string
	for _, tp := range b.Topics() {
		ids = append(ids, tp.ID)
	}
	if strings.Join(ids, ",") != "repair,faq,grades,chat,junk" {
		t.Errorf("topics in file order = %v", ids)
	}
	repair, ok := b.Topic("repair")
	if !ok {
		t.Fatal("topic repair missing")
	}
	if repair.Scope != ScopeIn || !repair.Actionable || repair.Department != "maint" || repair.SLA != 48*time.Hour {
		t.Errorf("repair = %+v", repair)
	}
	if len(repair.Links) != 2 || repair.Links[1].URL != "https://example.edu.sa/itqan" || repair.Links[0].Title.AR != "نموذج الصيانة" {
		t.Errorf("repair links = %+v", repair.Links)
	}
	if len(repair.Examples.AR) != 2 || repair.Examples.EN[1] != "smart board not working" {
		t.Errorf("repair examples = %+v", repair.Examples)
	}
	if repair.Line != 47 || repair.Kind != TopicRequest {
		t.Errorf("repair.Line = %d, kind %q; want 47, request", repair.Line, repair.Kind)
	}
	chat, _ := b.Topic("chat")
	junk, _ := b.Topic("junk")
	if chat.Kind != TopicSmallTalk || chat.Scope != "" || chat.Answer.EN == "" || len(chat.Examples.AR) != 2 {
		t.Errorf("chat = %+v", chat)
	}
	if junk.Kind != TopicSpam || junk.Scope != "" || junk.Answer.AR != "" || junk.Examples.EN[0] != "you won a prize" {
		t.Errorf("junk = %+v", junk)
	}
	if b.Texts().Choose.EN != "Which of these do you need?" {
		t.Errorf("texts.choose = %+v", b.Texts().Choose)
	}
	grades, _ := b.Topic("grades")
	if grades.Scope != ScopeOut || grades.Actionable || grades.Referral == nil || grades.Referral.Office.EN != "the Registrar" {
		t.Errorf("grades = %+v", grades)
	}
	if _, ok := b.Topic("nope"); ok {
		t.Error("Topic(nope) found")
	}
	if dep, ok := b.Department("maint"); !ok || dep.Name.AR != "مركز الصيانة" {
		t.Errorf("Department(maint) = %+v, %v", dep, ok)
	}
	rules := b.Rules()
	if len(rules) != 1 {
		t.Fatalf("rules = %+v", rules)
	}
	r := rules[0]
	if r.Name != "itqan" || r.Topic != "repair" || len(r.Keywords) != 2 || r.Patterns[0] != `(?i)\bprojector\b` {
		t.Errorf("rule = %+v", r)
	}
	if len(r.SenderDomains) != 1 || r.SenderDomains[0] != "facilities.example.edu.sa" {
		t.Errorf("sender domains not normalized: %q", r.SenderDomains)
	}
	hols := b.Calendar().Holidays()
	if len(hols) != 2 || hols[0].From.String() != "2026-03-18" || hols[0].To.String() != "2026-03-28" {
		t.Errorf("holidays not sorted or until lost: %+v", hols)
	}
	// Accessors hand out copies: changing one does not change the bank.
	b.Topics()[0] = nil
	b.Rules()[0].Name = "changed"
	if b.Topics()[0] == nil || b.Rules()[0].Name != "itqan" {
		t.Error("accessors expose the bank's own slices")
	}
}

// Anchors and aliases let operators reuse a link or a text.
func TestParseBankAliases(t *testing.T) {
	src := `
name: {ar: خدمة, en: Service}
default_language: en
survey_url: https://example.edu.sa/survey
hours: {timezone: UTC, monday: &day ["09:00-17:00"], tuesday: *day}
departments: [{id: cs, name: {ar: خدمة, en: Service}}]
texts:
  acknowledgement: &t {ar: "نص", en: "text"}
  referral: *t
  fallback: *t
  out_of_hours: *t
  closing: *t
topics:
  - id: a
    title: {ar: أ, en: A}
    scope: in
    department: cs
    examples: {ar: ["سؤال"], en: ["question"]}
    answer: *t
    links: [&form {title: {ar: نموذج, en: Form}, url: "https://example.edu.sa/f"}]
  - id: b
    title: {ar: ب, en: B}
    scope: in
    department: cs
    examples: {ar: ["سؤال اخر"], en: ["another question"]}
    answer: *t
    links: [*form]
`
	b, err := ParseBank([]byte(src), "alias.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := b.Topic("b")
	if len(tb.Links) != 1 || tb.Links[0].URL != "https://example.edu.sa/f" {
		t.Errorf("aliased link = %+v", tb.Links)
	}
	if !b.Calendar().IsOpen(time.Date(2026, 1, 6, 10, 0, 0, 0, time.UTC)) { // a Tuesday
		t.Error("aliased tuesday hours lost")
	}
}

// The grammar is message.ParseDuration's (tested there); the bank adds
// its bounds.
func TestParseSLA(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"3d", 72 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"3650d", 3650 * 24 * time.Hour, false},
		{"0h", 0, true},
		{"0d", 0, true},
		{"3 days", 0, true},
		{"3651d", 0, true},
		{"99999d", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSLA(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseSLA(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseSLA(%q) = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

const configsBank = "../configs/bank.yaml"

// The shipped bank is the university's demo: it loads, and it has what the
// catalogue and the classifier need.
func TestConfigsBank(t *testing.T) {
	b, err := LoadBank(configsBank)
	if err != nil {
		t.Fatalf("configs/bank.yaml does not load:\n%v", err)
	}
	want := []struct {
		id         string
		scope      Scope
		actionable bool
		department string
	}{
		{"inquiries", ScopeIn, true, "administrative_affairs"},
		{"equipment_supply", ScopeIn, true, "classrooms"},
		{"equipment_maintenance", ScopeIn, true, "maintenance_center"},
		{"video_coverage", ScopeIn, true, "video_broadcast"},
		{"clearance", ScopeIn, false, "customer_service"},
		{"ministry_portal", ScopeIn, false, "customer_service"},
		{"admission", ScopeOut, false, ""},
		{"grades_records", ScopeOut, false, ""},
		{"salaries_hr", ScopeOut, false, ""},
		{"it_accounts", ScopeOut, false, ""},
		{"housing", ScopeOut, false, ""},
		{"transport", ScopeOut, false, ""},
	}
	if len(b.Topics()) != len(want)+2 {
		t.Errorf("%d topics, want %d and small talk and spam", len(b.Topics()), len(want))
	}
	for id, kind := range map[string]TopicKind{"smalltalk": TopicSmallTalk, "spam": TopicSpam} {
		tp, ok := b.Topic(id)
		if !ok || tp.Kind != kind {
			t.Errorf("topic %q: %+v, want kind %s", id, tp, kind)
			continue
		}
		if len(tp.Examples.AR) < 30 || len(tp.Examples.EN) < 30 {
			t.Errorf("topic %q: %d Arabic and %d English examples, want at least 30 each", id, len(tp.Examples.AR), len(tp.Examples.EN))
		}
	}
	for _, w := range want {
		tp, ok := b.Topic(w.id)
		if !ok {
			t.Errorf("topic %q missing", w.id)
			continue
		}
		if tp.Scope != w.scope || tp.Actionable != w.actionable || tp.Department != w.department {
			t.Errorf("topic %q: scope %s actionable %v department %q; want %s %v %q",
				w.id, tp.Scope, tp.Actionable, tp.Department, w.scope, w.actionable, w.department)
		}
		// Issue 11: at least 30 per language, the way customers write.
		if len(tp.Examples.AR) < 30 || len(tp.Examples.EN) < 30 {
			t.Errorf("topic %q: %d Arabic and %d English examples, want at least 30 each",
				w.id, len(tp.Examples.AR), len(tp.Examples.EN))
		}
		if tp.Scope == ScopeIn && len(tp.Links) == 0 {
			t.Errorf("topic %q: no link to a form or page", w.id)
		}
		if tp.Actionable && tp.SLA <= 0 {
			t.Errorf("topic %q: actionable without an SLA", w.id)
		}
	}
	cal := b.Calendar()
	if cal.Location().String() != "Asia/Riyadh" {
		t.Errorf("zone = %s", cal.Location())
	}
	if got := cal.Describe("en"); got != "Sunday–Thursday, 7:30 AM–2:30 PM (Riyadh time)" {
		t.Errorf("hours = %q", got)
	}
	if len(b.Rules()) == 0 {
		t.Error("no operator rules in the demo bank")
	}
}

type heldOut struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
}

// The held-back phrases (configs/bank.heldout.jsonl) and messages
// (configs/bank.heldout.messages.jsonl) are well formed, cover every topic
// in both languages, and none of them is in the bank (else the accuracy
// check would measure memory, not generalization).
func TestConfigsHeldOut(t *testing.T) {
	b, err := LoadBank(configsBank)
	if err != nil {
		t.Fatal(err)
	}

	inBank := map[string]string{}
	for _, tp := range b.Topics() {
		for _, p := range append(append([]string{}, tp.Examples.AR...), tp.Examples.EN...) {
			inBank[foldPhrase(p)] = tp.ID
		}
	}
	type key struct{ intent, lang string }
	counts := map[key]int{}
	seen := map[string]string{}
	oos := 0
	for _, file := range []string{"../configs/bank.heldout.jsonl", "../configs/bank.heldout.messages.jsonl"} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		line := 0
		for sc.Scan() {
			line++
			at := fmt.Sprintf("%s:%d", filepath.Base(file), line)
			var h heldOut
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&h); err != nil {
				t.Errorf("%s: %v", at, err)
				continue
			}
			if strings.TrimSpace(h.Text) == "" {
				t.Errorf("%s: empty text", at)
			}
			k := foldPhrase(h.Text)
			if first, dup := seen[k]; dup {
				t.Errorf("%s: %q repeats %s", at, h.Text, first)
			}
			seen[k] = at
			if topic, ok := inBank[k]; ok {
				t.Errorf("%s: %q is an example of topic %q in the bank", at, h.Text, topic)
			}
			if h.Intent == "oos" {
				oos++
				continue
			}
			if _, ok := b.Topic(h.Intent); !ok {
				t.Errorf("%s: intent %q is not a topic", at, h.Intent)
				continue
			}
			lang := "en"
			if hasArabic(h.Text) {
				lang = "ar"
			}
			counts[key{h.Intent, lang}]++
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for _, tp := range b.Topics() {
		for _, lang := range []string{"ar", "en"} {
			if n := counts[key{tp.ID, lang}]; n < 8 {
				t.Errorf("topic %q: %d held-out %s phrases, want at least 8", tp.ID, n, lang)
			}
		}
	}
	if oos < 60 {
		t.Errorf("%d off-topic phrases, want at least 30", oos)
	}
}
