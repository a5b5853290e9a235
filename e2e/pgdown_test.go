package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/internal/pgtest"
)

// alive reports whether the gateway process started last is still running.
func (g *gateway) alive() bool {
	g.mu.Lock()
	done := g.done
	g.mu.Unlock()
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// TestPostgresDownDuringIngest stops the gateway's PostgreSQL for 10 s
// while mail arrives and SMS and Twilio WhatsApp webhooks keep coming, then
// starts it again. Every webhook must be answered 200 — Twilio does not
// retry a 5xx — and each answered one must end up stored (it was kept, or
// spooled and ingested later); the same process goes on syncing the
// mailbox (its connector stopped when it could not renew its lease, and
// started again when the database was back) and sending replies. Nothing
// lost, nothing doubled.
func TestPostgresDownDuringIngest(t *testing.T) {
	t.Parallel()
	const tag, sendWorkers = "pgdown", 4
	pg := pgtest.NewCluster(t)
	dc := dovecot.Start(t)
	raws, mails := faultMails(tag, 0, 30)
	dc.SeedMaildir(t, "INBOX", raws)
	sink := startPostfixSink(t)
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	g := newGateway(t, pg.URL(), faultChannelsYAML(emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"), fake.URL()))
	// The re-sends are counted against the sends in flight at the stop.
	setJobsOption(t, g, "workers", strconv.Itoa(sendWorkers))
	g.start()
	feed := startMailFeeder(t, dc, tag, len(mails), 200*time.Millisecond)
	hooks := newTwilioWebhooks(t, fake, "")
	ctx, stopHooks := context.WithCancel(context.Background())
	defer stopHooks()
	hooksDone := hooks.drive(ctx, 2, 100*time.Millisecond, g.url, false)

	eventually(t, 30*time.Second, "ingest under way", func() (bool, string) {
		n := emailStored(t, g)
		return n > 0 && hooks.answeredSoFar() > 0, "nothing yet"
	})
	before := g.stats()
	answeredBefore := hooks.answeredSoFar()
	pg.Stop()
	t.Logf("PostgreSQL stopped at messages=%d outbound=%v", before.Messages, before.Outbound)
	outage := time.Now()
	// The outage itself: ingest goes on meanwhile.
	time.Sleep(10 * time.Second)
	answeredDuring := hooks.answeredSoFar() - answeredBefore
	appendedDuring := feed.count()
	pg.Start()
	t.Logf("PostgreSQL started again after %.1fs", time.Since(outage).Seconds())
	if !g.alive() {
		t.Fatal("the gateway exited while its database was down")
	}
	if answeredDuring == 0 {
		t.Fatal("no webhook was answered while the database was down: the test proves nothing")
	}

	// Ingest goes on after the outage; then the mail and webhooks stop,
	// and everything they sent must be stored.
	mails = append(mails, feed.haltAfter(feed.count(), 5, "the outage")...)
	stopHooks()
	hooksDone()
	answered := hooks.answered()
	want := append(append([]string(nil), mails...), answered...)
	// A bound against a hang, not a speed test.
	g.waitSettled(5*time.Minute, want)
	t.Logf("settled %.1fs after the restart", time.Since(outage).Seconds()-10)
	if !g.alive() {
		t.Fatal("the gateway exited")
	}
	g.stop()

	resent := checkOnce(t, g, want, sink, fake)
	// A send whose "sent" could not be recorded because the database went
	// away is sent again: at most one per send worker.
	if resent > sendWorkers {
		t.Errorf("%d replies sent twice; at most %d sends were in flight when the database stopped", resent, sendWorkers)
	}
	// The mailbox's connector was stopped for want of its lease and
	// started again, in the same process.
	if n := strings.Count(g.logs.String(), "lease acquired"); n < 2 {
		t.Errorf("the mailbox lease was acquired %d times, want again after the outage", n)
	}
	t.Logf("%d mails (%d appended by the end of the outage) and %d webhooks (%d answered during it) stored once; %d replies re-sent",
		len(mails), appendedDuring, len(answered), answeredDuring, resent)
}
