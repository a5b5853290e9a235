package inbox

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// scrape fetches /metrics through a mux, as the gateway mounts it, and
// parses the text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	code, hdr, body := get(t, mux, "/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("/metrics: status %d: %s", code, body)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text exposition", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse exposition: %v\n%s", err, body)
	}
	return fams
}

// values maps each sample of a family to its value, keyed by its label
// values ("" for a family without labels).
func values(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var key []string
		for _, l := range m.GetLabel() {
			key = append(key, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(key)
		v := m.GetGauge().GetValue()
		if m.Counter != nil {
			v = m.GetCounter().GetValue()
		}
		out[strings.Join(key, ",")] = v
	}
	return out
}

func TestMetricsFromStore(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	fams := scrape(t, NewMetrics(st, testLogger(t)))

	tests := []struct {
		name string
		typ  dto.MetricType
		want map[string]float64
	}{
		{"wasl_messages_total", dto.MetricType_COUNTER, map[string]float64{"": 3}},
		{"wasl_messages_quarantined", dto.MetricType_GAUGE, map[string]float64{"": 1}},
		{"wasl_conversations", dto.MetricType_GAUGE, map[string]float64{"": 2}},
		{"wasl_contacts", dto.MetricType_GAUGE, map[string]float64{"": 2}},
		// Every status and state is there, zero or not.
		{"wasl_tickets", dto.MetricType_GAUGE, map[string]float64{
			"status=open": 1, "status=closed": 1, "status=pending": 0, "status=in_progress": 0, "status=transferred": 0,
		}},
		{"wasl_outbound", dto.MetricType_GAUGE, map[string]float64{
			"state=queued": 1, "state=sent": 2, "state=failed": 1, "state=sending": 0, "state=delivered": 0, "state=undelivered": 0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := fams[tt.name]
			if !ok {
				t.Fatalf("%s missing from the exposition", tt.name)
			}
			if f.GetType() != tt.typ {
				t.Errorf("type %v, want %v", f.GetType(), tt.typ)
			}
			if f.GetHelp() == "" {
				t.Error("no HELP text")
			}
			got := values(f)
			if len(got) != len(tt.want) {
				t.Errorf("samples %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s{%s} = %v (present %v), want %v", tt.name, k, g, ok, v)
				}
			}
		})
	}

	// The runtime and process collectors are on the same registry.
	for _, name := range []string{"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_open_fds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing from the exposition", name)
		}
	}
}

// Counts are read at scrape time, not cached from the first scrape.
func TestMetricsFollowTheStore(t *testing.T) {
	st := newStore(t)
	h := NewMetrics(st, testLogger(t))
	if got := values(scrape(t, h)["wasl_conversations"])[""]; got != 0 {
		t.Fatalf("empty store: wasl_conversations = %v", got)
	}
	seedStore(t, st)
	if got := values(scrape(t, h)["wasl_conversations"])[""]; got != 2 {
		t.Fatalf("after seeding: wasl_conversations = %v, want 2", got)
	}
}

// Two handlers in one process do not collide: each has its own registry.
func TestMetricsOwnRegistry(t *testing.T) {
	a := NewMetrics(fixedStats{stats: store.Stats{Contacts: 1}}, testLogger(t))
	b := NewMetrics(fixedStats{stats: store.Stats{Contacts: 5}}, testLogger(t))
	if got := values(scrape(t, a)["wasl_contacts"])[""]; got != 1 {
		t.Errorf("first handler: wasl_contacts = %v, want 1", got)
	}
	if got := values(scrape(t, b)["wasl_contacts"])[""]; got != 5 {
		t.Errorf("second handler: wasl_contacts = %v, want 5", got)
	}
}

// A store that cannot be read fails the scrape loudly, logs why, and does
// not hand the database's error to the scraper.
func TestMetricsStoreError(t *testing.T) {
	var logBuf syncBuffer
	log := slog.New(slog.NewTextHandler(&logBuf, nil))
	h := NewMetrics(fixedStats{err: errors.New("dial tcp db.internal:5432: connection refused")}, log)
	code, _, body := get(t, h, "/metrics", "")
	if code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500: %s", code, body)
	}
	if bytes.Contains(body, []byte("db.internal")) {
		t.Errorf("scrape body leaks the database error: %s", body)
	}
	if !strings.Contains(logBuf.String(), "db.internal:5432: connection refused") {
		t.Errorf("log does not say why: %s", logBuf.String())
	}
}

type fixedStats struct {
	stats store.Stats
	err   error
}

func (f fixedStats) Stats(context.Context) (store.Stats, error) { return f.stats, f.err }

// syncBuffer is a log sink that collectors' goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// A channel whose latest send failed with a retryable error (a refused
// login) shows as failing, with when; once a reply gets through it is not.
func TestMetricsChannelSendStatus(t *testing.T) {
	st := newStore(t)
	seedStore(t, st)
	h := NewMetrics(st, testLogger(t))
	key := "channel=support-email,kind=email"
	if got := values(scrape(t, h)["wasl_channel_send_failing"]); got[key] != 0 || len(got) != 1 {
		t.Fatalf("before any attempt: %v, want %s = 0", got, key)
	}
	ctx := context.Background()
	attempt := func(id int64, state message.DeliveryState, errText string) {
		t.Helper()
		if _, claimed, err := st.ClaimOutbound(ctx, id); err != nil || !claimed {
			t.Fatalf("claim %d: %v %v", id, claimed, err)
		}
		if err := st.MarkOutbound(ctx, id, state, "", errText); err != nil {
			t.Fatal(err)
		}
	}
	queued := outboundIDs(t, st, message.StateQueued)
	attempt(queued[0], message.StateQueued, `auth as "support": server replied 535 5.7.8 Authentication credentials invalid`)
	fams := scrape(t, h)
	if got := values(fams["wasl_channel_send_failing"])[key]; got != 1 {
		t.Errorf("after a refused login: failing = %v, want 1", got)
	}
	if at := values(fams["wasl_channel_send_error_timestamp_seconds"])[key]; at < float64(time.Now().Add(-time.Hour).Unix()) {
		t.Errorf("error timestamp %v, want about now", at)
	}
	attempt(queued[0], message.StateSent, "")
	fams = scrape(t, h)
	if got := values(fams["wasl_channel_send_failing"])[key]; got != 0 {
		t.Errorf("after the retry went through: failing = %v, want 0", got)
	}
	if _, ok := values(fams["wasl_channel_last_sent_timestamp_seconds"])[key]; !ok {
		t.Error("no last-sent timestamp after a reply went out")
	}
}

func outboundIDs(t *testing.T, st *store.Store, state message.DeliveryState) []int64 {
	t.Helper()
	rows, err := st.DB().Query(`SELECT id FROM outbound_messages WHERE state = $1 ORDER BY id`, string(state))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		t.Fatalf("no %s reply seeded", state)
	}
	return ids
}
