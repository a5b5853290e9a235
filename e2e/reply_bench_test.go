package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/internal/pgtest"
)

// The reply benchmarks time what a customer waits for: from the webhook's
// 200 (the message committed) to the gateway's POST of the reply reaching
// the Twilio stand-in. A stamping proxy in front of the fake notes when
// each reply's request arrives, by recipient; every inbound comes from a
// number of its own, so each gets one acknowledgement.
//
//	go test -run '^$' -bench 'Reply' -benchtime 1x ./e2e
//
// WASL_BENCH_RATE (default 50 a second), WASL_BENCH_SECONDS (default 20)
// and WASL_BENCH_BURST (default 2000) size the load; WASL_BENCH_WORKERS sets jobs.workers (default: the gateway's).

// replyStamps notes when the reply to each recipient reached the fake.
type replyStamps struct {
	mu   sync.Mutex
	at   map[string]time.Time
	dups int
	got  chan struct{} // one value per reply
}

func (s *replyStamps) proxy(b *testing.B, fake *faketwilio.Server) string {
	target, err := url.Parse(fake.URL())
	if err != nil {
		b.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Messages.json") {
			now := time.Now()
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			form, _ := url.ParseQuery(string(body))
			to := form.Get("To")
			s.mu.Lock()
			if _, ok := s.at[to]; ok {
				s.dups++
			} else {
				s.at[to] = now
			}
			s.mu.Unlock()
			s.got <- struct{}{}
		}
		rp.ServeHTTP(w, r)
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// benchGateway is a wasl serve for a benchmark (the tests' gateway wants a
// *testing.T).
type benchGateway struct {
	addr string
	cmd  *exec.Cmd
	logs *syncBuffer
}

func startBenchGateway(b *testing.B, dbURL, apiURL string) *benchGateway {
	b.Helper()
	dir := b.TempDir()
	bank, err := filepath.Abs("../configs/bank.yaml")
	if err != nil {
		b.Fatal(err)
	}
	jobs := ""
	if w := os.Getenv("WASL_BENCH_WORKERS"); w != "" {
		jobs = "jobs:\n  workers: " + w + "\n"
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	g := &benchGateway{addr: ln.Addr().String(), logs: &syncBuffer{}}
	ln.Close()
	cfg := fmt.Sprintf("data_dir: %s\nknowledge_bank: %s\napi_token: bench\nmail_domain: bench.wasl.test\nhttp:\n  addr: %s\n%s%s",
		filepath.Join(dir, "data"), bank, g.addr, jobs, smsChannelYAML(apiURL))
	cfgPath := filepath.Join(dir, "wasl.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	g.cmd = exec.Command(binary, "serve", "--config", cfgPath)
	g.cmd.Env = append(os.Environ(), "WASL_LOG_LEVEL=warn", "WASL_API_TOKEN=", "WASL_DATABASE_URL="+dbURL)
	g.cmd.Stdout, g.cmd.Stderr = g.logs, g.logs
	if err := g.cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = g.cmd.Process.Signal(syscall.SIGTERM)
		_ = g.cmd.Wait()
		if b.Failed() {
			b.Logf("gateway log:\n%s", tail(g.logs.String(), 40))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + g.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return g
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.Fatalf("wasl not ready:\n%s", tail(g.logs.String(), 40))
	return nil
}

// replyRig is the fake, the proxy and the gateway.
type replyRig struct {
	fake   *faketwilio.Server
	stamps *replyStamps
	gw     *benchGateway
	hook   string
	client *http.Client
}

func newReplyRig(b *testing.B, dbURL string, capacity int) *replyRig {
	fake := faketwilio.Start(b, twilioAccount, twilioToken)
	stamps := &replyStamps{at: map[string]time.Time{}, got: make(chan struct{}, capacity+100)}
	gw := startBenchGateway(b, dbURL, stamps.proxy(b, fake))
	return &replyRig{fake: fake, stamps: stamps, gw: gw, hook: "http://" + gw.addr + "/webhooks/twilio/sms",
		client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// post sends customer i's request and returns when its 200 came.
func (r *replyRig) post(b *testing.B, run, i int) (string, time.Time, error) {
	from := fmt.Sprintf("+9665%02d%06d", run, i)
	form := r.fake.InboundForm(faketwilio.Inbound{From: from, To: smsNumber, Body: "البروجكتر في القاعة 12 خربان نبي صيانة"})
	req, err := r.fake.WebhookRequest(r.hook, form)
	if err != nil {
		return from, time.Time{}, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return from, time.Time{}, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	at := time.Now()
	if resp.StatusCode != http.StatusOK {
		return from, at, fmt.Errorf("webhook %s: %s", from, resp.Status)
	}
	return from, at, nil
}

// waitReplies waits for n replies (or fails after d).
func (r *replyRig) waitReplies(b *testing.B, n int, d time.Duration) time.Time {
	timeout := time.After(d)
	for range n {
		select {
		case <-r.stamps.got:
		case <-timeout:
			b.Fatalf("only some of %d replies arrived within %s", n, d)
		}
	}
	return time.Now()
}

// benchStores are the stores the benchmarks run on, PostgreSQL first.
var benchStores = []string{"postgres", "sqlite"}

func benchDB(b *testing.B, name string) string {
	if name == "postgres" {
		return pgtest.URL(b)
	}
	return ""
}

// BenchmarkReplyLatency drives WASL_BENCH_RATE signed SMS a second for
// WASL_BENCH_SECONDS and reports the latency from each webhook's 200 to its
// reply at the stand-in.
func BenchmarkReplyLatency(b *testing.B) {
	for _, name := range benchStores {
		b.Run(name, func(b *testing.B) {
			rate := envInt("WASL_BENCH_RATE", 50)
			n := rate * envInt("WASL_BENCH_SECONDS", 20)
			rig := newReplyRig(b, benchDB(b, name), n)
			for run := range b.N {
				acks := make(map[string]time.Time, n)
				var mu sync.Mutex
				var wg sync.WaitGroup
				errs := make(chan error, n)
				tick := time.NewTicker(time.Second / time.Duration(rate))
				for i := range n {
					<-tick.C
					wg.Add(1)
					go func() {
						defer wg.Done()
						from, at, err := rig.post(b, run, i)
						if err != nil {
							errs <- err
							return
						}
						mu.Lock()
						acks[from] = at
						mu.Unlock()
					}()
				}
				tick.Stop()
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				rig.waitReplies(b, n, 2*time.Minute)
				var lat []time.Duration
				rig.stamps.mu.Lock()
				for from, ack := range acks {
					lat = append(lat, rig.stamps.at[from].Sub(ack))
				}
				dups := rig.stamps.dups
				rig.stamps.mu.Unlock()
				if dups > 0 {
					b.Fatalf("%d replies sent twice", dups)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(percentile(lat, 50).Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(percentile(lat, 99).Microseconds())/1000, "p99-ms")
				b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
			}
		})
	}
}

// BenchmarkReplyDrain posts WASL_BENCH_BURST signed SMS from 16 clients as
// fast as the gateway takes them, then reports the ingest rate and the rate
// at which the replies still queued when the last 200 came were sent.
func BenchmarkReplyDrain(b *testing.B) {
	for _, name := range benchStores {
		b.Run(name, func(b *testing.B) {
			n := envInt("WASL_BENCH_BURST", 2000)
			const clients = 16
			rig := newReplyRig(b, benchDB(b, name), n)
			for run := range b.N {
				ctx, cancel := context.WithCancel(context.Background())
				next := make(chan int)
				go func() {
					defer close(next)
					for i := range n {
						select {
						case next <- i:
						case <-ctx.Done():
							return
						}
					}
				}()
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				start := time.Now()
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := range next {
							if _, _, err := rig.post(b, run, i); err != nil {
								errs <- err
								cancel()
								return
							}
						}
					}()
				}
				wg.Wait()
				cancel()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				ingestEnd := time.Now()
				rig.stamps.mu.Lock()
				sentAtEnd := len(rig.stamps.at)
				rig.stamps.mu.Unlock()
				end := rig.waitReplies(b, n, 5*time.Minute)
				backlog := n - sentAtEnd
				ingest := ingestEnd.Sub(start).Seconds()
				b.ReportMetric(float64(n)/ingest, "ingest-msg/s")
				b.ReportMetric(float64(n)/end.Sub(start).Seconds(), "replies/s")
				b.ReportMetric(float64(backlog), "backlog")
				if backlog > 0 {
					b.ReportMetric(float64(backlog)/end.Sub(ingestEnd).Seconds(), "drain-replies/s")
				}
				rig.stamps.mu.Lock()
				dups := rig.stamps.dups
				rig.stamps.mu.Unlock()
				if dups > 0 {
					b.Fatalf("%d replies sent twice", dups)
				}
			}
		})
	}
}
