package replies

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldType says what a form field takes and how an answer is checked.
type FieldType string

// The field types a form can ask.
const (
	FieldText     FieldType = "text"     // one line
	FieldTextarea FieldType = "textarea" // several lines
	FieldEmail    FieldType = "email"    // an address, checked
	FieldPhone    FieldType = "phone"    // a number, stored in E.164 (the gateway's default region for local numbers)
	FieldNumber   FieldType = "number"   // a whole number, within min and max
	FieldDate     FieldType = "date"     // a day, YYYY-MM-DD; future: today or later in the bank's time zone
	FieldTime     FieldType = "time"     // a time of day, HH:MM
	FieldChoice   FieldType = "choice"   // one of options
	FieldItems    FieldType = "items"    // rows of item and quantity (teaching-equipment supply)
	FieldFile     FieldType = "file"     // an upload: an image or a PDF
)

var fieldTypes = []FieldType{FieldText, FieldTextarea, FieldEmail, FieldPhone, FieldNumber, FieldDate, FieldTime, FieldChoice, FieldItems, FieldFile}

// Identity roles: which field names the customer (the contact's display
// name) and which keys their contact (email, mobile).
const (
	IdentityName   = "name"
	IdentityEmail  = "email"
	IdentityMobile = "mobile"
)

// Option is one answer of a choice field.
type Option struct {
	Value string // the key stored beside the label (reports count by it)
	Label Text
}

// FormField is one question of a form.
type FormField struct {
	Name     string
	Type     FieldType
	Label    Text
	Help     Text // optional hint under the field
	Required bool
	// Identity is "", IdentityName, IdentityEmail or IdentityMobile.
	Identity  string
	Options   []Option // choice
	Rows      int      // items: how many rows the page offers
	Min, Max  *int     // number
	Future    bool     // date: today or later, in the bank's time zone
	MaxLength int      // text, textarea, items (each item's name): in characters
	Common    bool     // one of the bank's common fields
	Line      int
}

// Form is the public request form of a topic: the bank's common fields
// (unless the topic opts out) and then its own.
type Form struct {
	Intro  Text // optional, shown above the fields
	Fields []FormField
	Line   int
}

// Field returns the field called name.
func (f *Form) Field(name string) (FormField, bool) {
	for _, x := range f.Fields {
		if x.Name == name {
			return x, true
		}
	}
	return FormField{}, false
}

// Forms returns the topics that have a public form, in file order.
func (b *Bank) Forms() []*Topic {
	var out []*Topic
	for _, t := range b.topics {
		if t.Form != nil {
			out = append(out, t)
		}
	}
	return out
}

// Default text lengths, in characters.
const (
	defaultTextLength     = 200
	defaultTextareaLength = 4000
	maxFieldLength        = 20000
	defaultItemRows       = 5
	maxItemRows           = 30
)

var optionPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// formsRoot reads the bank's forms section: the fields every form starts
// with.
func (c *checker) formsRoot(root fields) []FormField {
	fl, ok := root.get("forms")
	if !ok || isNull(fl.val) {
		return nil
	}
	f, ok := c.mapping(fl.val, "forms", "common")
	if !ok {
		return nil
	}
	f.line = fl.key.Line
	items, _ := c.list(f, "common", "forms")
	return c.formFields(items, "forms: common", "")
}

// topicForm reads a topic's form: common fields, then its own.
func (c *checker) topicForm(f fields, what string, t *Topic, common []FormField) *Form {
	fl, ok := f.get("form")
	if !ok || isNull(fl.val) {
		return nil
	}
	fw := what + ": form"
	ff, ok := c.mapping(fl.val, fw, "intro", "common", "fields")
	if !ok {
		return nil
	}
	ff.line = fl.key.Line
	if t.Scope != ScopeIn || !t.Actionable {
		c.errf(fl.key.Line, "%s: only an in-scope actionable topic has a form (a submission always opens a ticket)", fw)
	}
	form := &Form{Line: fl.key.Line}
	form.Intro, _, _ = c.text(ff, "intro", fw, false)
	if c.boolean(ff, "common", fw, true) {
		for _, x := range common {
			x.Common = true
			form.Fields = append(form.Fields, x)
		}
	}
	items, _ := c.list(ff, "fields", fw)
	form.Fields = append(form.Fields, c.formFields(items, fw, "fields")...)
	if len(form.Fields) == 0 {
		c.errf(fl.key.Line, "%s: has no fields", fw)
		return form
	}

	seen := map[string]int{}
	roles := map[string]int{}
	keyed := false
	for _, x := range form.Fields {
		if x.Name != "" {
			if first, dup := seen[x.Name]; dup {
				c.errf(x.Line, "%s: field %q is asked twice (first at line %d)", fw, x.Name, first)
			}
			seen[x.Name] = x.Line
		}
		if x.Identity != "" {
			if first, dup := roles[x.Identity]; dup {
				c.errf(x.Line, "%s: two fields give the %s (first at line %d)", fw, x.Identity, first)
			}
			roles[x.Identity] = x.Line
			keyed = keyed || (x.Required && (x.Identity == IdentityEmail || x.Identity == IdentityMobile))
		}
	}
	if !keyed {
		c.errf(fl.key.Line, "%s: needs a required field with identity email or mobile, so the request has a contact to answer", fw)
	}
	return form
}

// formFields reads a list of fields; owner and list name them in problems
// ("topic \"x\": form", "fields").
func (c *checker) formFields(items []*yaml.Node, owner, list string) []FormField {
	var out []FormField
	for i, n := range items {
		what := fmt.Sprintf("%s: %s[%d]", owner, list, i)
		if list == "" {
			what = fmt.Sprintf("%s[%d]", owner, i)
		}
		f, ok := c.mapping(n, what, "name", "type", "label", "help", "required", "identity", "options", "rows", "min", "max", "future", "max_length")
		if !ok {
			continue
		}
		x := FormField{Line: n.Line}
		name, line := c.str(f, "name", what, true)
		if name != "" {
			what = fmt.Sprintf("%s: field %q", owner, name)
			if !idPattern.MatchString(name) {
				c.errf(line, "%s: name must be lower-case letters, digits and _", what)
			}
		}
		x.Name = name
		typ, line := c.str(f, "type", what, true)
		x.Type = FieldType(typ)
		if typ != "" && !slices.Contains(fieldTypes, x.Type) {
			c.errf(line, "%s: unknown type %q (want %s)", what, typ, typeList())
		}
		x.Label, _, _ = c.text(f, "label", what, true)
		x.Help, _, _ = c.text(f, "help", what, false)
		x.Required = c.boolean(f, "required", what, false)

		id, line := c.str(f, "identity", what, false)
		x.Identity = id
		want := map[string]FieldType{IdentityName: FieldText, IdentityEmail: FieldEmail, IdentityMobile: FieldPhone}
		if id != "" {
			if wt, ok := want[id]; !ok {
				c.errf(line, "%s: identity must be name, email or mobile, got %q", what, id)
			} else if x.Type != "" && x.Type != wt {
				c.errf(line, "%s: identity %s needs type %s, not %s", what, id, wt, x.Type)
			}
		}

		x.Options = c.options(f, what, x.Type)
		x.Rows = c.intAt(f, "rows", what, 0)
		x.Min, x.Max = c.intPtr(f, "min", what), c.intPtr(f, "max", what)
		x.Future = c.boolean(f, "future", what, false)
		x.MaxLength = c.intAt(f, "max_length", what, 0)
		only := func(key string, types ...FieldType) {
			if fl, given := f.get(key); given && x.Type != "" && !slices.Contains(types, x.Type) {
				c.errf(fl.key.Line, "%s: %s applies to %s fields only", what, key, joinTypes(types))
			}
		}
		only("options", FieldChoice)
		only("rows", FieldItems)
		only("min", FieldNumber)
		only("max", FieldNumber)
		only("future", FieldDate)
		only("max_length", FieldText, FieldTextarea, FieldItems)
		switch x.Type {
		case FieldItems:
			if x.Rows == 0 {
				x.Rows = defaultItemRows
			}
			if x.Rows < 1 || x.Rows > maxItemRows {
				c.errf(x.Line, "%s: rows must be 1 to %d", what, maxItemRows)
			}
		case FieldNumber:
			if x.Min != nil && x.Max != nil && *x.Min > *x.Max {
				c.errf(x.Line, "%s: min %d is above max %d", what, *x.Min, *x.Max)
			}
		case FieldChoice:
			if _, given := f.get("options"); !given {
				c.errf(x.Line, "%s: a choice needs options", what)
			}
		}
		if x.MaxLength == 0 {
			x.MaxLength = defaultTextLength
			if x.Type == FieldTextarea {
				x.MaxLength = defaultTextareaLength
			}
		}
		if x.MaxLength < 1 || x.MaxLength > maxFieldLength {
			c.errf(x.Line, "%s: max_length must be 1 to %d", what, maxFieldLength)
		}
		out = append(out, x)
	}
	return out
}

func (c *checker) options(f fields, what string, typ FieldType) []Option {
	items, given := c.list(f, "options", what)
	if !given || typ != FieldChoice {
		return nil
	}
	if len(items) < 2 {
		c.errf(f.line, "%s: a choice needs two options or more", what)
	}
	var out []Option
	seen := map[string]int{}
	for i, n := range items {
		ow := fmt.Sprintf("%s: options[%d]", what, i)
		of, ok := c.mapping(n, ow, "value", "label")
		if !ok {
			continue
		}
		v, line := c.str(of, "value", ow, true)
		if v != "" {
			if !optionPattern.MatchString(v) {
				c.errf(line, "%s: value must be lower-case letters, digits, '-' and '_'", ow)
			}
			if first, dup := seen[v]; dup {
				c.errf(line, "%s: value %q repeated (first at line %d)", ow, v, first)
			}
			seen[v] = line
		}
		o := Option{Value: v}
		o.Label, _, _ = c.text(of, "label", ow, true)
		out = append(out, o)
	}
	return out
}

func (c *checker) intAt(f fields, name, what string, def int) int {
	if p := c.intPtr(f, name, what); p != nil {
		return *p
	}
	return def
}

func (c *checker) intPtr(f fields, name, what string) *int {
	fl, ok := f.get(name)
	if !ok || isNull(fl.val) {
		return nil
	}
	n, err := strconv.Atoi(fl.val.Value)
	if fl.val.Kind != yaml.ScalarNode || fl.val.ShortTag() != "!!int" || err != nil {
		c.errf(fl.val.Line, "%s: %s must be a whole number, got %s", what, name, kindName(fl.val))
		return nil
	}
	return &n
}

func typeList() string { return joinTypes(fieldTypes) }

func joinTypes(ts []FieldType) string {
	s := make([]string, len(ts))
	for i, t := range ts {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// FormPath is where a topic's public form is served, under the gateway's
// public URL.
func FormPath(topicID string) string { return "/forms/" + url.PathEscape(topicID) }

// WithForms returns a bank whose replies point to the gateway's own forms:
// every topic with a form gets its form's address, under base (the public
// URL), as its first link, so acknowledgements, answers and the "which
// service?" choice send customers to a form that exists. The receiver is
// not changed.
func (b *Bank) WithForms(base string) *Bank {
	base = strings.TrimRight(base, "/")
	nb := *b
	nb.topics = make([]*Topic, len(b.topics))
	nb.byID = make(map[string]*Topic, len(b.byID))
	for i, t := range b.topics {
		if t.Form != nil {
			c := *t
			link := Link{URL: base + FormPath(t.ID),
				Title: Text{AR: "النموذج الإلكتروني: " + t.Title.AR, EN: "Online form: " + t.Title.EN}}
			c.Links = append([]Link{link}, t.Links...)
			t = &c
		}
		nb.topics[i] = t
		if t.ID != "" {
			nb.byID[t.ID] = t
		}
	}
	return &nb
}
