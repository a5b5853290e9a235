package e2e

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// What the load benchmark and its small exactly-once test share: a gateway
// on the shipped defaults, the Twilio stand-in behind a proxy that notes
// when each reply arrives, and signed webhooks sent at a fixed concurrency
// or a fixed rate, each timed until its 200.

// newLoadGateway is newGatewayWith on the gateway's own defaults: no
// shortened job poll, send timeout or rescue (those make tests quick, and
// the benchmark measures what ships). extraYAML holds the channels and any
// other top-level keys.
func newLoadGateway(t *testing.T, dbURL, extraYAML string) *gateway {
	t.Helper()
	return newGatewayConfig(t, dbURL, func(g *gateway, bank string) string {
		return fmt.Sprintf("data_dir: %s\nknowledge_bank: %s\napi_token: %s\nmail_domain: e2e.wasl.test\nhttp:\n  addr: %s\n%s\n",
			filepath.Join(g.dir, "data"), bank, g.token, g.addr, extraYAML)
	})
}

// pid is the running gateway's process id.
func (g *gateway) pid() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.cmd == nil {
		return 0
	}
	return g.cmd.Process.Pid
}

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// logCount counts the gateway's log lines that contain s.
func (g *gateway) logCount(s string) int { return strings.Count(g.logs.String(), s) }

// replyClock tells when each message creation reached the Twilio
// stand-in, by recipient: the moment a reply was handed over to "Twilio".
// It reads the stand-in's own log of requests; a proxy in front of it
// would be an HTTP hop of the harness's, on the cores the gateway needs.
type replyClock struct{ fake *faketwilio.Server }

func newReplyClock(fake *faketwilio.Server) *replyClock { return &replyClock{fake: fake} }

func (rc *replyClock) URL() string { return rc.fake.URL() }

// byRecipient is every message creation's arrival, by To, oldest first,
// whatever the stand-in answered.
func (rc *replyClock) byRecipient() map[string][]time.Time {
	at := map[string][]time.Time{}
	for _, r := range rc.fake.Requests() {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Messages.json") {
			to := r.Form.Get("To")
			at[to] = append(at[to], r.At)
		}
	}
	return at
}

// arrivals is every arrival, sorted.
func (rc *replyClock) arrivals() []time.Time {
	var out []time.Time
	for _, a := range rc.byRecipient() {
		out = append(out, a...)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// smsLoad sends signed SMS webhooks, each a new message from a new
// customer (a new contact and conversation, as on a results day), and
// keeps each one's timing. Bodies are mostly requests (a ticket and an
// acknowledgement), and some questions answered from the bank.
type smsLoad struct {
	t      *testing.T
	fake   *faketwilio.Server
	hook   string // the webhook URL
	tag    int    // keeps the senders of different runs apart
	client *http.Client

	mu   sync.Mutex
	n    int
	sent []smsSent
}

type smsSent struct {
	sid, from string
	start     time.Time
	acked     time.Time // zero: not answered 200
	answer    string    // status and body, when not 200
}

func newSMSLoad(t *testing.T, fake *faketwilio.Server, g *gateway, tag int) *smsLoad {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	t.Cleanup(tr.CloseIdleConnections)
	return &smsLoad{t: t, fake: fake, hook: g.url() + "/webhooks/twilio/sms", tag: tag,
		client: &http.Client{Timeout: 60 * time.Second, Transport: tr}}
}

var loadBodies = []string{
	"The projector in room %d is broken, please send a technician",
	"البروجكتر في القاعة %d خربان نبي صيانة",
	"We need a smart board supplied for classroom %d next semester",
	"My grade in course %d is wrong on the transcript, who can fix it?",
	"نحتاج سبورة ذكية للقاعة %d الفصل القادم",
}

// post sends one new message and records it.
func (l *smsLoad) post() {
	l.mu.Lock()
	n := l.n
	l.n++
	l.mu.Unlock()
	in := faketwilio.Inbound{From: fmt.Sprintf("+9665%02d%06d", l.tag, n), To: smsNumber, Body: fmt.Sprintf(loadBodies[n%len(loadBodies)], n)}
	form := l.fake.InboundForm(in)
	s := smsSent{sid: form.Get("MessageSid"), from: in.From, start: time.Now()}
	req, err := l.fake.WebhookRequest(l.hook, form)
	if err != nil {
		l.t.Error(err)
		return
	}
	resp, err := l.client.Do(req)
	if err != nil {
		s.answer = err.Error()
	} else {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && strings.Contains(string(body), "<Response>") {
			s.acked = time.Now()
		} else {
			s.answer = fmt.Sprintf("%s %q", resp.Status, body)
		}
	}
	l.mu.Lock()
	l.sent = append(l.sent, s)
	l.mu.Unlock()
}

// closed sends count messages from clients goroutines, each posting its
// next message as soon as the last is answered, and returns how long it took.
func (l *smsLoad) closed(clients, count int) time.Duration {
	start := time.Now()
	work := make(chan struct{}, count)
	for range count {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range work {
				l.post()
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// open sends count messages at rate per second, each on its own
// goroutine whatever the gateway's answers (an open loop, as Twilio
// sends), and returns how long it took until the last was answered.
func (l *smsLoad) open(rate float64, count int) time.Duration {
	start := time.Now()
	every := time.Duration(float64(time.Second) / rate)
	var wg sync.WaitGroup
	for i := range count {
		if d := time.Until(start.Add(time.Duration(i) * every)); d > 0 {
			time.Sleep(d)
		}
		wg.Go(l.post)
	}
	wg.Wait()
	return time.Since(start)
}

// since returns the messages sent from index from on.
func (l *smsLoad) since(from int) []smsSent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.sent[from:])
}

func (l *smsLoad) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.sent)
}

// acked returns the sids answered 200 and fails the test for any other answer.
func (l *smsLoad) acked() []string {
	l.t.Helper()
	var ids []string
	for _, s := range l.since(0) {
		if s.acked.IsZero() {
			l.t.Errorf("webhook %s not answered 200: %s", s.sid, s.answer)
			continue
		}
		ids = append(ids, s.sid)
	}
	return ids
}

// ackLatencies is how long each of sent waited for its 200.
func ackLatencies(sent []smsSent) []time.Duration {
	var out []time.Duration
	for _, s := range sent {
		if !s.acked.IsZero() {
			out = append(out, s.acked.Sub(s.start))
		}
	}
	return out
}

// percentile is the p-th percentile (0–100) of ds, nearest rank.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

func ms(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	}
}
