package classify

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// OOS is the intent that marks out-of-scope examples in evaluation data.
const OOS = "oos"

// Labeled is one example of the evaluation format
// {"text": ..., "intent": ...}.
type Labeled struct {
	Text   string `json:"text"`
	Intent string `json:"intent"`
}

// ReadJSONL reads one Labeled a line; blank lines are skipped. Errors name
// the line.
func ReadJSONL(r io.Reader) ([]Labeled, error) {
	var out []Labeled
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		var l Labeled
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if l.Intent == "" {
			return nil, fmt.Errorf("line %d: no intent", line)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(out) == 0 {
		return nil, errors.New("no examples")
	}
	return out, nil
}

// ConfigFromLabeled makes each intent a topic, in order of first appearance;
// "oos" becomes the none topic (ScopeNone): out of scope, no topic.
func ConfigFromLabeled(train []Labeled) Config {
	var cfg Config
	pos := make(map[string]int)
	for _, l := range train {
		i, ok := pos[l.Intent]
		if !ok {
			i = len(cfg.Topics)
			pos[l.Intent] = i
			scope := ScopeIn
			if l.Intent == OOS {
				scope = ScopeNone
			}
			cfg.Topics = append(cfg.Topics, TopicSpec{ID: l.Intent, Scope: scope})
		}
		cfg.Topics[i].Examples = append(cfg.Topics[i].Examples, l.Text)
	}
	return cfg
}

// ClassConfusion is how often one in-scope intent was got wrong, and what it
// was most often taken for.
type ClassConfusion struct {
	Intent    string  `json:"intent"`
	N         int     `json:"n"`
	Errors    int     `json:"errors"`
	Accuracy  float64 `json:"accuracy"`
	TakenFor  string  `json:"taken_for"` // the commonest wrong answer; "oos" for out of scope
	TakenForN int     `json:"taken_for_n"`
}

// Report is the outcome of Evaluate. An in-scope example counts as right
// when it is in scope with its intent; an out-of-scope one when the result
// is out of scope (whatever the out topic).
type Report struct {
	N, InScopeN, OOSN int
	InScopeAccuracy   float64
	OOSRecall         float64 // out-of-scope examples found out of scope
	OOSPrecision      float64 // out-of-scope answers that were out-of-scope examples
	WorstClasses      []ClassConfusion
	Threshold         float64
}

// worstClasses is how many classes a report lists.
const worstClasses = 10

// Evaluate classifies data with m and scores it.
func Evaluate(m *Model, data []Labeled) Report {
	r := Report{N: len(data), Threshold: m.threshold}
	type classStat struct {
		n, errs int
		wrong   map[string]int
	}
	stats := make(map[string]*classStat)
	var inRight, oosRight, saidOOS int
	for _, l := range data {
		res := m.Classify(Input{Text: l.Text})
		got := res.Topic
		if res.Scope != ScopeIn {
			got = OOS
			saidOOS++
		}
		if l.Intent == OOS {
			r.OOSN++
			if got == OOS {
				oosRight++
			}
			continue
		}
		r.InScopeN++
		s := stats[l.Intent]
		if s == nil {
			s = &classStat{wrong: make(map[string]int)}
			stats[l.Intent] = s
		}
		s.n++
		if got == l.Intent {
			inRight++
			continue
		}
		s.errs++
		s.wrong[got]++
	}
	r.InScopeAccuracy = ratio(inRight, r.InScopeN)
	r.OOSRecall = ratio(oosRight, r.OOSN)
	r.OOSPrecision = ratio(oosRight, saidOOS)
	for intent, s := range stats {
		if s.errs == 0 {
			continue
		}
		c := ClassConfusion{Intent: intent, N: s.n, Errors: s.errs, Accuracy: ratio(s.n-s.errs, s.n)}
		for w, n := range s.wrong {
			if n > c.TakenForN || n == c.TakenForN && w < c.TakenFor {
				c.TakenFor, c.TakenForN = w, n
			}
		}
		r.WorstClasses = append(r.WorstClasses, c)
	}
	sort.Slice(r.WorstClasses, func(i, j int) bool {
		a, b := r.WorstClasses[i], r.WorstClasses[j]
		if a.Accuracy != b.Accuracy {
			return a.Accuracy < b.Accuracy
		}
		return a.Intent < b.Intent
	})
	if len(r.WorstClasses) > worstClasses {
		r.WorstClasses = r.WorstClasses[:worstClasses]
	}
	return r
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// String renders the report for a terminal.
func (r Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "examples           %d (%d in scope, %d out of scope)\n", r.N, r.InScopeN, r.OOSN)
	fmt.Fprintf(&b, "threshold          %.3f\n", r.Threshold)
	fmt.Fprintf(&b, "in-scope accuracy  %.2f%%\n", 100*r.InScopeAccuracy)
	fmt.Fprintf(&b, "oos recall         %.2f%%\n", 100*r.OOSRecall)
	fmt.Fprintf(&b, "oos precision      %.2f%%\n", 100*r.OOSPrecision)
	if len(r.WorstClasses) > 0 {
		b.WriteString("worst classes:\n")
		for _, c := range r.WorstClasses {
			fmt.Fprintf(&b, "  %-28s %5.1f%%  %d/%d wrong, mostly as %s (%d)\n",
				c.Intent, 100*c.Accuracy, c.Errors, c.N, c.TakenFor, c.TakenForN)
		}
	}
	return b.String()
}
