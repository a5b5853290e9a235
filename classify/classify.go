// Package classify decides whether a customer's message is something the
// service handles (in scope) and which topic it is, in Arabic or English.
//
// It is deterministic and local: text is normalized (Normalize), cut of quoted
// replies and signatures when it is email (StripQuoted), turned into hashed
// word and character n-grams with tf-idf weights, and scored by a multinomial
// logistic regression trained at start-up from the topics' example phrases.
// Text unlike any in-scope topic is out of scope, either because an explicit
// out-of-scope topic wins or because the best in-scope probability is below a
// calibrated threshold. Operator rules (keywords, regular expressions, sender
// domains) override the model.
package classify

import (
	"errors"
	"fmt"
	"sort"
	"sync"
)

// Scope says whether a message is something the service handles.
type Scope string

// Scopes.
const (
	ScopeIn  Scope = "in"
	ScopeOut Scope = "out"
)

// TopicSpec is one topic of the knowledge bank as the classifier sees it.
type TopicSpec struct {
	ID       string
	Scope    Scope
	Examples []string
}

// Rule makes the classifier answer Topic whenever any of its matchers hits,
// whatever the model says. Keywords are normalized before matching: an
// Arabic keyword matches anywhere (so "بروجكتر" finds "والبروجكتر"), a Latin
// one only as whole words. Patterns are Go regular expressions tried on the
// text as written and on its normalized form. SenderDomains match the
// sender's domain and its subdomains ("@moe.gov.sa" or "moe.gov.sa").
type Rule struct {
	Name, Topic                       string
	Keywords, Patterns, SenderDomains []string
}

// Config is what Train learns from.
type Config struct {
	Topics []TopicSpec
	Rules  []Rule
	// Threshold overrides the calibrated out-of-scope threshold when > 0.
	Threshold float64
}

// Input is one message to classify.
type Input struct {
	Text, Subject, Sender string
	Email                 bool // StripQuoted is applied to Text first
}

// Result is the classifier's answer for one message.
type Result struct {
	Scope Scope  `json:"scope"`
	Topic string `json:"topic"` // "" when out of scope with no matching out topic
	// Confidence is 1 for a rule; otherwise the model's probability of Topic,
	// or, when the threshold sent the message out, of the nearest in-scope
	// topic (named in Reasons).
	Confidence float64  `json:"confidence"`
	Language   Language `json:"language"`
	Reasons    []string `json:"reasons"`
	Rule       string   `json:"rule,omitempty"`
}

// Model is a trained classifier. It is safe for concurrent use.
type Model struct {
	topics    []string // every topic, in config order
	scope     map[string]Scope
	classes   []int // class → index in topics (topics with examples)
	classIn   []bool
	threshold float64
	rules     []compiledRule
	feat      featureOptions
	dict      map[uint64]int32 // n-gram hash → feature
	fscale    []float32        // per feature: idf × kind weight
	lin       *linear
	scratch   *sync.Pool
}

// Topics returns the topic ids in the order they were configured.
func (m *Model) Topics() []string {
	return append([]string(nil), m.topics...)
}

// Threshold is the out-of-scope threshold the model uses: a message whose
// best topic has a lower probability is out of scope.
func (m *Model) Threshold() float64 { return m.threshold }

// WithThreshold returns a model that shares m's weights but uses threshold t;
// for tuning (ThresholdSweep) and for operators who set it by hand.
func (m *Model) WithThreshold(t float64) *Model {
	c := *m
	c.threshold = t
	return &c
}

// Train builds a model from cfg. It fails on an empty config, a topic
// without id, a bad scope, duplicate topic ids, fewer than two topics with
// examples, and rules that are empty, point to an unknown topic or hold a
// bad regular expression; the error names the topic or rule.
func Train(cfg Config) (*Model, error) {
	return train(cfg, defaultFeatureOptions, defaultTrainOptions, defaultCalibration)
}

func train(cfg Config, fo featureOptions, to trainOptions, cal calibration) (*Model, error) {
	if len(cfg.Topics) == 0 {
		return nil, errors.New("classify: config has no topics")
	}
	m := &Model{scope: make(map[string]Scope, len(cfg.Topics)), feat: fo}
	for i, t := range cfg.Topics {
		switch {
		case t.ID == "":
			return nil, fmt.Errorf("classify: topic %d has no id", i+1)
		case t.Scope != ScopeIn && t.Scope != ScopeOut:
			return nil, fmt.Errorf("classify: topic %q: scope %q is neither %q nor %q", t.ID, t.Scope, ScopeIn, ScopeOut)
		}
		if _, dup := m.scope[t.ID]; dup {
			return nil, fmt.Errorf("classify: duplicate topic id %q", t.ID)
		}
		m.scope[t.ID] = t.Scope
		m.topics = append(m.topics, t.ID)
	}
	rules, err := compileRules(cfg.Rules, m.scope)
	if err != nil {
		return nil, err
	}
	m.rules = rules

	var texts []string
	var labels []int32
	for i, t := range cfg.Topics {
		n := 0
		for _, ex := range t.Examples {
			if Normalize(ex) == "" {
				continue // nothing to learn from punctuation or emoji alone
			}
			texts = append(texts, ex)
			labels = append(labels, int32(len(m.classes)))
			n++
		}
		if n > 0 {
			m.classes = append(m.classes, i)
			m.classIn = append(m.classIn, t.Scope == ScopeIn)
		}
	}
	if len(m.classes) < 2 {
		return nil, errors.New("classify: need example phrases for at least two topics")
	}
	hasIn := false
	for _, in := range m.classIn {
		hasIn = hasIn || in
	}
	if !hasIn {
		return nil, errors.New("classify: no in-scope topic has example phrases")
	}

	switch {
	case cfg.Threshold > 0:
		m.threshold = cfg.Threshold
	default:
		m.threshold = cal.threshold(texts, labels, m.classIn, fo, to)
	}
	m.fit(texts, labels, to)
	return m, nil
}

// fit builds the feature dictionary and the weights from texts.
func (m *Model) fit(texts []string, labels []int32, to trainOptions) {
	docs := extractAll(&m.feat, texts)
	m.dict, m.fscale = buildDictionary(docs, &m.feat)
	m.scratch = &sync.Pool{New: func() any { return newScratch(len(m.fscale), len(m.classes)) }}
	d := m.dataset(docs, labels)
	m.lin = trainLinear(d, len(m.fscale), len(m.classes), to)
}

// prediction is the model's view of one text before the threshold.
type prediction struct {
	best     int     // class with the highest probability
	bestP    float64 // its probability
	bestIn   int     // in-scope class with the highest probability
	bestInP  float64
	hasInput bool // some n-gram of the text is known to the model
}

func (m *Model) predict(sc *scratch, padded string) prediction {
	m.vectorize(sc, padded)
	p := sc.probs
	m.lin.scores(sc.idx, sc.val, p)
	softmax(p)
	pr := prediction{best: 0, bestIn: -1, hasInput: len(sc.idx) > 0}
	for c, v := range p {
		if v > p[pr.best] {
			pr.best = c
		}
		if m.classIn[c] && (pr.bestIn < 0 || v > p[pr.bestIn]) {
			pr.bestIn = c
		}
	}
	pr.bestP = p[pr.best]
	pr.bestInP = p[pr.bestIn]
	return pr
}

// Classify classifies one message.
func (m *Model) Classify(in Input) Result {
	body := in.Text
	if in.Email {
		body = StripQuoted(body)
	}
	text := body
	if in.Subject != "" {
		text = in.Subject + "\n" + body
	}
	res := Result{Language: DetectLanguage(text)}
	norm := Normalize(text)
	padded := m.feat.padText(norm)

	for i := range m.rules {
		if why, ok := m.rules[i].match(text, padded, in.Sender); ok {
			r := &m.rules[i]
			res.Scope = m.scope[r.topic]
			res.Topic = r.topic
			res.Confidence = 1
			res.Rule = r.name
			res.Reasons = []string{"rule: " + r.name, why}
			return res
		}
	}
	res.Scope = ScopeOut
	if norm == "" {
		res.Reasons = []string{"no text to classify"}
		return res
	}

	sc := m.scratch.Get().(*scratch)
	defer m.scratch.Put(sc)
	pr := m.predict(sc, padded)
	if !pr.hasInput {
		res.Reasons = []string{"no known word or n-gram"}
		return res
	}
	top := m.topics[m.classes[pr.best]]
	if pr.bestP < m.threshold {
		near := m.topics[m.classes[pr.bestIn]]
		res.Confidence = pr.bestInP
		res.Reasons = append(res.Reasons, fmt.Sprintf("below threshold %.2f: nearest topic %q %.2f", m.threshold, near, pr.bestInP))
		res.Reasons = append(res.Reasons, m.reasons(sc, padded, pr.bestIn)...)
		return res
	}
	res.Scope = m.scope[top]
	res.Topic = top
	res.Confidence = pr.bestP
	res.Reasons = m.reasons(sc, padded, pr.best)
	return res
}

// maxReasons is how many features a result names.
const maxReasons = 4

// reasons names the features that pushed class c up the most.
func (m *Model) reasons(sc *scratch, padded string, c int) []string {
	k := m.lin.k
	type contrib struct {
		n int
		v float32
	}
	var top [maxReasons]contrib
	nTop := 0
	for n, j := range sc.idx {
		v := sc.val[n] * m.lin.w[int(j)*k+c]
		if v <= 0 {
			continue
		}
		if nTop < maxReasons {
			top[nTop] = contrib{n, v}
			nTop++
		} else if v > top[nTop-1].v {
			top[nTop-1] = contrib{n, v}
		} else {
			continue
		}
		sort.Slice(top[:nTop], func(a, b int) bool { return top[a].v > top[b].v })
	}
	out := make([]string, 0, nTop)
	for _, t := range top[:nTop] {
		out = append(out, fmt.Sprintf("%s %+.3f", featureName(padded, sc.first[t.n]), t.v))
	}
	return out
}
