package replies

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one thing wrong with a bank file, at a line of it.
type Problem struct {
	File string
	Line int // 0 when the problem concerns the whole file
	Msg  string
}

func (p Problem) String() string {
	if p.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// BankError lists every problem found in a bank file, in line order, so an
// operator can fix them all in one go.
type BankError struct {
	Problems []Problem
}

func (e *BankError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// checker walks a yaml.Node tree by hand rather than through Node.Decode,
// because Decode neither rejects unknown fields nor says on which line a
// semantic problem sits.
type checker struct {
	file  string
	probs []Problem
}

func (c *checker) errf(line int, format string, args ...any) {
	c.probs = append(c.probs, Problem{File: c.file, Line: line, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) err() error {
	if len(c.probs) == 0 {
		return nil
	}
	sort.SliceStable(c.probs, func(i, j int) bool { return c.probs[i].Line < c.probs[j].Line })
	return &BankError{Problems: c.probs}
}

// yamlLine pulls the line out of yaml.v3's syntax errors ("yaml: line 5: …")
// so they read like every other problem.
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

func (c *checker) syntax(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		c.errf(n, "yaml: %s", m[2])
		return
	}
	c.errf(0, "%s", msg)
}

// field is one key/value pair of a mapping.
type field struct {
	key, val *yaml.Node
}

// fields holds a mapping's pairs by key, plus the mapping's own line for
// "x is missing" problems.
type fields struct {
	line int
	m    map[string]field
}

func (f fields) get(name string) (field, bool) {
	v, ok := f.m[name]
	return v, ok
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.ShortTag() == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// mapping checks that n is a mapping whose keys are all among known and
// appear once. what names n in problems ("topic \"x\"", "hours").
func (c *checker) mapping(n *yaml.Node, what string, known ...string) (fields, bool) {
	n = deref(n)
	f := fields{line: n.Line, m: map[string]field{}}
	if n.Kind != yaml.MappingNode {
		c.errf(n.Line, "%s: expected a mapping, got %s", what, kindName(n))
		return f, false
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := deref(n.Content[i]), deref(n.Content[i+1])
		if k.Kind != yaml.ScalarNode {
			c.errf(k.Line, "%s: keys must be plain names", what)
			continue
		}
		if !contains(known, k.Value) {
			c.errf(k.Line, "%s: unknown field %q", what, k.Value)
			continue
		}
		if prev, dup := f.m[k.Value]; dup {
			c.errf(k.Line, "%s: field %q repeated (first at line %d)", what, k.Value, prev.key.Line)
			continue
		}
		f.m[k.Value] = field{key: k, val: v}
	}
	return f, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// str returns the scalar at name in f. A missing or empty value is a problem
// when required.
func (c *checker) str(f fields, name, what string, required bool) (string, int) {
	fl, ok := f.get(name)
	if !ok || isNull(fl.val) {
		if required {
			line := f.line
			if ok {
				line = fl.key.Line
			}
			c.errf(line, "%s: %s is missing", what, name)
		}
		return "", f.line
	}
	if fl.val.Kind != yaml.ScalarNode {
		c.errf(fl.val.Line, "%s: %s must be text, got %s", what, name, kindName(fl.val))
		return "", fl.val.Line
	}
	s := strings.TrimSpace(fl.val.Value)
	if s == "" && required {
		c.errf(fl.val.Line, "%s: %s is empty", what, name)
	}
	return fl.val.Value, fl.val.Line
}

// boolean returns the bool at name; def when absent.
func (c *checker) boolean(f fields, name, what string, def bool) bool {
	fl, ok := f.get(name)
	if !ok || isNull(fl.val) {
		return def
	}
	if fl.val.Kind != yaml.ScalarNode || fl.val.ShortTag() != "!!bool" {
		c.errf(fl.val.Line, "%s: %s must be true or false, got %s", what, name, kindName(fl.val))
		return def
	}
	var b bool
	if err := fl.val.Decode(&b); err != nil {
		c.errf(fl.val.Line, "%s: %s: %v", what, name, err)
	}
	return b
}

// list returns the items of the sequence at name (nil when absent).
func (c *checker) list(f fields, name, what string) ([]*yaml.Node, bool) {
	fl, ok := f.get(name)
	if !ok || isNull(fl.val) {
		return nil, false
	}
	if fl.val.Kind != yaml.SequenceNode {
		c.errf(fl.val.Line, "%s: %s must be a list, got %s", what, name, kindName(fl.val))
		return nil, true
	}
	items := make([]*yaml.Node, len(fl.val.Content))
	for i, n := range fl.val.Content {
		items[i] = deref(n)
	}
	return items, true
}

// strings returns a list of non-empty scalars at name, with their lines.
func (c *checker) strList(f fields, name, what string) ([]string, []int) {
	items, _ := c.list(f, name, what)
	var out []string
	var lines []int
	for i, n := range items {
		if n.Kind != yaml.ScalarNode || isNull(n) || strings.TrimSpace(n.Value) == "" {
			c.errf(n.Line, "%s: %s[%d] must be non-empty text, got %s", what, name, i, kindName(n))
			continue
		}
		out = append(out, n.Value)
		lines = append(lines, n.Line)
	}
	return out, lines
}

// text reads a {ar, en} pair at name. Missing languages are problems when
// required; an absent pair returns ok=false without a problem if !required.
func (c *checker) text(f fields, name, what string, required bool) (Text, int, bool) {
	fl, ok := f.get(name)
	if !ok || isNull(fl.val) {
		if required {
			line := f.line
			if ok {
				line = fl.key.Line
			}
			c.errf(line, "%s: %s is missing", what, name)
		}
		return Text{}, f.line, false
	}
	sub, ok := c.mapping(fl.val, what+": "+name, "ar", "en")
	if !ok {
		return Text{}, fl.key.Line, false
	}
	sub.line = fl.key.Line
	var t Text
	complete := true
	for _, lang := range []string{"ar", "en"} {
		v, line := c.str(sub, lang, what+": "+name, false)
		if strings.TrimSpace(v) == "" {
			complete = false
			if _, present := sub.get(lang); present {
				c.errf(line, "%s: %s.%s is empty", what, name, lang)
			} else {
				c.errf(sub.line, "%s: %s.%s is missing", what, name, lang)
			}
			continue
		}
		if lang == "ar" {
			t.AR = v
		} else {
			t.EN = v
		}
	}
	return t, fl.key.Line, complete
}
