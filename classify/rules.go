package classify

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

type keyword struct {
	norm   string // normalized keyword
	arabic bool   // match anywhere (Arabic clitics attach to words)
	raw    string
}

type compiledRule struct {
	name, topic string
	keywords    []keyword
	patterns    []*regexp.Regexp
	pre         []*prefilter // by pattern; nil where a pattern requires no literal
	domains     []string     // lower case, no leading "@"
}

func compileRules(rules []Rule, topics map[string]Scope) ([]compiledRule, error) {
	out := make([]compiledRule, 0, len(rules))
	seen := make(map[string]bool, len(rules))
	for i, r := range rules {
		name := r.Name
		if name == "" {
			return nil, fmt.Errorf("classify: rule %d has no name", i+1)
		}
		if seen[name] {
			return nil, fmt.Errorf("classify: duplicate rule name %q", name)
		}
		seen[name] = true
		if _, ok := topics[r.Topic]; !ok {
			return nil, fmt.Errorf("classify: rule %q: unknown topic %q", name, r.Topic)
		}
		c := compiledRule{name: name, topic: r.Topic}
		for _, k := range r.Keywords {
			n := Normalize(k)
			if n == "" {
				return nil, fmt.Errorf("classify: rule %q: keyword %q is empty after normalization", name, k)
			}
			c.keywords = append(c.keywords, keyword{norm: n, arabic: hasArabic(n), raw: k})
		}
		for _, p := range r.Patterns {
			re, err := regexp.Compile(p)
			if err != nil {
				return nil, fmt.Errorf("classify: rule %q: pattern %q: %w", name, p, err)
			}
			c.patterns = append(c.patterns, re)
			c.pre = append(c.pre, newPrefilter(p))
		}
		for _, d := range r.SenderDomains {
			d = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(d), "@"))
			if d == "" || strings.ContainsAny(d, "@ ") {
				return nil, fmt.Errorf("classify: rule %q: bad sender domain %q", name, d)
			}
			c.domains = append(c.domains, d)
		}
		if len(c.keywords)+len(c.patterns)+len(c.domains) == 0 {
			return nil, fmt.Errorf("classify: rule %q has no keywords, patterns or sender domains", name)
		}
		out = append(out, c)
	}
	return out, nil
}

// ruleText is what the rules read of a message: the text, norm
// (Normalize(text)), padded (" " + norm + " ") and, made when a prefilter
// first needs them, the case-folded text and norm.
type ruleText struct {
	text, norm, padded, sender string
	folded                     bool
	foldText, foldNorm         string
}

func (t *ruleText) fold() {
	if !t.folded {
		t.foldText, t.foldNorm, t.folded = foldString(t.text), foldString(t.norm), true
	}
}

// match reports whether the rule fires and what made it fire.
func (r *compiledRule) match(t *ruleText) (string, bool) {
	text, norm, padded := t.text, t.norm, t.padded
	if len(r.domains) > 0 {
		if dom := senderDomain(t.sender); dom != "" {
			for _, d := range r.domains {
				if dom == d || strings.HasSuffix(dom, "."+d) {
					return "sender domain " + d, true
				}
			}
		}
	}
	for _, k := range r.keywords {
		var hit bool
		if k.arabic {
			hit = strings.Contains(padded, k.norm)
		} else {
			hit = containsWords(padded, k.norm)
		}
		if hit {
			return "keyword " + strconv.Quote(k.raw), true
		}
	}
	for i, re := range r.patterns {
		onText, onNorm := true, true
		if pre := r.pre[i]; pre != nil {
			if pre.fold {
				t.fold()
			}
			onText, onNorm = pre.mayMatch(text, t.foldText), pre.mayMatch(norm, t.foldNorm)
		}
		if onText && re.MatchString(text) || onNorm && re.MatchString(norm) {
			return "pattern " + strconv.Quote(re.String()), true
		}
	}
	return "", false
}

// containsWords reports whether the words of kw appear in padded as whole
// words, without building " " + kw + " ".
func containsWords(padded, kw string) bool {
	for off := 0; ; {
		i := strings.Index(padded[off:], kw)
		if i < 0 {
			return false
		}
		i += off
		if padded[i-1] == ' ' && padded[i+len(kw)] == ' ' {
			return true
		}
		off = i + 1
	}
}

// senderDomain is the lower-cased domain of an address such as
// "Name <user@Example.org>"; "" when there is none.
func senderDomain(sender string) string {
	at := strings.LastIndexByte(sender, '@')
	if at < 0 {
		return ""
	}
	d := sender[at+1:]
	if end := strings.IndexAny(d, "> \t"); end >= 0 {
		d = d[:end]
	}
	return strings.ToLower(strings.TrimSuffix(d, "."))
}

func hasArabic(s string) bool {
	for _, r := range s {
		if scriptOf(r) == scriptArabic {
			return true
		}
	}
	return false
}
