package classify

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// prefilter is a cheap test a rule's pattern must pass before the regular
// expression runs: literals of which any match holds at least one. Go's
// regexp tries every position of a text for a pattern with no literal
// prefix, as (?i) and a leading alternation make them, and the bank's
// patterns were more than half of classifying a mail; most text holds none of a
// spam pattern's "http", "www." or "bit.ly" and is passed over with a few
// substring searches.
type prefilter struct {
	lits []string // case-folded by foldString when fold
	fold bool
}

// newPrefilter derives the prefilter of pattern; nil when the pattern
// requires no literal (then it always runs).
func newPrefilter(pattern string) *prefilter {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil
	}
	lits, fold, ok := required(re)
	if !ok {
		return nil
	}
	if fold {
		for i, l := range lits {
			lits[i] = foldString(l)
		}
	}
	return &prefilter{lits: lits, fold: fold}
}

// mayMatch reports whether s, and folded (foldString(s)), hold one of the
// literals.
func (p *prefilter) mayMatch(s, folded string) bool {
	if p.fold {
		s = folded
	}
	for _, l := range p.lits {
		if strings.Contains(s, l) {
			return true
		}
	}
	return false
}

// required returns literals of which every match of re contains at least
// one, and whether they are to be compared case-folded; ok is false when
// there are none to be had.
func required(re *syntax.Regexp) (lits []string, fold, ok bool) {
	switch re.Op {
	case syntax.OpLiteral:
		return []string{string(re.Rune)}, re.Flags&syntax.FoldCase != 0, true
	case syntax.OpCapture, syntax.OpPlus:
		return required(re.Sub[0])
	case syntax.OpRepeat:
		if re.Min >= 1 {
			return required(re.Sub[0])
		}
	case syntax.OpConcat:
		// Each part is required; the one with the longest shortest
		// literal is the rarest to find by chance.
		best := -1
		for _, sub := range re.Sub {
			l, f, ok := required(sub)
			if ok && shortest(l) > best {
				lits, fold, best = l, f, shortest(l)
			}
		}
		return lits, fold, best >= 0
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			l, f, ok := required(sub)
			if !ok {
				return nil, false, false
			}
			lits, fold = append(lits, l...), fold || f
		}
		return lits, fold, true
	}
	return nil, false, false
}

func shortest(lits []string) int {
	n := -1
	for _, l := range lits {
		if c := utf8.RuneCountInString(l); n < 0 || c < n {
			n = c
		}
	}
	return n
}

// foldString maps every rune to the least rune of its case-folding orbit,
// the equivalence (?i) matches by, so that two strings equal under it are
// equal bytes.
func foldString(s string) string {
	return strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf {
			// K and S are the least of their orbits too (K, k, U+212A
			// Kelvin; S, s, U+017F long s).
			if 'a' <= r && r <= 'z' {
				return r - ('a' - 'A')
			}
			return r
		}
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		return m
	}, s)
}
