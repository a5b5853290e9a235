package router

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkIngest measures one inbound email through the whole pipeline
// (dedupe, contact, thread, classify, decide, ticket, reply job) committed
// on SQLite.
func BenchmarkIngest(b *testing.B) {
	e := newEnv(b, "")
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in := e.mail(fmt.Sprintf("bench-%d@x", i), fmt.Sprintf("c%d@example.edu", i), "Projector", "projector broken")
		if _, err := e.p.Process(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIngestDuplicate measures a re-delivery: the cost of a no-op.
func BenchmarkIngestDuplicate(b *testing.B) {
	e := newEnv(b, "")
	in := e.mail("dup@x", "a@example.edu", "Projector", "projector broken")
	if _, err := e.p.Process(context.Background(), in); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if r, err := e.p.Process(context.Background(), in); err != nil || !r.Duplicate {
			b.Fatal(err, r.Duplicate)
		}
	}
}
