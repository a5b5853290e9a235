package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/channels/whatsapp"
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/forms"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"

	"go.mau.fi/whatsmeow/store/sqlstore"
)

// app is one running gateway: the store, the pipeline, the job runner, the
// channel connectors and the HTTP server, wired from a config.
type app struct {
	cfg   *config.Config
	log   *slog.Logger
	store *store.Store
	bank  *replies.Bank
	model *classify.Model
	jobs  *river.Client[*sql.Tx]
	// waker wakes River's producers when a transaction that inserted a
	// job commits; inserter is the client's InsertTx that does so
	// (jobwake.go).
	waker    *jobWaker
	inserter *wakingInserter
	pipeline *router.Pipeline
	// webhooks' inbound messages go through group commit (coalesced).
	coalesced *router.Coalescer
	registry  *registry
	mux       *inbox.Mux
	auth      *inbox.Auth
	svc       *inbox.Service // the inbox's staff actions, once mounted
	operator  *inbox.Operator
	surveys   *tickets.SurveyLinks
	// sources run for as long as serve does (the live-update hub).
	sources []runner
	// process names this process among the replicas; River's client id.
	process string
	// supervisor runs the connectors one replica at a time runs (IMAP,
	// WhatsApp's linked device), each under its lease; set by serve.
	supervisor *supervisor
	// homeQueues routes the jobs of channels only their lease holder can
	// do to their own queue (homequeue.go).
	homeQueues *homeQueues
	// fileChannels are the config file's channels, built by newApp and
	// started by serve; channels added in the UI come and go with their
	// rows (live).
	fileChannels []*connector
	live         *liveChannels
	// key encrypts the credentials of channels added in the UI; nil when
	// none is configured (they are then refused).
	key *secrets.Key

	waOnce    waOnce
	waDevices *sqlstore.Container
	// newWhatsAppClient, when set (tests), makes WhatsApp channels' clients
	// instead of whatsmeow.
	newWhatsAppClient func() whatsapp.Client

	// httpClient overrides the Twilio REST client's transport (the demo
	// points it at the local fake).
	twilioHTTP *http.Client

	metrics      http.Handler
	formsCounter *prometheus.CounterVec // the forms' submissions (intake.go)
	webhooks     *webhookLimit
	// stopping ends when shutdown begins; streaming routes end with it.
	stopping   context.Context
	endStreams context.CancelFunc
}

// runner is a connector that runs until its context ends.
type runner interface {
	Run(ctx context.Context) error
}

// leasedRunner is a connector and the lease it runs under.
type leasedRunner struct {
	lease string
	r     runner
}

// registry maps channel ids to what the router needs of each channel: its
// sender and media fetcher (the workers), its reply limits and Message-IDs
// (the pipeline's Channels).
type registry struct {
	mu         sync.RWMutex
	conns      map[int64]*connector
	senders    map[int64]channels.Sender
	fetchers   map[int64]router.MediaFetcher
	shapers    map[int64]router.ReplyShaper
	messageIDs map[int64]func() string
	routes     map[string]smsRoutes // Twilio webhooks, by channel name
	whatsapp   map[string]*whatsapp.Channel
}

func newRegistry() *registry {
	return &registry{conns: map[int64]*connector{}, senders: map[int64]channels.Sender{}, fetchers: map[int64]router.MediaFetcher{},
		shapers: map[int64]router.ReplyShaper{}, messageIDs: map[int64]func() string{},
		routes: map[string]smsRoutes{}, whatsapp: map[string]*whatsapp.Channel{}}
}

func (r *registry) Sender(id int64) (channels.Sender, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.senders[id]
	return s, ok
}

func (r *registry) Fetcher(id int64) (router.MediaFetcher, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	f, ok := r.fetchers[id]
	return f, ok
}

func (r *registry) Shaper(id int64) (router.ReplyShaper, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s, ok := r.shapers[id]
	return s, ok
}

func (r *registry) NewMessageID(id int64) string {
	r.mu.RLock()
	f := r.messageIDs[id]
	r.mu.RUnlock()
	if f == nil {
		return ""
	}
	return f()
}

// loadBankAndModel reads the knowledge bank and trains the classifier on it.
func loadBankAndModel(path string) (*replies.Bank, *classify.Model, error) {
	bank, err := replies.LoadBank(path)
	if err != nil {
		return nil, nil, err
	}
	model, err := classify.Train(router.ClassifierConfig(bank))
	if err != nil {
		return nil, nil, fmt.Errorf("train classifier on %s: %w", path, err)
	}
	return bank, model, nil
}

// maxCoalesced bounds the webhooks one transaction takes in: enough for
// every slot of the webhook limit, small enough that a batch that fails
// and is retried one message at a time stays short.
const maxCoalesced = 64

// fetchCooldown is the least time between two fetches of one queue: the
// most a wake-up waits behind the previous one. Below one commit per 25 ms
// every wake-up fetches at once; above, each fetch takes the jobs of
// several commits, and the sends that start together share a claim. In
// the load harness, 25 ms against 5 ms: the machine's CPU a webhook
// 5–21 % lower on PostgreSQL and webhooks 3–28 % faster at 32 clients
// (three alternating pairs), SQLite 10–34 % faster; the reply at 50 msg/s
// waits p50 17 ms instead of 2 ms, p99 28–33 instead of 6–7.
const fetchCooldown = 25 * time.Millisecond

// defaultSendWorkers is how many sends run at once unless jobs.workers
// says: enough that sends keep up with ingest. Each waits mostly on the
// channel and on commits, and the sends that start or end together share
// one claim and one outcome write, so more workers make fewer writes a
// reply, on SQLite's one writer too: there 8 left the replies of the load
// harness's run at half the peak p50 0.4–1.1 s behind their webhooks (a
// backlog), 16 took them to 21–170 ms, with ingest within its noise; 32
// gained nothing more.
const defaultSendWorkers = 16

// newApp opens the store (migrating it), trains the classifier and builds
// every configured channel. Nothing runs until start.
func newApp(ctx context.Context, cfg *config.Config, log *slog.Logger, twilioHTTP *http.Client) (*app, error) {
	a := &app{cfg: cfg, log: log, twilioHTTP: twilioHTTP, registry: newRegistry(), process: newProcessID(), homeQueues: newHomeQueues()}
	var err error
	if a.key, err = secretKey(cfg); err != nil {
		return nil, err
	}
	// The classifier trains while the store opens and migrates: each
	// takes about a third of a second on a new PostgreSQL database, and a
	// replica that starts sooner takes over a channel sooner.
	type trained struct {
		bank  *replies.Bank
		model *classify.Model
		err   error
		took  time.Duration
	}
	training := make(chan trained, 1)
	go func() {
		start := time.Now()
		bank, model, err := loadBankAndModel(cfg.Resolve(cfg.KnowledgeBank))
		// Training's scratch is garbage now: hand it back to the system
		// rather than keep it resident (after a 10-mail first sync:
		// 104-107 MB resident before, 84-87 MB after).
		debug.FreeOSMemory()
		training <- trained{bank, model, err, time.Since(start)}
	}()
	if a.store, err = store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, log); err != nil {
		<-training
		return nil, err
	}
	if err := a.store.Migrate(ctx); err != nil {
		<-training
		a.store.Close()
		return nil, err
	}
	tr := <-training
	if tr.err != nil {
		a.store.Close()
		return nil, tr.err
	}
	a.bank, a.model = withForms(cfg, tr.bank), tr.model
	log.Info("knowledge bank loaded", "topics", len(a.bank.Topics()), "train_time", tr.took.Round(time.Millisecond).String())

	workers := river.NewWorkers()
	river.AddWorker(workers, &router.SendWorker{Store: a.store, Senders: a.registry, SendTimeout: cfg.Jobs.SendTimeout.D(time.Minute), Log: log})
	river.AddWorker(workers, &router.MediaWorker{Store: a.store, Fetchers: a.registry})
	river.AddWorker(workers, &inbox.WakeWorker{Store: a.store})
	tw := a.ticketWorkers(workers)
	n := cfg.Jobs.Workers
	if n <= 0 {
		n = defaultSendWorkers
	}
	a.waker = newJobWaker(a.store.RiverDriver())
	a.jobs, err = river.NewClient(a.waker, &river.Config{
		// Unique among the replicas: it names the leader River elects
		// to run its maintenance and periodic jobs (see ARCHITECTURE.md).
		ID: a.process,
		Queues: map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: 1},
			router.QueueSend:   {MaxWorkers: n},
			router.QueueMedia:  {MaxWorkers: 2},
		},
		Workers:    workers,
		Middleware: []rivertype.Middleware{a.homeQueues},
		Logger:     log.With("component", "river"),
		// Jobs inserted here are fetched on their commit (jobWaker); the
		// poll finds those of other replicas and retries. The cooldown
		// coalesces the wake-ups of a burst into one fetch per queue.
		FetchPollInterval:    cfg.Jobs.PollInterval.D(250 * time.Millisecond),
		FetchCooldown:        fetchCooldown,
		RescueStuckJobsAfter: cfg.Jobs.RescueAfter.D(5 * time.Minute),
		JobTimeout:           cfg.Jobs.SendTimeout.D(time.Minute),
		// riverdatabasesql has no LISTEN/NOTIFY; SQLite has none at all.
		PollOnly: true,
		// Run by the elected leader only; their effects are idempotent in
		// the store besides (tickets.PeriodicJobs).
		PeriodicJobs: tw.periodic,
	})
	if err != nil {
		a.store.Close()
		return nil, fmt.Errorf("job runner: %w", err)
	}
	a.inserter = &wakingInserter{jobs: a.jobs, store: a.store, waker: a.waker, wakeUp: context.WithoutCancel(ctx)}
	tw.setJobs(a.inserter)
	// Survey links, signed with the key every replica shares: closing
	// messages (the inbox) and automatic answers (the pipeline) carry them.
	signer, err := surveySigner(a.key, cfg.Resolve(cfg.Tickets.Survey.KeyFile), cfg.DataDir)
	if err != nil {
		a.store.Close()
		return nil, err
	}
	a.surveys = &tickets.SurveyLinks{Signer: signer, BaseURL: cfg.HTTP.PublicURL, ValidFor: cfg.Tickets.Survey.ValidFor.D(14 * 24 * time.Hour)}
	a.pipeline = router.New(a.store, a.model, a.bank, a.inserter, a.registry, router.Config{
		TicketPrefix:       cfg.TicketPrefix,
		AutoReplyWindow:    cfg.AutoReplyWindow.D(24 * time.Hour),
		AutoReplyCap:       cfg.AutoReplyCap.Max,
		AutoReplyCapPeriod: time.Duration(cfg.AutoReplyCap.Within),
		ConversationWindow: cfg.ConversationWindow.D(7 * 24 * time.Hour),
		ReopenWindow:       cfg.Tickets.ReopenWindow.D(7 * 24 * time.Hour),
		InboxURL:           cfg.HTTP.PublicURL,
		Surveys:            a.surveys,
		AutomaticSurvey:    cfg.Tickets.Survey.AutomaticSurvey(),
	}, log)
	// SQLite serializes its writers: a second transaction under way would
	// only wait for the first.
	parallel := 2
	if a.store.Dialect() == store.SQLite {
		parallel = 1
	}
	a.coalesced = router.NewCoalescer(a.pipeline, maxCoalesced, parallel, log)

	if err := a.newHTTP(); err != nil {
		a.store.Close()
		return nil, err
	}
	if err := a.mountInbox(); err != nil {
		a.store.Close()
		return nil, err
	}
	a.mux.Handle("POST /webhooks/twilio/{channel}", a.twilio(func(r smsRoutes) http.Handler { return r.inbound }))
	a.mux.Handle("POST /webhooks/twilio/{channel}/status", a.twilio(func(r smsRoutes) http.Handler { return r.status }))
	a.mux.HandleFunc("GET /api/v1/channels/{channel}/whatsapp", a.whatsappStatus)

	for _, ch := range cfg.Channels {
		if err := a.addConfigChannel(ctx, ch); err != nil {
			a.store.Close()
			return nil, fmt.Errorf("channel %q: %w", ch.Name, err)
		}
	}
	if err := a.mountIntake(ctx); err != nil {
		a.store.Close()
		return nil, err
	}
	a.live = newLiveChannels(a)
	return a, nil
}

// logAlerter tells operators through the log until the inbox has alerts.
type logAlerter struct{ log *slog.Logger }

func (l logAlerter) Alert(ctx context.Context, channelID int64, text string) {
	l.log.ErrorContext(ctx, "operator attention needed", "channel_id", channelID, "alert", text)
}

// twilio dispatches /webhooks/twilio/{channel}… to that channel's handler.
func (a *app) twilio(pick func(smsRoutes) http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		routes, ok := a.registry.twilioRoutes(r.PathValue("channel"))
		if !ok {
			http.Error(w, "unknown channel", http.StatusNotFound)
			return
		}
		pick(routes).ServeHTTP(w, r)
	})
}

func (a *app) whatsappStatus(w http.ResponseWriter, r *http.Request) {
	// Behind the same token as the API: the QR code links a device.
	if !inbox.Authorized(r, a.cfg.APIToken) {
		http.Error(w, "missing or wrong API token", http.StatusUnauthorized)
		return
	}
	c, ok := a.registry.whatsappChannel(r.PathValue("channel"))
	if !ok {
		http.Error(w, "unknown whatsapp channel", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.Status())
}

// newHTTP makes the public mux and the limits around it.
func (a *app) newHTTP() error {
	h := a.cfg.HTTP
	n := h.MaxWebhooks
	pool := a.store.DB().Stats().MaxOpenConnections
	if n == 0 {
		n = max(1, pool/2)
	} else if pool > 0 && n >= pool {
		return usageErr("http.max_webhooks (%d) must be below the database pool (%d connections), which the jobs and connectors share", n, pool)
	}
	var err error
	if a.mux, err = inbox.NewMux(h.PublicURL); err != nil {
		return err
	}
	a.formsCounter = forms.NewCounter()
	a.metrics = inbox.NewMetrics(a.store, a.log, a.formsCounter)
	a.webhooks = newWebhookLimit(n, time.Duration(h.WebhookWait), a.log)
	a.stopping, a.endStreams = context.WithCancel(context.Background())
	return nil
}

// run serves HTTP, works jobs and runs the connectors until ctx ends, then
// shuts down in order (see serve).
func (a *app) run(ctx context.Context) error {
	ls, err := a.listen()
	if err != nil {
		a.store.Close()
		return fmt.Errorf("listen: %w", err)
	}
	return a.serve(ctx, ls)
}

// serve runs until ctx ends or a part fails, then stops taking work before
// it stops doing it: the HTTP servers and the connectors first, then the
// job runner, which lets sends in flight finish for jobs.drain_timeout
// before cancelling them, then the store. A SIGTERM therefore never cuts an
// SMTP session mid-DATA, which would send the mail again after a restart.
func (a *app) serve(ctx context.Context, ls *listeners) error {
	defer a.store.Close()
	defer a.endStreams()
	rep, err := lockReplica(a.cfg.DataDir, a.process)
	if err != nil {
		ls.close()
		return err
	}
	defer rep.close()
	// Jobs get a context the signal does not cancel; stopJobs ends them.
	if err := a.jobs.Start(context.WithoutCancel(ctx)); err != nil {
		ls.close()
		return fmt.Errorf("start job runner: %w", err)
	}
	intake, stopIntake := context.WithCancel(ctx)
	defer stopIntake()

	type server struct {
		srv *http.Server
		ln  net.Listener
	}
	servers := []server{{newHTTPServer(a.cfg.HTTP, a.mux, a.log), ls.public}}
	if ls.admin != nil {
		servers = append(servers, server{newHTTPServer(a.cfg.HTTP, a.adminHandler(), a.log.With("listener", "admin")), ls.admin})
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(servers)+len(a.sources))
	for _, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("http: %w", err)
			}
		}()
	}
	for _, s := range a.sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(intake); err != nil && intake.Err() == nil {
				errc <- err
			}
		}()
	}
	a.supervisor = newSupervisor(a.store, rep.holder, defaultLeaseTiming(), a.log)
	// The channels: the file's, and the UI's as their rows come and go,
	// the leased ones under the supervisor.
	a.live.replica = rep.holder.Replica
	wg.Go(func() { a.live.run(intake, a.supervisor) })
	attrs := []any{"addr", ls.public.Addr().String(), "store", string(a.store.Dialect()), "channels", len(a.cfg.Channels),
		"replica", rep.holder.Replica, "process", a.process}
	if ls.admin != nil {
		attrs = append(attrs, "admin_addr", ls.admin.Addr().String())
	}
	a.log.Info("wasl serving", attrs...)
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}

	a.log.Info("shutting down: no new messages")
	stopIntake()
	a.endStreams()
	httpCtx, cancel := context.WithTimeout(context.Background(), httpShutdownTimeout)
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(httpCtx); err != nil {
			a.log.Warn("http requests still running at shutdown; closing their connections", "err", err)
			s.srv.Close()
		}
	}
	wg.Wait()
	a.supervisor.Wait()
	a.stopJobs()
	return runErr
}

// stopJobs lets running jobs finish within jobs.drain_timeout, then
// cancels what is left. A cancelled send records its outcome anyway
// (router.SendWorker) and is retried after the restart.
func (a *app) stopJobs() {
	drain := a.cfg.Jobs.DrainTimeout.D(30 * time.Second)
	a.log.Info("shutting down: letting sends in flight finish", "drain_timeout", drain.String())
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := a.jobs.Stop(ctx); err == nil {
		a.log.Info("job runner stopped")
		return
	}
	a.log.Warn("jobs still running after the drain timeout; cancelling them", "drain_timeout", drain.String())
	hard, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.jobs.StopAndCancel(hard); err != nil {
		a.log.Error("job runner did not stop", "err", err)
	}
}

func redactChannel(ch config.Channel) config.Channel {
	c := config.Config{Channels: []config.Channel{ch}}
	return c.Redacted().Channels[0]
}

// redirectClient sends every request for a twilio.com host to base instead
// (twilio-go has no base-URL option): a regional edge, or a stand-in for
// Twilio's API in tests.
func redirectClient(base string) (*http.Client, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", base)
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: redirectTransport{to: u}}, nil
}

type redirectTransport struct{ to *url.URL }

func (t redirectTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if h := r.URL.Hostname(); h == "twilio.com" || strings.HasSuffix(h, ".twilio.com") || strings.HasSuffix(h, ".twiliocdn.com") {
		r = r.Clone(r.Context())
		// Keep the Host header Twilio would see: a stand-in tells its API
		// from its media CDN (mms.twiliocdn.com) by it.
		r.Host = r.URL.Host
		r.URL.Scheme, r.URL.Host = t.to.Scheme, t.to.Host
	}
	return http.DefaultTransport.RoundTrip(r)
}
