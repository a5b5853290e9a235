package e2e

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

// TestCrashNothingLostNothingDoubled runs mixed ingest — a mailbox with a
// backlog and mail that keeps arriving, SMS and Twilio WhatsApp webhooks
// from two senders at once — while the gateway is killed with SIGKILL at
// random moments, ten times, on each store. Each kill lands while mail is
// waiting (a burst just appended; the test checks, after the kill, that
// it was not all stored). Twilio's webhooks that got no answer because
// the gateway was dead are posted again, as Twilio would retry them. In
// the end every mail and every webhook answered 200 is stored exactly
// once, each ticket once with gap-free numbers, each reply once, and each
// reached the SMTP server or Twilio; sends cut by a kill are re-sent
// (emails with the same Message-ID), at most one per send worker per kill.
func TestCrashNothingLostNothingDoubled(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			const tag, kills, sendWorkers = "crash", 10, 4
			dc := dovecot.Start(t)
			raws, mails := faultMails(tag, 0, 300)
			dc.SeedMaildir(t, "INBOX", raws)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), faultChannelsYAML(emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"), fake.URL()))
			// The re-sends are counted against the sends a kill can cut.
			setJobsOption(t, g, "workers", strconv.Itoa(sendWorkers))
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			t.Logf("random seed %d", seed)

			g.start()
			feed := startMailFeeder(t, dc, tag, len(mails), 100*time.Millisecond)
			hooks := newTwilioWebhooks(t, fake, "")
			ctx, stopHooks := context.WithCancel(context.Background())
			defer stopHooks()
			hooksDone := hooks.drive(ctx, 2, 20*time.Millisecond, g.url, true)

			for k := range kills {
				time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
				// Mail the gateway cannot have stored yet, then at once the
				// kill; what it had stored is counted after it, so that the
				// count is what the killed process committed (counted before,
				// a gateway quick enough stored the burst meanwhile).
				if !feed.burst(20) {
					t.FailNow()
				}
				g.kill9()
				stored := emailStored(t, g)
				offered := len(mails) + feed.count()
				st := g.stats()
				t.Logf("kill -9 #%d: mails %d of %d stored, messages %d, outbound %v", k+1, stored, offered, st.Messages, st.Outbound)
				if stored >= offered {
					t.Errorf("kill #%d found no mail waiting (%d of %d stored): it proves too little", k+1, stored, offered)
				}
				g.start()
			}
			// Mail (and meanwhile webhooks) to the last process too.
			mails = append(mails, feed.haltAfter(feed.count(), 10, "the last start")...)
			stopHooks()
			hooksDone()
			answered := hooks.answered()
			want := append(append([]string(nil), mails...), answered...)

			g.waitSettled(5*time.Minute, want) // a bound against a hang, not a speed test
			g.stop()
			st := g.stats()
			resent := checkOnce(t, g, want, sink, fake)
			if resent > kills*sendWorkers {
				t.Errorf("%d replies were re-sent after crashes; at most %d in-flight sends could have been cut", resent, kills*sendWorkers)
			}
			t.Logf("%d mails and %d webhooks (SMS and WhatsApp) stored once; %d tickets, %d replies sent, %d re-sent after a kill; %d kills",
				len(mails), len(answered), st.Tickets, st.Outbound[message.StateSent], resent, kills)
			if len(answered) == 0 {
				t.Error("no webhook was answered: the test drove no SMS or WhatsApp")
			}
		})
	}
}
