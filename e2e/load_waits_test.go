package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// waitSampler counts, every 20 ms while a run goes on, what PostgreSQL's
// active client backends are doing (pg_stat_activity): on the CPU, waiting
// on a lock (the ticket counter was one), on the WAL (the commit's flush),
// on the gateway (ClientRead: its next statement) or on anything else. The
// averages say where a run's time went on the database side.
type waitSampler struct {
	stop chan struct{}
	done chan string
}

var waitClasses = []struct{ name, sql string }{
	{"CPU", "wait_event_type IS NULL"},
	{"locks", "wait_event_type = 'Lock'"},
	{"the WAL", "wait_event LIKE 'WAL%'"},
	{"the gateway", "wait_event = 'ClientRead'"},
	{"other", "TRUE"},
}

func sampleWaits(db *sql.DB) *waitSampler {
	s := &waitSampler{stop: make(chan struct{}), done: make(chan string, 1)}
	var cases strings.Builder
	for _, c := range waitClasses {
		fmt.Fprintf(&cases, " WHEN %s THEN '%s'", c.sql, c.name)
	}
	q := `SELECT CASE` + cases.String() + ` END, count(*) FROM pg_stat_activity
		WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid() GROUP BY 1`
	go func() {
		counts := map[string]int{}
		samples := 0
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.stop:
				s.done <- summarizeWaits(counts, samples)
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			rows, err := db.QueryContext(ctx, q)
			if err != nil {
				cancel()
				continue
			}
			samples++
			for rows.Next() {
				var k string
				var n int
				if rows.Scan(&k, &n) == nil {
					counts[k] += n
				}
			}
			rows.Close()
			cancel()
		}
	}()
	return s
}

// end stops the sampling and says the averages.
func (s *waitSampler) end() string {
	close(s.stop)
	return <-s.done
}

func summarizeWaits(counts map[string]int, samples int) string {
	if samples == 0 {
		return "no samples"
	}
	var parts []string
	for _, c := range waitClasses {
		parts = append(parts, fmt.Sprintf("%.2f %s", float64(counts[c.name])/float64(samples), c.name))
	}
	return strings.Join(parts, ", ")
}
