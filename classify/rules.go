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
	domains     []string // lower case, no leading "@"
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

// match reports whether the rule fires and what made it fire. norm is
// Normalize(text), padded " " + norm + " ".
func (r *compiledRule) match(text, norm, padded, sender string) (string, bool) {
	if len(r.domains) > 0 {
		if dom := senderDomain(sender); dom != "" {
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
	for _, re := range r.patterns {
		if re.MatchString(text) || re.MatchString(norm) {
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
