package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/store"
)

// url is the gateway's own base URL.
func (g *gateway) url() string { return "http://" + g.addr }

// replicaName is the name the gateway's data directory gave its replica.
func (g *gateway) replicaName() string {
	g.t.Helper()
	b, err := os.ReadFile(filepath.Join(g.dir, "data", "replica"))
	if err != nil {
		g.t.Fatalf("replica name: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// channelLease is the name of the lease of the channel called name.
func (g *gateway) channelLease(name string) string {
	g.t.Helper()
	ch, err := g.store().ChannelByName(context.Background(), name)
	if err != nil {
		g.t.Fatal(err)
	}
	return fmt.Sprintf("channel:%d", ch.ID)
}

// leaseHeld returns the live lease called name, if any.
func (g *gateway) leaseHeld(name string) (store.Lease, bool) {
	g.t.Helper()
	ls, err := g.store().Leases(context.Background())
	if err != nil {
		g.t.Fatal(err)
	}
	for _, l := range ls {
		// The test and the database share this machine's clock.
		if l.Name == name && l.ExpiresAt.After(time.Now()) {
			return l, true
		}
	}
	return store.Lease{}, false
}

// processName is the name the gateway's last process gave itself (River's
// client id), from its "wasl serving" line.
func (g *gateway) processName() string {
	g.t.Helper()
	var name string
	eventually(g.t, 10*time.Second, "the gateway's serving line", func() (bool, string) {
		for _, line := range strings.Split(g.logs.String(), "\n") {
			var l struct {
				Msg     string `json:"msg"`
				Process string `json:"process"`
			}
			if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "wasl serving" {
				name = l.Process
			}
		}
		return name != "", "not logged yet"
	})
	return name
}

// riverLeader is the client River's election made leader, "" for none.
func (g *gateway) riverLeader() string {
	g.t.Helper()
	var id string
	err := g.store().DB().QueryRow(`SELECT leader_id FROM river_leader WHERE expires_at > now()`).Scan(&id)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		g.t.Fatal(err)
	}
	return id
}

// waitHolder waits up to d until the replica called replica holds lease.
func waitHolder(t *testing.T, g *gateway, d time.Duration, lease, replica string) {
	t.Helper()
	eventually(t, d, lease+" held by "+replica, func() (bool, string) {
		l, ok := g.leaseHeld(lease)
		return ok && l.Replica == replica, fmt.Sprintf("%+v (live %v)", l, ok)
	})
}

// TestReplicasShareOnePostgres runs two gateways on one PostgreSQL database
// behind one public URL, as behind a load balancer. Mail keeps arriving in
// the one mailbox while signed SMS and Twilio WhatsApp webhooks alternate
// between the replicas. The replica that holds the mailbox is killed with
// SIGKILL while mail is waiting for it; the other takes the mailbox over
// within 10 s (its lease expires; nothing released it) and the sync goes
// on from the stored cursor; River's leadership (its maintenance, the
// periodic jobs) moves from a to b once a's term runs out. In the end:
// every mail and every webhook stored once, ticket numbers without gaps,
// every reply sent once (email replies cut by the kill resent with their
// Message-ID).
func TestReplicasShareOnePostgres(t *testing.T) {
	t.Parallel()
	const tag, sendWorkers = "replica", 4
	dbURL := pgtest.URL(t)
	dc := dovecot.Start(t)
	raws, mails := faultMails(tag, 0, 300)
	dc.SeedMaildir(t, "INBOX", raws)
	sink := startPostfixSink(t)
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	const public = "http://wasl-lb.test" // what Twilio calls and signs
	channels := faultChannelsYAML(emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"), fake.URL())
	a := newGatewayWith(t, dbURL, "  public_url: "+public+"\n", channels)
	b := newGatewayWith(t, dbURL, "  public_url: "+public+"\n", channels)
	// The re-sends after the kill are counted against the sends it can cut.
	for _, g := range []*gateway{a, b} {
		setJobsOption(t, g, "workers", strconv.Itoa(sendWorkers))
	}

	// a alone first, so that it is a that holds the mailbox and leads
	// River (its maintenance and periodic jobs).
	a.start()
	mailbox := a.channelLease("support-email")
	waitHolder(t, a, 10*time.Second, mailbox, a.replicaName())
	aProc := a.processName()
	eventually(t, 10*time.Second, "a leads River", func() (bool, string) {
		l := a.riverLeader()
		return l == aProc, "leader " + l
	})
	b.start()
	bProc := b.processName()
	if a.replicaName() == b.replicaName() || aProc == bProc {
		t.Fatalf("both replicas are called %q (process %q)", a.replicaName(), aProc)
	}
	feed := startMailFeeder(t, dc, tag, len(mails), 100*time.Millisecond)

	// Webhooks alternate between the replicas.
	hooks := newTwilioWebhooks(t, fake, public)
	var turn atomic.Int64
	both := func() string {
		if turn.Add(1)%2 == 0 {
			return a.url()
		}
		return b.url()
	}
	for range 40 {
		hooks.post(both, false)
	}
	// Their replies are out before the kill: a send cut by SIGKILL between
	// Twilio's answer and our record of it would be sent again, which is
	// the crash test's business, not this one's.
	eventually(t, 60*time.Second, "SMS and WhatsApp replies sent", func() (bool, string) {
		var pending int64
		err := a.store().DB().QueryRow(`SELECT COUNT(*) FROM outbound_messages o JOIN channels c ON c.id = o.channel_id
			WHERE c.kind = 'sms' AND o.state IN ('queued', 'sending')`).Scan(&pending)
		return err == nil && pending == 0, fmt.Sprintf("pending %d (%v)", pending, err)
	})
	if l, _ := a.leaseHeld(mailbox); l.Replica != a.replicaName() {
		t.Fatalf("the mailbox moved to %q before the kill", l.Replica)
	}

	// Mail a has not stored yet: a burst, then at once the kill. What a
	// stored is counted after the kill, so that it is what a committed (b
	// holds no lease yet to store any).
	bLogBefore := b.logs.String()
	if !feed.burst(30) {
		t.FailNow()
	}
	killed := time.Now()
	a.kill9()
	stored := emailStored(t, a)
	offered := len(mails) + feed.count()
	if stored >= offered {
		t.Fatalf("the kill found no mail waiting (%d of %d stored): it proves nothing", stored, offered)
	}
	t.Logf("kill -9 of %s with %d of %d mails stored", a.replicaName(), stored, offered)
	for _, line := range strings.Split(bLogBefore, "\n") {
		if strings.Contains(line, "lease acquired") && strings.Contains(line, `"lease":"`+mailbox+`"`) {
			t.Errorf("b took the mailbox while a held it: %s", line)
		}
	}

	// b takes the mailbox over; its sync goes on from a's cursor.
	waitHolder(t, b, 10*time.Second-time.Since(killed), mailbox, b.replicaName())
	t.Logf("mailbox taken over %.1fs after the kill", time.Since(killed).Seconds())
	after := feed.count()
	for range 40 {
		hooks.post(b.url, false)
	}
	// River's leadership moves too, when a's term ends (15 s unrenewed),
	// so the jobs only a leader runs go on, on b.
	eventually(t, 30*time.Second, "b leads River", func() (bool, string) {
		l := b.riverLeader()
		return l == bProc, "leader " + l
	})
	t.Logf("River's leadership taken over %.1fs after the kill", time.Since(killed).Seconds())
	// Some mail arrives after the takeover, then the feed stops: b must
	// store the backlog and the new mail.
	mails = append(mails, feed.haltAfter(after, 5, "the takeover")...)
	want := append(mails, hooks.answered()...)
	if len(want) != len(mails)+80 {
		t.Fatalf("%d webhooks answered 200, want 80", len(want)-len(mails))
	}

	// A bound against a hang, not a speed test.
	b.waitSettled(5*time.Minute, want)
	b.stop()
	resent := checkOnce(t, b, want, sink, fake)
	// Only email sends can have been in flight at the kill, at most one
	// per send worker (4).
	if resent > sendWorkers {
		t.Errorf("%d replies sent twice; at most %d sends were in flight at the kill", resent, sendWorkers)
	}
	t.Logf("%d mails and 80 webhooks stored once; %d replies re-sent after the kill (same Message-ID)", len(mails), resent)
}

// emailStored counts the stored mails.
func emailStored(t *testing.T, g *gateway) int {
	t.Helper()
	var n int
	err := g.store().DB().QueryRow(`SELECT COUNT(*) FROM messages m JOIN channels c ON c.id = m.channel_id WHERE c.kind = 'email'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
