package router

import (
	"context"
	"fmt"
	"strings"
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

// BenchmarkIngestLong is BenchmarkIngest with a ~10 KB plain-text body (a
// request, then a long letter with no quote markers): what the classifier
// reads of a long mail.
func BenchmarkIngestLong(b *testing.B) {
	e := newEnv(b, "")
	body := "The projector in room 12 is broken.\n" + strings.Repeat("We tried the cable, the remote and the wall switch, and the lamp still does not light; the lecture starts at nine.\n", 90)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		in := e.mail(fmt.Sprintf("bench-%d@x", i), fmt.Sprintf("c%d@example.edu", i), "Projector", body)
		if _, err := e.p.Process(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}
