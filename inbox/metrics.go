package inbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// StatsSource is what /metrics reads: row counts, taken at scrape time.
type StatsSource interface {
	Stats(ctx context.Context) (store.Stats, error)
}

// channelStatusSource is a store that also reports each channel's sending
// (the real one does; a source without it exports no channel metrics).
type channelStatusSource interface {
	ChannelSendStatuses(ctx context.Context) ([]store.ChannelSendStatus, error)
}

// statsTimeout bounds one scrape's database query. Collect gets no request
// context, so this is what stops a stuck database from piling up scrapes;
// it stays under Prometheus's default 10s scrape timeout.
const statsTimeout = 5 * time.Second

// NewMetrics serves Prometheus metrics: Wasl's row counts (computed from the
// store on every scrape, so they are right after a restart and across
// replicas sharing one database) and the Go runtime and process metrics.
// Everything lives on a registry of its own, never the global one, so two
// gateways in one process (tests, the demo) do not collide.
//
// The handler does no authentication: the counts reveal volumes, not
// content. A loopback deployment can leave it open; anything listening
// wider should have Prometheus scrape it on an internal network, or have the
// reverse proxy refuse /metrics from outside.
//
// When the store cannot be read the scrape fails with 500 (and the error is
// logged), so Prometheus marks the target down instead of graphing stale or
// missing counts as if all were well.
//
// extra are more collectors to serve beside the store's counts (the forms'
// submissions).
func NewMetrics(st StatsSource, log *slog.Logger, extra ...prometheus.Collector) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		newStatsCollector(st, log),
	)
	reg.MustRegister(extra...)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:      promLogger{log},
		ErrorHandling: promhttp.HTTPErrorOnError,
		// A scrape is one database query: a few at once is plenty.
		MaxRequestsInFlight: 4,
	})
}

// statsCollector turns one store.Stats into metrics.
type statsCollector struct {
	st  StatsSource
	log *slog.Logger

	messages      *prometheus.Desc
	quarantined   *prometheus.Desc
	conversations *prometheus.Desc
	contacts      *prometheus.Desc
	tickets       *prometheus.Desc
	outbound      *prometheus.Desc
	sendFailing   *prometheus.Desc
	sendErrorAt   *prometheus.Desc
	lastSentAt    *prometheus.Desc
}

func newStatsCollector(st StatsSource, log *slog.Logger) *statsCollector {
	return &statsCollector{
		st:  st,
		log: log,
		// A counter: messages are never deleted (bad ones are quarantined,
		// not dropped), so rate() gives the ingest rate.
		messages:      prometheus.NewDesc("wasl_messages_total", "Inbound messages stored, quarantined ones included.", nil, nil),
		quarantined:   prometheus.NewDesc("wasl_messages_quarantined", "Stored messages that are quarantined (unparseable, oversized, ...).", nil, nil),
		conversations: prometheus.NewDesc("wasl_conversations", "Conversations, open and closed.", nil, nil),
		contacts:      prometheus.NewDesc("wasl_contacts", "Known contacts.", nil, nil),
		tickets:       prometheus.NewDesc("wasl_tickets", "Tickets by status.", []string{"status"}, nil),
		outbound:      prometheus.NewDesc("wasl_outbound", "Outbound replies by delivery state.", []string{"state"}, nil),
		// The channel's status for sending: a refused login or a broken
		// connection keeps replies queued for their retries; alert on this.
		sendFailing: prometheus.NewDesc("wasl_channel_send_failing",
			"1 when the channel's latest send attempt failed and its reply waits for a retry (login refused, connection or TLS failure), else 0.", []string{"channel", "kind"}, nil),
		sendErrorAt: prometheus.NewDesc("wasl_channel_send_error_timestamp_seconds",
			"When the failing channel's latest send attempt failed (only while it is failing).", []string{"channel", "kind"}, nil),
		lastSentAt: prometheus.NewDesc("wasl_channel_last_sent_timestamp_seconds",
			"When a reply last left through the channel.", []string{"channel", "kind"}, nil),
	}
}

func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
}

func (c *statsCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.messages, c.quarantined, c.conversations, c.contacts, c.tickets, c.outbound, c.sendFailing, c.sendErrorAt, c.lastSentAt}
}

// errStats is what a scraper sees; the real error, which may name the
// database, goes to the log only.
var errStats = errors.New("wasl: reading counts from the store failed (see the gateway's log)")

func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), statsTimeout)
	defer cancel()
	s, err := c.st.Stats(ctx)
	if err != nil {
		c.log.ErrorContext(ctx, "metrics: store stats", "err", err)
		for _, d := range c.descs() {
			ch <- prometheus.NewInvalidMetric(d, errStats)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(c.messages, prometheus.CounterValue, float64(s.Messages))
	ch <- prometheus.MustNewConstMetric(c.quarantined, prometheus.GaugeValue, float64(s.Quarantined))
	ch <- prometheus.MustNewConstMetric(c.conversations, prometheus.GaugeValue, float64(s.Conversations))
	ch <- prometheus.MustNewConstMetric(c.contacts, prometheus.GaugeValue, float64(s.Contacts))

	// Every known status and state is exported, zero included, so a series
	// exists before its first row and alerts on it need no absent().
	byStatus := map[string]int64{}
	for _, st := range tickets.Statuses() {
		byStatus[string(st)] = 0
	}
	for k, v := range s.TicketsByStatus {
		byStatus[k] = v
	}
	for _, k := range sortedKeys(byStatus) {
		ch <- prometheus.MustNewConstMetric(c.tickets, prometheus.GaugeValue, float64(byStatus[k]), k)
	}
	byState := map[string]int64{}
	for _, st := range []message.DeliveryState{message.StateQueued, message.StateSending, message.StateSent,
		message.StateDelivered, message.StateUndelivered, message.StateFailed} {
		byState[string(st)] = 0
	}
	for k, v := range s.Outbound {
		byState[string(k)] = v
	}
	for _, k := range sortedKeys(byState) {
		ch <- prometheus.MustNewConstMetric(c.outbound, prometheus.GaugeValue, float64(byState[k]), k)
	}
	cs, ok := c.st.(channelStatusSource)
	if !ok {
		return
	}
	channels, err := cs.ChannelSendStatuses(ctx)
	if err != nil {
		c.log.ErrorContext(ctx, "metrics: channel send status", "err", err)
		for _, d := range []*prometheus.Desc{c.sendFailing, c.sendErrorAt, c.lastSentAt} {
			ch <- prometheus.NewInvalidMetric(d, errStats)
		}
		return
	}
	for _, cs := range channels {
		failing := 0.0
		if cs.Failing {
			failing = 1
			ch <- prometheus.MustNewConstMetric(c.sendErrorAt, prometheus.GaugeValue, float64(cs.ErrorAt.Unix()), cs.Name, string(cs.Kind))
		}
		ch <- prometheus.MustNewConstMetric(c.sendFailing, prometheus.GaugeValue, failing, cs.Name, string(cs.Kind))
		if !cs.LastSentAt.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.lastSentAt, prometheus.GaugeValue, float64(cs.LastSentAt.Unix()), cs.Name, string(cs.Kind))
		}
	}
}

func sortedKeys(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// promLogger adapts slog to promhttp's error logger.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("metrics: serving scrape", "err", strings.TrimSpace(fmt.Sprintln(v...)))
}
