package classify

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// smallConfig is a bank small enough to build in a test.
func smallConfig() Config {
	return Config{Topics: []TopicSpec{
		{ID: "maintenance", Scope: ScopeIn, Examples: []string{
			"the projector is broken", "projector not working in room 5", "البروجكتر خربان", "جهاز العرض لا يعمل",
		}},
		{ID: "clearance", Scope: ScopeIn, Examples: []string{
			"I need a clearance form", "clearance before graduation", "ابي اخلاء طرف", "نموذج إخلاء الطرف",
		}},
		{ID: "ministry", Scope: ScopeIn}, // rule-only topic: no examples
		{ID: "admission", Scope: ScopeOut, Examples: []string{
			"how do I apply for admission", "متى يفتح القبول والتسجيل",
		}},
	}}
}

func mustTrain(t *testing.T, cfg Config) *Model {
	t.Helper()
	m, err := Train(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestTrainErrors(t *testing.T) {
	topic := func(id string, scope Scope, ex ...string) TopicSpec {
		return TopicSpec{ID: id, Scope: scope, Examples: ex}
	}
	two := []TopicSpec{topic("a", ScopeIn, "alpha beta"), topic("b", ScopeIn, "gamma delta")}
	withRules := func(rules ...Rule) Config { return Config{Topics: two, Rules: rules} }
	tests := []struct {
		name string
		cfg  Config
		want string // in the error
	}{
		{"empty config", Config{}, "no topics"},
		{"topic without id", Config{Topics: []TopicSpec{topic("", ScopeIn, "x")}}, "topic 1 has no id"},
		{"bad scope", Config{Topics: []TopicSpec{topic("a", "maybe", "x")}}, `topic "a": scope "maybe"`},
		{"duplicate topic", Config{Topics: []TopicSpec{topic("a", ScopeIn, "x"), topic("a", ScopeOut, "y")}}, `duplicate topic id "a"`},
		{"one topic with examples", Config{Topics: []TopicSpec{topic("a", ScopeIn, "x"), topic("b", ScopeIn)}}, "at least two topics"},
		{"examples that normalize to nothing", Config{Topics: []TopicSpec{topic("a", ScopeIn, "x"), topic("b", ScopeIn, "?!", "👍")}}, "at least two topics"},
		{"no in-scope examples", Config{Topics: []TopicSpec{topic("a", ScopeOut, "x"), topic("b", ScopeOut, "y")}}, "no in-scope topic"},
		{"rule without name", withRules(Rule{Topic: "a", Keywords: []string{"x"}}), "rule 1 has no name"},
		{"duplicate rule", withRules(Rule{Name: "r", Topic: "a", Keywords: []string{"x"}}, Rule{Name: "r", Topic: "b", Keywords: []string{"y"}}), `duplicate rule name "r"`},
		{"rule to unknown topic", withRules(Rule{Name: "r", Topic: "zzz", Keywords: []string{"x"}}), `rule "r": unknown topic "zzz"`},
		{"bad regexp names the rule", withRules(Rule{Name: "ticket-ref", Topic: "a", Patterns: []string{"EDU-(\\d+"}}), `rule "ticket-ref": pattern "EDU-(\\d+"`},
		{"empty keyword", withRules(Rule{Name: "r", Topic: "a", Keywords: []string{"؟"}}), `rule "r": keyword "؟" is empty`},
		{"bad sender domain", withRules(Rule{Name: "r", Topic: "a", SenderDomains: []string{"a@b"}}), `rule "r": bad sender domain`},
		{"rule with no matchers", withRules(Rule{Name: "r", Topic: "a"}), `rule "r" has no keywords, patterns or sender domains`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Train(tc.cfg)
			if err == nil {
				t.Fatalf("Train succeeded (%d topics), want error containing %q", len(m.Topics()), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRulesOverrideModel(t *testing.T) {
	cfg := smallConfig()
	cfg.Rules = []Rule{
		{Name: "ministry-mail", Topic: "ministry", SenderDomains: []string{"@moe.gov.sa"}},
		{Name: "projector-word", Topic: "maintenance", Keywords: []string{"بروجكتر", "data show"}},
		{Name: "ticket-ref", Topic: "clearance", Patterns: []string{`\bCLR-\d{4}\b`, `^اخلاء طرف`}},
		{Name: "admission-word", Topic: "admission", Keywords: []string{"admission"}},
	}
	m := mustTrain(t, cfg)
	tests := []struct {
		name      string
		in        Input
		rule      string // "" when no rule may fire
		topic     string
		scope     Scope
		reasonHas string
	}{
		{"sender domain", Input{Text: "the projector is broken", Sender: "Dr. Ali <ali@moe.gov.sa>"}, "ministry-mail", "ministry", ScopeIn, "sender domain moe.gov.sa"},
		{"sender subdomain", Input{Text: "hello", Sender: "x@it.moe.gov.sa"}, "ministry-mail", "ministry", ScopeIn, "sender domain"},
		{"other domain does not match", Input{Text: "clearance before graduation", Sender: "x@notmoe.gov.sa"}, "", "clearance", ScopeIn, ""},
		{"arabic keyword inside a word with clitics and diacritics", Input{Text: "والبُروجكتر عطلان"}, "projector-word", "maintenance", ScopeIn, `keyword "بروجكتر"`},
		{"latin keyword phrase, any case", Input{Text: "The DATA-SHOW is off"}, "projector-word", "maintenance", ScopeIn, `keyword "data show"`},
		{"latin keyword must be whole words", Input{Text: "I need a clearance form for my data shows"}, "", "clearance", ScopeIn, ""},
		{"pattern on the text as written", Input{Text: "status of CLR-2024 please"}, "ticket-ref", "clearance", ScopeIn, "pattern"},
		{"pattern on the normalized text", Input{Text: "إخلاء طرف عاجل"}, "ticket-ref", "clearance", ScopeIn, "pattern"},
		{"rule to an out-of-scope topic", Input{Text: "admission deadline?"}, "admission-word", "admission", ScopeOut, "keyword"},
		{"rule in the subject", Input{Subject: "CLR-1234", Text: "see subject"}, "ticket-ref", "clearance", ScopeIn, "pattern"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := m.Classify(tc.in)
			if r.Rule != tc.rule || r.Topic != tc.topic || r.Scope != tc.scope {
				t.Fatalf("got rule %q topic %q scope %q, want rule %q topic %q scope %q (%v)", r.Rule, r.Topic, r.Scope, tc.rule, tc.topic, tc.scope, r.Reasons)
			}
			if tc.rule == "" {
				return
			}
			if r.Confidence != 1 {
				t.Errorf("confidence %v, want 1", r.Confidence)
			}
			if len(r.Reasons) < 2 || r.Reasons[0] != "rule: "+tc.rule || !strings.Contains(r.Reasons[1], tc.reasonHas) {
				t.Errorf("reasons %q, want [\"rule: %s\", …%s…]", r.Reasons, tc.rule, tc.reasonHas)
			}
		})
	}
}

func TestClassifyModel(t *testing.T) {
	m := mustTrain(t, smallConfig())
	tests := []struct {
		name  string
		in    Input
		scope Scope
		topic string
		lang  Language
	}{
		{"english", Input{Text: "projector broken in room 7"}, ScopeIn, "maintenance", English},
		{"arabic", Input{Text: "ابغى اخلاء طرف"}, ScopeIn, "clearance", Arabic},
		{"out-of-scope topic", Input{Text: "when does admission open"}, ScopeOut, "admission", English},
		{"subject is classified with the text", Input{Subject: "clearance form", Text: "please"}, ScopeIn, "clearance", English},
		{"email: the quoted reply does not count", Input{Email: true, Text: "projector broken again\n\nOn Mon, 3 Jun 2024, Unit <u@x.sa> wrote:\n> your clearance form is ready\n> clearance clearance"}, ScopeIn, "maintenance", English},
		{"no text", Input{Text: " ؟ "}, ScopeOut, "", Unknown},
		{"email that is all quotation", Input{Email: true, Text: "> clearance form"}, ScopeOut, "", Unknown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := m.Classify(tc.in)
			if r.Scope != tc.scope || r.Topic != tc.topic || r.Language != tc.lang {
				t.Fatalf("got %q/%q/%q, want %q/%q/%q (%.2f %v)", r.Scope, r.Topic, r.Language, tc.scope, tc.topic, tc.lang, r.Confidence, r.Reasons)
			}
			if r.Confidence < 0 || r.Confidence > 1 {
				t.Errorf("confidence %v outside [0, 1]", r.Confidence)
			}
			if len(r.Reasons) == 0 {
				t.Error("no reasons")
			}
		})
	}
}

func TestReasonsNameFeatures(t *testing.T) {
	m := mustTrain(t, smallConfig())
	r := m.Classify(Input{Text: "projector broken"})
	if r.Topic != "maintenance" {
		t.Fatalf("topic %q, want maintenance", r.Topic)
	}
	if len(r.Reasons) == 0 || len(r.Reasons) > maxReasons {
		t.Fatalf("%d reasons, want 1 to %d: %q", len(r.Reasons), maxReasons, r.Reasons)
	}
	found := false
	for _, why := range r.Reasons {
		if !strings.Contains(why, ":\"") || !strings.Contains(why, " +") {
			t.Errorf("reason %q is not kind:\"text\" +weight", why)
		}
		found = found || strings.HasPrefix(why, `word:"projector"`) || strings.HasPrefix(why, `pair:"projector … broken"`)
	}
	if !found {
		t.Errorf("reasons %q do not name the projector", r.Reasons)
	}
}

func TestThresholdSendsOut(t *testing.T) {
	cfg := smallConfig()
	low := mustTrain(t, cfg)
	cfg.Threshold = 0.99
	high := mustTrain(t, cfg)
	if high.Threshold() != 0.99 || low.Threshold() != DefaultThreshold {
		t.Fatalf("thresholds %v and %v, want 0.99 and %v", high.Threshold(), low.Threshold(), DefaultThreshold)
	}
	in := Input{Text: "projector not working"}
	if r := low.Classify(in); r.Scope != ScopeIn || r.Topic != "maintenance" {
		t.Fatalf("default threshold: %+v, want maintenance", r)
	}
	r := high.Classify(in)
	if r.Scope != ScopeOut || r.Topic != "" {
		t.Fatalf("threshold 0.99: %+v, want out of scope without topic", r)
	}
	if !strings.Contains(r.Reasons[0], `nearest topic "maintenance"`) {
		t.Errorf("reasons %q do not name the nearest topic", r.Reasons)
	}
	if w := low.WithThreshold(0.99).Classify(in); !reflect.DeepEqual(w, r) {
		t.Errorf("WithThreshold(0.99) gives %+v, Config.Threshold 0.99 gives %+v", w, r)
	}
}

// TestDeterministic trains twice (and with one worker and with four) and
// wants the same weights and the same answers.
func TestDeterministic(t *testing.T) {
	cfg, heldOut := loadBank(t)
	a := mustTrain(t, cfg)
	b := mustTrain(t, cfg)
	so := defaultSVMOptions
	so.workers = 1
	c, err := train(cfg, defaultFeatureOptions, so)
	if err != nil {
		t.Fatal(err)
	}
	so.workers = 4
	d, err := train(cfg, defaultFeatureOptions, so)
	if err != nil {
		t.Fatal(err)
	}
	for name, other := range map[string]*Model{"second run": b, "one worker": c, "four workers": d} {
		if !slices.Equal(a.lin.w, other.lin.w) || !slices.Equal(a.lin.bias, other.lin.bias) {
			t.Errorf("%s: weights differ", name)
		}
		for _, l := range heldOut {
			if ra, ro := a.Classify(Input{Text: l.Text}), other.Classify(Input{Text: l.Text}); !reflect.DeepEqual(ra, ro) {
				t.Errorf("%s: %q gives %+v and %+v", name, l.Text, ra, ro)
			}
		}
	}
}

func TestTopics(t *testing.T) {
	m := mustTrain(t, smallConfig())
	got := m.Topics()
	want := []string{"maintenance", "clearance", "ministry", "admission"}
	if !slices.Equal(got, want) {
		t.Fatalf("Topics() = %q, want %q", got, want)
	}
	got[0] = "changed"
	if m.Topics()[0] != "maintenance" {
		t.Error("Topics() hands out the model's own slice")
	}
}

func TestResultJSON(t *testing.T) {
	b, err := json.Marshal(Result{Scope: ScopeIn, Topic: "t", Confidence: 0.5, Language: Mixed, Reasons: []string{"r"}, Rule: "x"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"scope":"in","topic":"t","confidence":0.5,"language":"mixed","reasons":["r"],"rule":"x"}`
	if string(b) != want {
		t.Errorf("JSON %s, want %s", b, want)
	}
}

func TestConcurrentClassify(t *testing.T) {
	cfg, heldOut := loadBank(t)
	m := mustTrain(t, cfg)
	want := make([]Result, len(heldOut))
	for i, l := range heldOut {
		want[i] = m.Classify(Input{Text: l.Text})
	}
	errs := make(chan string, 8*len(heldOut))
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i, l := range heldOut {
				if got := m.Classify(Input{Text: l.Text}); !reflect.DeepEqual(got, want[i]) {
					errs <- l.Text
				}
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	close(errs)
	for text := range errs {
		t.Errorf("concurrent Classify(%q) differs from a lone one", text)
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"", "projector", "البروجكتر", "> quoted\n-- \nsig", "\xff", strings.Repeat("long text ", 1000)} {
		f.Add(s)
	}
	m, err := Train(smallConfig())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := m.Classify(Input{Text: s, Subject: s, Email: true})
		if r.Scope != ScopeIn && r.Scope != ScopeOut {
			t.Fatalf("scope %q", r.Scope)
		}
		if r.Confidence < 0 || r.Confidence > 1 {
			t.Fatalf("confidence %v", r.Confidence)
		}
	})
}

// chatConfig adds small talk and spam to the small bank.
func chatConfig() Config {
	cfg := smallConfig()
	cfg.Topics = append(cfg.Topics,
		TopicSpec{ID: "chat", Scope: ScopeSmallTalk, Examples: []string{"thanks", "thank you very much", "شكرا", "الله يعطيكم العافية", "good morning", "صباح الخير", "ok", "تمام"}},
		TopicSpec{ID: "junk", Scope: ScopeSpam, Examples: []string{"you won a cash prize click here", "cheap loans approved today", "مبروك ربحت جائزة", "تمويل فوري بدون كفيل"}},
	)
	return cfg
}

func TestSmallTalkAndSpamScopes(t *testing.T) {
	m := mustTrain(t, chatConfig())
	tests := []struct {
		text  string
		scope Scope
		topic string
	}{
		{"thank you", ScopeSmallTalk, "chat"},
		{"شكرا لكم", ScopeSmallTalk, "chat"},
		{"👍", ScopeSmallTalk, "chat"}, // no letters, a symbol: small talk
		{"🙏🙏 !", ScopeSmallTalk, "chat"},
		{"?!", ScopeOut, ""}, // punctuation alone says nothing
		{"you won a prize, click here for cash", ScopeSpam, "junk"},
		{"تمويل فوري", ScopeSpam, "junk"},
		{"projector not working in room 5", ScopeIn, "maintenance"},
	}
	for _, tt := range tests {
		r := m.Classify(Input{Text: tt.text})
		if r.Scope != tt.scope || r.Topic != tt.topic {
			t.Errorf("%q → %s/%s (%.2f %q), want %s/%s", tt.text, r.Scope, r.Topic, r.Confidence, r.Reasons, tt.scope, tt.topic)
		}
	}
	// A bank without a small-talk topic has nothing to send emoji to.
	if r := mustTrain(t, smallConfig()).Classify(Input{Text: "👍"}); r.Scope != ScopeOut || r.Topic != "" {
		t.Errorf("emoji without a small-talk topic → %+v", r)
	}
}

// Candidates are the request topics the model scores highest, best first,
// never small talk, spam or the none topic.
func TestCandidates(t *testing.T) {
	m := mustTrain(t, chatConfig())
	r := m.Classify(Input{Text: "the projector for the clearance form"})
	if len(r.Candidates) != maxCandidates {
		t.Fatalf("candidates %+v, want %d", r.Candidates, maxCandidates)
	}
	for i, c := range r.Candidates {
		if c.Scope != ScopeIn && c.Scope != ScopeOut {
			t.Errorf("candidate %+v is not a request", c)
		}
		if i > 0 && c.Score > r.Candidates[i-1].Score {
			t.Errorf("candidates not best first: %+v", r.Candidates)
		}
	}
	if r.Topic != "" && r.Topic != r.Candidates[0].Topic {
		t.Errorf("topic %q is not the first candidate %+v", r.Topic, r.Candidates)
	}
	if got := m.Classify(Input{Text: "thanks"}); len(got.Candidates) == 0 || got.Candidates[0].Topic == "chat" {
		t.Errorf("small talk offered as a candidate: %+v", got.Candidates)
	}
	// A rule decides alone: no candidates.
	cfg := chatConfig()
	cfg.Rules = []Rule{{Name: "p", Topic: "maintenance", Keywords: []string{"projector"}}}
	if got := mustTrain(t, cfg).Classify(Input{Text: "projector"}); got.Rule != "p" || got.Candidates != nil {
		t.Errorf("rule result %+v", got)
	}
}

// With a none topic (evaluation data's oos) a message it wins is out of
// scope with no topic, and confidences are leads over it.
func TestNoneTopic(t *testing.T) {
	cfg := ConfigFromLabeled([]Labeled{
		{"the projector is broken", "maintenance"}, {"projector not working in room 5", "maintenance"}, {"البروجكتر خربان", "maintenance"},
		{"I need a clearance form", "clearance"}, {"clearance before graduation", "clearance"}, {"ابي اخلاء طرف", "clearance"},
		{"what's the weather today", OOS}, {"who won the match", OOS}, {"recommend a pizza place", OOS},
	})
	if cfg.Topics[2].ID != OOS || cfg.Topics[2].Scope != ScopeNone {
		t.Fatalf("oos topic %+v, want scope none", cfg.Topics[2])
	}
	m := mustTrain(t, cfg)
	r := m.Classify(Input{Text: "who won the football match"})
	if r.Scope != ScopeOut || r.Topic != "" || !strings.Contains(r.Reasons[0], `none of the topics: "oos" scores above`) {
		t.Errorf("none wins → %+v", r)
	}
	if r := m.Classify(Input{Text: "projector broken"}); r.Scope != ScopeIn || r.Topic != "maintenance" {
		t.Errorf("in scope → %+v", r)
	}
	for _, c := range m.Classify(Input{Text: "weather"}).Candidates {
		if c.Topic == OOS {
			t.Errorf("the none topic offered as a candidate")
		}
	}

	cfg.Topics = append(cfg.Topics, TopicSpec{ID: "nothing", Scope: ScopeNone, Examples: []string{"x y"}})
	if _, err := Train(cfg); err == nil || !strings.Contains(err.Error(), `only one topic can have scope "none"`) {
		t.Errorf("two none topics: %v", err)
	}
	if _, err := Train(ConfigFromLabeled([]Labeled{{"a b", "a"}, {"c d", OOS}})); err == nil || !strings.Contains(err.Error(), "besides the none topic") {
		t.Errorf("one topic and none: %v", err)
	}
}

// Background phrases never weigh more than the data they join.
func TestBackgroundWeights(t *testing.T) {
	so := defaultSVMOptions
	labels := func(labeled, none, bg int) []int32 {
		var l []int32
		for range labeled {
			l = append(l, 0)
		}
		for range none {
			l = append(l, 1)
		}
		for range bg {
			l = append(l, -1)
		}
		return l
	}
	tests := []struct {
		name             string
		labels           []int32
		none             int
		wantBG, wantNone float64
	}{
		{"big bank: the full weights", labels(15000, 100, 1000), 1, so.background, so.noneBackground},
		{"small bank: as much as its examples", labels(50, 0, 1000), -1, 0.05, min(so.noneBackground, 0)},
		{"few none examples: three times theirs", labels(100, 6, 1000), 1, 0.106, 0.018},
		{"no background", labels(10, 2, 0), 1, so.background, so.noneBackground},
	}
	for _, tt := range tests {
		bg, none := backgroundWeights(tt.labels, tt.none, so)
		if math.Abs(bg-tt.wantBG) > 1e-9 || math.Abs(none-tt.wantNone) > 1e-9 {
			t.Errorf("%s: weights %v, %v; want %v, %v", tt.name, bg, none, tt.wantBG, tt.wantNone)
		}
	}
}
