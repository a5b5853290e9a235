package classify

import (
	"regexp"
	"slices"
	"testing"
)

func TestRequiredLiterals(t *testing.T) {
	tests := []struct {
		pattern string
		lits    []string // nil: no prefilter
		fold    bool
	}{
		{`(?i)\bclearance\b`, []string{"CLEARANCE"}, true},
		{`clearance`, []string{"clearance"}, false},
		{`(?i)(https?://|www\.|bit\.ly)[\s\S]*\b(won|winner|prize)`, []string{"HTTP", "WWW.", "BIT.LY"}, true},
		{`(ربحت|فزت|جائزة)[\s\S]*(https?://|www\.)`, []string{"http", "www."}, false}, // the longer of the two parts
		{`(ربحت|فزت|جائزة)[\s\S]*\d`, []string{"ربحت", "فزت", "جائزة"}, false},
		{`\$\d+`, []string{"$"}, false},
		{`(ab){2,}`, []string{"ab"}, false},
		{`(ab)*c?`, nil, false},
		{`(foo|)bar?`, []string{"ba"}, false},
		{`(foo|\d)`, nil, false},
		{`[a-z]+`, nil, false},
		{`(?i)ſ`, []string{"S"}, true},
		{`(`, nil, false}, // does not parse: no prefilter, the regexp's own error stands
	}
	for _, tt := range tests {
		p := newPrefilter(tt.pattern)
		if tt.lits == nil {
			if p != nil {
				t.Errorf("%s: prefilter %q, want none", tt.pattern, p.lits)
			}
			continue
		}
		if p == nil || !slices.Equal(p.lits, tt.lits) || p.fold != tt.fold {
			t.Errorf("%s: prefilter %+v, want %q fold %v", tt.pattern, p, tt.lits, tt.fold)
		}
	}
}

// prefilterPatterns are the shipped bank's patterns and a few that try the
// folding's corners.
var prefilterPatterns = []string{
	`(?i)(https?://|www\.|bit\.ly)[\s\S]*\b(won|winner|prize|lottery|claim|free gift|cash|loan|bonus|reward|\$\d)`,
	`(?i)\b(won|winner|prize|lottery|claim|free gift|cash|loan|bonus|reward)\b[\s\S]*(https?://|www\.|bit\.ly)`,
	`(https?://|www\.|bit\.ly)[\s\S]*(ربحت|فزت|جائزة|جايزة|الفوز|سحب على|تمويل|قرض|كاش|استلام الجائزة)`,
	`(ربحت|فزت|جائزة|جايزة|الفوز|سحب على|تمويل|قرض|كاش)[\s\S]*(https?://|www\.|bit\.ly|الرابط|اضغط)`,
	`(?i)\bclearance\b`,
	`(?i)kelvin`, `(?i)straße`, `(?i)σίσυφος`, `(?i)İstanbul`, `(?i)(x{2,}|yz)+q`,
}

// FuzzPrefilter holds the prefilter sound: a text it passes over is one the
// pattern does not match. The seeds run in every go test.
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{
		"", "The projector in room 7 is broken", "Clearance form please", "CLEARANCE",
		"You WON a prize! claim at HTTP://x.example", "see www.example.com to claim your cash",
		"مبروك ربحت جائزة اضغط على الرابط https://x", "bit.ly/abc loan", "BIT.LY bonus",
		"\u212aelvin", "\u212aELVIN", "STRASSE straße STRAẞE", "ΣΊΣΥΦΟΣ σίσυφοσ", "istanbul İSTANBUL",
		"xxq", "yzyzq", "ſtraße ſ", "https://ſtraße.example won",
	} {
		f.Add(s)
	}
	res := make([]*regexp.Regexp, len(prefilterPatterns))
	pres := make([]*prefilter, len(prefilterPatterns))
	for i, p := range prefilterPatterns {
		res[i], pres[i] = regexp.MustCompile(p), newPrefilter(p)
		if pres[i] == nil {
			f.Fatalf("%s: no prefilter", p)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		folded := foldString(s)
		for i, re := range res {
			if re.MatchString(s) && !pres[i].mayMatch(s, folded) {
				t.Errorf("%s matches %q but its prefilter %q passes it over", re, s, pres[i].lits)
			}
		}
	})
}

func TestPrefilterPassesOver(t *testing.T) {
	p := newPrefilter(prefilterPatterns[0])
	for _, s := range []string{"The projector in room 7 is broken since Sunday.", "البروجكتر في القاعة لا يعمل"} {
		if p.mayMatch(s, foldString(s)) {
			t.Errorf("the spam pattern's prefilter does not pass over %q", s)
		}
	}
}
