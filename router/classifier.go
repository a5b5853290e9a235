package router

import (
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/replies"
)

// ClassifierConfig turns the knowledge bank into what the classifier learns
// from: every topic with its Arabic and English examples (and, for
// requests, its titles), small talk and spam as their own scopes, and the
// operator's rules.
func ClassifierConfig(b *replies.Bank) classify.Config {
	var cfg classify.Config
	for _, t := range b.Topics() {
		ex := make([]string, 0, len(t.Examples.AR)+len(t.Examples.EN)+2)
		ex = append(ex, t.Examples.AR...)
		ex = append(ex, t.Examples.EN...)
		if t.Kind == replies.TopicRequest {
			// An ask reply lists services by title and asks the customer to
			// answer with one: the title must lead back to its topic.
			ex = append(ex, t.Title.AR, t.Title.EN)
		}
		scope := classify.Scope(t.Scope)
		switch t.Kind {
		case replies.TopicSmallTalk:
			scope = classify.ScopeSmallTalk
		case replies.TopicSpam:
			scope = classify.ScopeSpam
		}
		cfg.Topics = append(cfg.Topics, classify.TopicSpec{ID: t.ID, Scope: scope, Examples: ex})
	}
	for _, r := range b.Rules() {
		cfg.Rules = append(cfg.Rules, classify.Rule{Name: r.Name, Topic: r.Topic, Keywords: r.Keywords, Patterns: r.Patterns, SenderDomains: r.SenderDomains})
	}
	return cfg
}
