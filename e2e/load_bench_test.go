package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

// TestLoadBenchmark is the load benchmark of issue 12 (make bench-load;
// BENCHMARKS.md says what it measures and holds its results). It runs
// only with WASL_BENCH_LOAD=1: it takes minutes and its figures are
// timings, which never decide pass or fail. What does fail it is the
// exactly-once check after each run.
//
// Sizes (environment, defaults in parentheses): WASL_BENCH_MESSAGES
// webhooks per closed-loop run (1000), WASL_BENCH_MAILS mails of the first
// sync (10000), WASL_BENCH_MAIL_SIZE bytes per mail (10240),
// WASL_BENCH_BURST the reply-drain burst (5000), WASL_BENCH_RATED
// webhooks per fixed-rate run (1000), WASL_BENCH_SECONDS per baseline run
// (20). WASL_BENCH_OUT names a file that gets the table too (and, beside
// it, the pgbench scripts made of the captured transaction).
// WASL_BENCH_ONLY=sync runs the two first syncs alone, to compare a change
// to the mail path without the half hour of webhooks and baselines;
// WASL_BENCH_ONLY=postgres or sqlite runs that backend's webhook runs
// alone, without baselines, their figures in the test's log.
func TestLoadBenchmark(t *testing.T) {
	if os.Getenv("WASL_BENCH_LOAD") == "" {
		t.Skip("the load benchmark runs with WASL_BENCH_LOAD=1 (make bench-load)")
	}
	only := os.Getenv("WASL_BENCH_ONLY")
	switch only {
	case "", "sync", "postgres", "sqlite":
	default:
		t.Fatalf("WASL_BENCH_ONLY=%q: the parts that run alone are sync, postgres and sqlite", only)
	}
	cfg := loadConfig{
		messages: envInt("WASL_BENCH_MESSAGES", 1000),
		mails:    envInt("WASL_BENCH_MAILS", 10000),
		mailSize: envInt("WASL_BENCH_MAIL_SIZE", 10240),
		burst:    envInt("WASL_BENCH_BURST", 5000),
		rated:    envInt("WASL_BENCH_RATED", 1000),
		baseline: time.Duration(envInt("WASL_BENCH_SECONDS", 20)) * time.Second,
	}
	r := &loadReport{loadStart: loadAvg(), started: time.Now(), syncOnly: only == "sync",
		pgFull: map[int]float64{}, pgFloor: map[int]float64{}, liteFull: map[int]float64{}, liteFloor: map[int]float64{},
		pgFloorCPU: map[int]cpuUse{}, liteFloorCPU: map[int]cpuUse{}}
	c := startLoadCluster(t)
	switch only {
	case "postgres":
		webhookRuns(t, c.newDB("wasl_bench"), cfg, r, true)
		return
	case "sqlite":
		webhookRuns(t, "", cfg, r, false)
		return
	}
	if r.syncOnly {
		r.pgSync = firstSyncRun(t, c.newDB("wasl_sync"), cfg)
		r.liteSync = firstSyncRun(t, "", cfg)
		r.loadEnd, r.finished = loadAvg(), time.Now()
		fmt.Println(r.markdown(cfg))
		return
	}

	// Baselines on PostgreSQL first, with no gateway running.
	tx := captureIngest(t, c)
	full, floor := planFromCapture(context.Background(), t, tx)
	r.statements = len(full.steps)
	r.pgScript = full.pgbenchScript(full.consts, nil)
	for _, clients := range []int{8, 32} {
		r.pgFull[clients], _ = c.pgbench(tx.name, r.pgScript, clients, cfg.baseline)
		r.floorScript = floor.pgbenchScript(floor.consts, floor.spreadRefs(context.Background(), tx.db, tx.seqBase))
		cpu := readCPU(0)
		r.pgFloor[clients], _ = c.pgbench(tx.name, r.floorScript, clients, cfg.baseline)
		r.pgFloorCPU[clients] = cpuSince(cpu, 0, int(r.pgFloor[clients]*cfg.baseline.Seconds()))
		t.Logf("pgbench, %d clients: the gateway's transaction %.0f tx/s, the floor %.0f tx/s", clients, r.pgFull[clients], r.pgFloor[clients])
	}

	t.Run("postgres", func(t *testing.T) {
		dbURL := c.newDB("wasl_bench")
		r.pg = webhookRuns(t, dbURL, cfg, r, true)
		r.pgSync = firstSyncRun(t, c.newDB("wasl_sync"), cfg)
	})
	t.Run("sqlite", func(t *testing.T) {
		r.lite = webhookRuns(t, "", cfg, r, false)
		// The same two transactions from Go, on the benchmark's database.
		for _, clients := range []int{8, 32} {
			r.liteFull[clients] = sqliteBaseline(t, r.lite.dbFile, full, clients, cfg.baseline)
			cpu := readCPU(0)
			r.liteFloor[clients] = sqliteBaseline(t, r.lite.dbFile, floor, clients, cfg.baseline)
			r.liteFloorCPU[clients] = cpuSince(cpu, 0, int(r.liteFloor[clients]*cfg.baseline.Seconds()))
			t.Logf("SQLite from Go, %d goroutines: the gateway's transaction %.0f tx/s, the floor %.0f tx/s", clients, r.liteFull[clients], r.liteFloor[clients])
		}
		r.liteSync = firstSyncRun(t, "", cfg)
	})
	r.loadEnd = loadAvg()
	r.finished = time.Now()
	out := r.markdown(cfg)
	fmt.Println(out)
	// The table, and beside it the two pgbench scripts, to read or rerun.
	if f := os.Getenv("WASL_BENCH_OUT"); f != "" {
		for name, text := range map[string]string{f: out, f + ".full.sql": r.pgScript, f + ".floor.sql": r.floorScript} {
			if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
				t.Error(err)
			}
		}
	}
}

type loadConfig struct {
	messages, mails, mailSize, burst, rated int
	baseline                                time.Duration
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// webhookResult is one closed- or open-loop run of webhooks.
type webhookResult struct {
	clients  int
	rate     float64 // offered, for open-loop runs
	count    int
	elapsed  time.Duration
	p50, p99 time.Duration
	spooled  int
	stored   time.Duration // until every acked message was in the database
	waits    string        // PostgreSQL: its active backends, on average (waitSampler)
	cpu      cpuUse        // from the first webhook to the last answer
}

func (w webhookResult) perSecond() float64 { return float64(w.count) / w.elapsed.Seconds() }

// spoolNote says how many 200s came from the spool (before the commit)
// and when the last of them was stored.
func (w webhookResult) spoolNote() string {
	if w.spooled == 0 {
		return ", none spooled"
	}
	return fmt.Sprintf(", %d spooled: all stored after %s", w.spooled, ms(w.stored))
}

type backendResult struct {
	closed map[int]webhookResult
	half   webhookResult
	// PostgreSQL only: replies at 50 msg/s, and the burst.
	replyP50, replyP99         time.Duration
	halfReplyP50, halfReplyP99 time.Duration // at half the peak
	replyAckP50, replyAckP99   time.Duration
	sendRTT                    time.Duration
	burst                      webhookResult
	burstReplies, backlog      int
	ratedSpooled               int           // of the 50 msg/s run
	repliesDuring              float64       // replies/s while the burst came in
	drain                      float64       // replies/s after it stopped
	lastReply                  time.Duration // from the burst's last 200 to its last reply
	dbFile                     string        // SQLite: the database, for the Go baselines
}

type syncResult struct {
	mails   int
	bytes   int64
	sync    time.Duration // as the gateway logged it (syncSpan)
	gateway time.Duration // from its start until the test saw every mail stored
	rss     int64
	bare    time.Duration
}

type loadReport struct {
	loadStart, loadEnd string
	started, finished  time.Time
	statements         int
	pgScript           string
	floorScript        string
	// tx/s by clients
	pgFull, pgFloor, liteFull, liteFloor map[int]float64
	pgFloorCPU, liteFloorCPU             map[int]cpuUse // the floors' CPU a transaction
	pg, lite                             backendResult
	pgSync, liteSync                     syncResult
	syncOnly                             bool // WASL_BENCH_ONLY=sync: no webhook rows
}

// webhookRuns starts a gateway with the SMS channel and runs the webhook
// measures on it, then checks that everything was stored and answered
// exactly once.
func webhookRuns(t *testing.T, dbURL string, cfg loadConfig, r *loadReport, postgres bool) backendResult {
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	rc := newReplyClock(fake)
	g := newLoadGateway(t, dbURL, smsChannelYAML(rc.URL()))
	g.start()
	res := backendResult{closed: map[int]webhookResult{}}
	var db *sql.DB
	if postgres {
		var err error
		if db, err = sql.Open("pgx", dbURL); err != nil {
			t.Fatal(err)
		}
		defer db.Close()
	}
	l := newSMSLoad(t, fake, g, 10)
	// Warm up (first contacts, the ticket counter, the pools), unmeasured.
	l.closed(4, 50)
	g.waitSettled(2*time.Minute, l.acked())

	measure := func(run func() time.Duration) webhookResult {
		from := l.count()
		spooled := g.logCount("inbound message spooled")
		start := time.Now()
		var waits *waitSampler
		if db != nil {
			waits = sampleWaits(db)
		}
		cpu := readCPU(g.pid())
		elapsed := run()
		sent := l.since(from)
		w := webhookResult{count: len(sent), elapsed: elapsed, cpu: cpuSince(cpu, g.pid(), len(sent))}
		if waits != nil {
			w.waits = waits.end()
		}
		lat := ackLatencies(sent)
		w.p50, w.p99 = percentile(lat, 50), percentile(lat, 99)
		w.spooled = g.logCount("inbound message spooled") - spooled
		// Spooled messages are acked before they are stored: wait for them.
		var ids []string
		for _, s := range sent {
			ids = append(ids, s.sid)
		}
		g.waitStored(5*time.Minute, ids)
		w.stored = time.Since(start)
		g.waitSettled(10*time.Minute, l.acked())
		return w
	}
	peak := 0.0
	for _, clients := range []int{8, 32} {
		w := measure(func() time.Duration { return l.closed(clients, cfg.messages) })
		w.clients = clients
		res.closed[clients] = w
		peak = max(peak, w.perSecond())
		t.Logf("%d clients: %d webhooks in %s: %.0f msg/s, ack p50 %s p99 %s, %d spooled; CPU a webhook %s", clients, w.count, w.elapsed, w.perSecond(), ms(w.p50), ms(w.p99), w.spooled, w.cpu.webhookCPU("the rest"))
		if w.waits != "" {
			t.Logf("%d clients: PostgreSQL's active backends on average: %s", clients, w.waits)
		}
	}
	half := peak / 2
	halfFrom := l.count()
	res.half = measure(func() time.Duration { return l.open(half, min(cfg.rated, int(half*30)+1)) })
	res.half.rate = half
	// Replies at a rate the gateway keeps up with: the wait for a send
	// worker, without a backlog.
	res.halfReplyP50, res.halfReplyP99 = replyLatencies(rc, l.since(halfFrom))
	t.Logf("fixed rate %.0f msg/s: ack p50 %s p99 %s; reply p50 %s p99 %s after the 200", half, ms(res.half.p50), ms(res.half.p99), ms(res.halfReplyP50), ms(res.halfReplyP99))

	if postgres {
		// Inbound → reply at the stand-in, at 50 msg/s.
		from := l.count()
		spooled := g.logCount("inbound message spooled")
		l.open(50, cfg.rated)
		res.ratedSpooled = g.logCount("inbound message spooled") - spooled
		g.waitSettled(10*time.Minute, l.acked())
		sent := l.since(from)
		res.replyP50, res.replyP99 = replyLatencies(rc, sent)
		ack := ackLatencies(sent)
		res.replyAckP50, res.replyAckP99 = percentile(ack, 50), percentile(ack, 99)
		res.sendRTT = sendRoundTrip(t)
		t.Logf("50 msg/s: reply p50 %s p99 %s after the 200; one send to the stand-in %s", ms(res.replyP50), ms(res.replyP99), ms(res.sendRTT))

		// The burst, and how fast its replies drain.
		before := len(rc.arrivals())
		spooled = g.logCount("inbound message spooled")
		start := time.Now()
		res.burst.elapsed = l.closed(32, cfg.burst)
		ingestEnd := time.Now()
		res.burst.count = cfg.burst
		res.burst.clients = 32
		res.burst.spooled = g.logCount("inbound message spooled") - spooled
		g.waitSettled(20*time.Minute, l.acked())
		arr := rc.arrivals()[before:]
		res.burstReplies = len(arr)
		during := 0
		for _, a := range arr {
			if a.Before(ingestEnd) {
				during++
			}
		}
		res.repliesDuring = float64(during) / ingestEnd.Sub(start).Seconds()
		res.backlog = len(arr) - during
		if len(arr) > during {
			res.lastReply = arr[len(arr)-1].Sub(ingestEnd)
			res.drain = float64(len(arr)-during) / res.lastReply.Seconds()
		}
		t.Logf("burst of %d: ingest %.0f msg/s; replies %.0f/s during it, %.0f/s after it (%d of %d replies after)",
			cfg.burst, res.burst.perSecond(), res.repliesDuring, res.drain, len(arr)-during, len(arr))
	}
	g.stop()
	verifyExactlyOnce(t, g, l.acked(), nil, fake, rc)
	if !postgres {
		res.dbFile = filepath.Join(g.dir, "data", "wasl.db")
	}
	return res
}

// replyLatencies is the p50 and p99 of the time from each webhook's 200 to
// its reply's arrival at the stand-in.
func replyLatencies(rc *replyClock, sent []smsSent) (p50, p99 time.Duration) {
	var lat []time.Duration
	at := rc.byRecipient()
	for _, s := range sent {
		if a := at[s.from]; len(a) > 0 && !s.acked.IsZero() {
			lat = append(lat, a[0].Sub(s.acked))
		}
	}
	return percentile(lat, 50), percentile(lat, 99)
}

// waitStored waits until every id in want is stored.
func (g *gateway) waitStored(d time.Duration, want []string) {
	g.t.Helper()
	eventually(g.t, d, "every acked message stored", func() (bool, string) {
		got := g.storedIDs()
		missing := 0
		for _, id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(want))
	})
}

// sendRoundTrip is the median time of one message creation at the Twilio
// stand-in from here: what handing a reply over costs without any wait.
// A stand-in of its own, so that these do not count as the gateway's.
func sendRoundTrip(t *testing.T) time.Duration {
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	var ds []time.Duration
	for i := range 50 {
		f := url.Values{"To": {fmt.Sprintf("+9665990%05d", i)}, "From": {smsNumber}, "Body": {"ping"}}
		req, _ := http.NewRequest(http.MethodPost, fake.URL()+"/2010-04-01/Accounts/"+twilioAccount+"/Messages.json", strings.NewReader(f.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(twilioAccount, twilioToken)
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		ds = append(ds, time.Since(start))
	}
	return percentile(ds, 50)
}

// sqliteBaseline runs p from Go on a SQLite file with the store's
// settings (WAL, foreign keys, busy timeout, BEGIN IMMEDIATE, 8
// connections, one writer at a time) and returns tx/s.
func sqliteBaseline(t *testing.T, file string, p plan, clients int, d time.Duration) float64 {
	t.Helper()
	dsn := "file:" + file + "?_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	ctx := context.Background()
	// The floor's existing rows: ones of this database.
	consts := map[string]string{}
	for k, v := range p.consts {
		consts[k] = v
	}
	var conv, contact, ticket string
	if err := db.QueryRowContext(ctx, `SELECT m.conversation_id, m.contact_id, t.id FROM messages m JOIN tickets t ON t.conversation_id = m.conversation_id ORDER BY m.id DESC LIMIT 1`).Scan(&conv, &contact, &ticket); err != nil {
		t.Fatalf("sqlite baseline: %v", err)
	}
	for ref, table := range p.refTable {
		switch table {
		case "conversations":
			consts["const:"+ref] = conv
		case "contacts":
			consts["const:"+ref] = contact
		case "tickets":
			consts["const:"+ref] = ticket
		}
	}
	var steps []rstep
	for _, s := range p.steps {
		steps = append(steps, sqliteStep(s)...)
	}
	r := &goRunner{db: db, steps: steps, consts: consts, sqlite: true, writeMu: make(chan struct{}, 1), base: time.Now().UnixNano()}
	tps, err := r.run(ctx, clients, d)
	if err != nil {
		t.Fatalf("sqlite baseline %s: %v", p.name, err)
	}
	return tps
}

// firstSyncRun seeds a mailbox of cfg.mails mails, times the bare fetch of
// it, then a gateway's first sync of it (first_sync: all; the mail is six
// hours old and the auto-reply window one hour, so it is history, as an
// old mailbox is: stored, no replies), and checks every mail was stored
// exactly once.
func firstSyncRun(t *testing.T, dbURL string, cfg loadConfig) syncResult {
	dc := dovecot.Start(t)
	raws := make([][]byte, cfg.mails)
	res := syncResult{mails: cfg.mails}
	for i := range raws {
		raws[i] = loadMail(i, cfg.mailSize)
		res.bytes += int64(len(raws[i]))
	}
	dc.SeedMaildir(t, "INBOX", raws)
	raws = nil

	// Dovecot indexes the new mail on first sight, untimed; then the bare
	// fetch of every mail, the median of three: the first ran 20–30 %
	// slower than the two after it (0.42–0.51 s against 0.32–0.39), and
	// the gateway's sync, which comes after them, finds Dovecot as they
	// left it.
	c := dc.Dial(t, dc.User())
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var bares []time.Duration
	for range 3 {
		start := time.Now()
		cmd := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}})
		n, size := 0, int64(0)
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			buf, err := msg.Collect()
			if err != nil {
				t.Fatal(err)
			}
			for _, b := range buf.BodySection {
				size += int64(len(b.Bytes))
			}
			n++
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		bares = append(bares, time.Since(start))
		if n != cfg.mails {
			t.Fatalf("bare fetch: %d mails, want %d", n, cfg.mails)
		}
		t.Logf("bare UID FETCH 1:* BODY.PEEK[]: %d mails, %d bytes in %s", n, size, bares[len(bares)-1])
	}
	res.bare = percentile(bares, 50)
	c.Close()

	sink := startPostfixSink(t)
	g := newLoadGateway(t, dbURL, "auto_reply_window: 1h\n"+emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"))
	start := time.Now()
	g.start()
	var rss int64
	deadline := time.Now().Add(30 * time.Minute)
	for {
		rss = max(rss, peakRSS(g.pid()))
		if g.cursorUID("support-email", "INBOX") >= int64(cfg.mails) && g.stats().Messages >= int64(cfg.mails) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("first sync: not done after 30 minutes (%d stored)", g.stats().Messages)
		}
		time.Sleep(200 * time.Millisecond)
	}
	res.gateway = time.Since(start)
	res.rss = max(rss, peakRSS(g.pid()))
	var err error
	if res.sync, err = syncSpan(g.logs.String(), cfg.mails); err != nil {
		t.Fatal(err)
	}
	t.Logf("first sync: %d mails in %s (from the gateway's start until they were stored: %s), peak RSS %d MB", cfg.mails, res.sync, res.gateway, res.rss>>20)
	g.stop()

	got := g.storedIDs()
	for i := range cfg.mails {
		if got[loadMailID(i)] != 1 {
			t.Errorf("mail %s stored %d times, want once", loadMailID(i), got[loadMailID(i)])
		}
	}
	st := g.stats()
	if st.Messages != int64(cfg.mails) || st.Tickets != 0 || st.Outbound[message.StateQueued]+st.Outbound[message.StateSent] != 0 {
		t.Errorf("after the first sync: %d messages, %d tickets, outbound %v; want %d, none, none (old mail is history)", st.Messages, st.Tickets, st.Outbound, cfg.mails)
	}
	return res
}

func (r *loadReport) syncRows(b *strings.Builder) {
	for _, s := range []struct {
		name string
		r    syncResult
	}{{"SQLite", r.liteSync}, {"PostgreSQL", r.pgSync}} {
		fmt.Fprintf(b, "| IMAP first sync, %d mails (%d MB) from Dovecot to stored messages, %s | %s (%s from the gateway's start), peak RSS %d MB | go-imap `UID FETCH 1:* BODY.PEEK[]`, median of 3: %s | %.1f× slower |\n",
			s.r.mails, s.r.bytes>>20, s.name, ms(s.r.sync), ms(s.r.gateway), s.r.rss>>20, ms(s.r.bare), s.r.sync.Seconds()/max(s.r.bare.Seconds(), 1e-9))
	}
}

func ratio(a, b float64) string {
	if b == 0 || a == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func (r *loadReport) markdown(cfg loadConfig) string {
	var b strings.Builder
	host, _ := os.Hostname()
	pgv, _ := exec.Command("sh", "-c", "ls /usr/lib/postgresql").Output()
	fmt.Fprintf(&b, "Load benchmark, %s, %d cores (%s, Go %s, PostgreSQL %s, durable settings), load average %s at the start, %s at the end, %s in all.\n\n",
		r.started.UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), host, runtime.Version(), strings.TrimSpace(string(pgv)), r.loadStart, r.loadEnd, r.finished.Sub(r.started).Round(time.Second))
	b.WriteString("| measure | Wasl now | bare baseline, same run | ratio |\n| --- | --- | --- | --- |\n")
	if r.syncOnly {
		r.syncRows(&b)
		fmt.Fprintf(&b, "\nSizes: %d mails of %d bytes.\n", cfg.mails, cfg.mailSize)
		return b.String()
	}
	for _, clients := range []int{8, 32} {
		w := r.pg.closed[clients]
		fmt.Fprintf(&b, "| signed SMS webhooks → 200, PostgreSQL, %d clients (%d msgs%s) | %.0f msg/s, ack p50 %s, p99 %s; active backends on average: %s | pgbench, the gateway's own %d-statement transaction: %.0f tx/s; the floor (message + outbox row): %.0f tx/s | %s of the transaction, %s of the floor |\n",
			clients, w.count, w.spoolNote(), w.perSecond(), ms(w.p50), ms(w.p99), w.waits, r.statements, r.pgFull[clients], r.pgFloor[clients],
			ratio(w.perSecond(), r.pgFull[clients]), ratio(w.perSecond(), r.pgFloor[clients]))
	}
	fmt.Fprintf(&b, "| same, fixed rate at half the peak, PostgreSQL | %.0f msg/s offered: ack p50 %s, p99 %s; reply at the stand-in p50 %s, p99 %s after the 200 | | |\n",
		r.pg.half.rate, ms(r.pg.half.p50), ms(r.pg.half.p99), ms(r.pg.halfReplyP50), ms(r.pg.halfReplyP99))
	for _, clients := range []int{8, 32} {
		w := r.lite.closed[clients]
		fmt.Fprintf(&b, "| signed SMS webhooks → 200, SQLite, %d clients (%d msgs%s) | %.0f msg/s, ack p50 %s, p99 %s | the same transaction from Go, %d goroutines: %.0f tx/s; the floor: %.0f tx/s | %s of the transaction, %s of the floor |\n",
			clients, w.count, w.spoolNote(), w.perSecond(), ms(w.p50), ms(w.p99), clients, r.liteFull[clients], r.liteFloor[clients],
			ratio(w.perSecond(), r.liteFull[clients]), ratio(w.perSecond(), r.liteFloor[clients]))
	}
	fmt.Fprintf(&b, "| same, fixed rate at half the peak, SQLite | %.0f msg/s offered: ack p50 %s, p99 %s; reply at the stand-in p50 %s, p99 %s after the 200 | | |\n",
		r.lite.half.rate, ms(r.lite.half.p50), ms(r.lite.half.p99), ms(r.lite.halfReplyP50), ms(r.lite.halfReplyP99))
	for _, c := range []struct {
		name, rest string
		w          webhookResult
		floor      cpuUse
	}{{"PostgreSQL", "PostgreSQL and the rest", r.pg.closed[32], r.pgFloorCPU[32]}, {"SQLite", "the rest", r.lite.closed[32], r.liteFloorCPU[32]}} {
		fmt.Fprintf(&b, "| CPU a webhook, %s, 32 clients (the machine's busy time ÷ webhooks) | %s | the floor: %.2f ms of the machine a transaction | %s× the floor's |\n",
			c.name, c.w.cpu.webhookCPU(c.rest), c.floor.each(c.floor.busy), ratio(c.w.cpu.each(c.w.cpu.busy), c.floor.each(c.floor.busy)))
	}
	r.syncRows(&b)
	fmt.Fprintf(&b, "| inbound SMS (200 returned) → reply at the Twilio stand-in, 50 msg/s (%d spooled), PostgreSQL | p50 %s, p99 %s | no wait after the commit: one send to the stand-in %s (acks meanwhile: p50 %s, p99 %s) | — |\n",
		r.pg.ratedSpooled, ms(r.pg.replyP50), ms(r.pg.replyP99), ms(r.pg.sendRTT), ms(r.pg.replyAckP50), ms(r.pg.replyAckP99))
	// When the senders kept up, no more replies are left after the burst
	// than its 32 clients had in flight, and their "drain rate" is a
	// send's latency: the rate during the burst is the one to compare with
	// ingest then.
	after, drain := fmt.Sprintf("sent at %.0f/s", r.pg.drain), ratio(r.pg.drain, r.pg.burst.perSecond())+" (drain / ingest)"
	if r.pg.backlog <= 32 {
		after = fmt.Sprintf("the last %s after it", ms(r.pg.lastReply))
		if r.pg.backlog == 0 {
			after = "none"
		}
		drain = "no backlog to drain (no more left than were in flight)"
	}
	fmt.Fprintf(&b, "| replies to a burst of %d webhooks (32 clients, %d spooled), PostgreSQL | %.0f replies/s while it came in; %d of %d still to send when it ended, %s | ingest rate of the burst: %.0f msg/s | %s (replies during / ingest), %s |\n",
		r.pg.burst.count, r.pg.burst.spooled, r.pg.repliesDuring, r.pg.backlog, r.pg.burstReplies, after, r.pg.burst.perSecond(),
		ratio(r.pg.repliesDuring, r.pg.burst.perSecond()), drain)
	fmt.Fprintf(&b, "\nSizes: %d webhooks per closed-loop run, %d per fixed-rate run, %d in the burst, %d mails of %d bytes, baselines %s each.\n",
		cfg.messages, cfg.rated, cfg.burst, cfg.mails, cfg.mailSize, cfg.baseline)
	b.WriteString(r.cpuBound())
	return b.String()
}

// cpuBound says what the webhook targets (0.5 of PostgreSQL's floor, 0.8
// of SQLite's) would take of the machine at this run's CPU a webhook:
// the harness shares the cores, and its part alone bounds the rate.
func (r *loadReport) cpuBound() string {
	var b strings.Builder
	cores := float64(runtime.NumCPU())
	for _, c := range []struct {
		name   string
		share  float64
		floor  float64
		cpu    cpuUse
		dbPart bool // PostgreSQL runs outside the gateway
	}{{"PostgreSQL", 0.5, r.pgFloor[32], r.pg.closed[32].cpu, true}, {"SQLite", 0.8, r.liteFloor[32], r.lite.closed[32].cpu, false}} {
		if c.cpu.n == 0 || c.floor == 0 {
			continue
		}
		rate := c.share * c.floor
		harness, gateway := rate*c.cpu.each(c.cpu.harness)/1000, rate*c.cpu.each(c.cpu.gateway)/1000
		fmt.Fprintf(&b, "\nAt %.1f of the %s floor (%.0f msg/s), this run's CPU a webhook would take %.1f cores for the harness and %.1f for the gateway",
			c.share, c.name, rate, harness, gateway)
		if c.dbPart {
			fmt.Fprintf(&b, ", %.1f for PostgreSQL and the rest", rate*c.cpu.each(c.cpu.rest())/1000)
		}
		fmt.Fprintf(&b, ", against the machine's %.0f.\n", cores)
	}
	return b.String()
}

// syncSpan is a first sync of total mails as the gateway logged it: from
// its start, after EXAMINE (the bare fetch starts after SELECT), to the
// commit of its last batch. It leaves out what does not grow with the
// mailbox: the process's start, its migrations and the classifier's
// training (about a second), and the test's 200 ms poll.
func syncSpan(logs string, total int) (time.Duration, error) {
	var start, end time.Time
	for _, line := range strings.Split(logs, "\n") {
		var l struct {
			Time        time.Time `json:"time"`
			Msg         string    `json:"msg"`
			Done, Total int
		}
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		switch {
		case l.Msg == "imap first sync: ingesting the whole mailbox" && start.IsZero():
			start = l.Time
		case l.Msg == "imap sync" && l.Done == total && l.Total == total:
			end = l.Time
		}
	}
	if start.IsZero() || end.IsZero() {
		return 0, fmt.Errorf("first sync: the gateway's log has no start or no end of a sync of %d mails", total)
	}
	return end.Sub(start), nil
}
