package router

import (
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/replies"
)

// ClassifierConfig turns the knowledge bank into what the classifier learns
// from: every topic with its Arabic and English examples, and the
// operator's rules.
func ClassifierConfig(b *replies.Bank) classify.Config {
	var cfg classify.Config
	for _, t := range b.Topics() {
		ex := make([]string, 0, len(t.Examples.AR)+len(t.Examples.EN))
		ex = append(ex, t.Examples.AR...)
		ex = append(ex, t.Examples.EN...)
		cfg.Topics = append(cfg.Topics, classify.TopicSpec{ID: t.ID, Scope: classify.Scope(t.Scope), Examples: ex})
	}
	for _, r := range b.Rules() {
		cfg.Rules = append(cfg.Rules, classify.Rule{Name: r.Name, Topic: r.Topic, Keywords: r.Keywords, Patterns: r.Patterns, SenderDomains: r.SenderDomains})
	}
	return cfg
}
