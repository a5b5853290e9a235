package e2e

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// TestLoadExactlyOnce is the load benchmark's exactly-once check on a small
// load, so that a regression fails make test: on both stores, 60 mails in
// the mailbox before the gateway starts and 30 more arriving while 150
// signed SMS webhooks come from 8 clients at once. Afterwards every
// message is stored once, the tickets are numbered without gaps and every
// reply reached the SMTP server or the Twilio stand-in exactly once.
// Nothing is timed.
func TestLoadExactlyOnce(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			raws, mails := faultMails("load", 0, 60)
			dc.SeedMaildir(t, "INBOX", raws)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			rc := newReplyClock(fake)
			channels := emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all") +
				fmt.Sprintf("  - name: sms\n    kind: sms\n    twilio: {account_sid: %s, auth_token: %s, from: %q, api_url: %q}\n",
					twilioAccount, twilioToken, smsNumber, rc.URL())
			g := newGateway(t, be.url(t), channels)
			began := time.Now()
			g.start()
			t.Logf("gateway ready after %s", time.Since(began).Round(time.Millisecond))

			l := newSMSLoad(t, fake, g, 1)
			var wg sync.WaitGroup
			wg.Go(func() { l.closed(8, 150) })
			feed := startMailFeeder(t, dc, "load", len(mails), 20*time.Millisecond)
			wg.Wait()
			eventually(t, 30*time.Second, "30 mails appended while the webhooks came", func() (bool, string) {
				return feed.count() >= 30, fmt.Sprintf("%d appended", feed.count())
			})
			mails = append(mails, feed.halt()...)
			want := append(mails, l.acked()...)
			if t.Failed() {
				t.FailNow()
			}
			t.Logf("load sent after %s", time.Since(began).Round(time.Millisecond))
			g.waitSettled(2*time.Minute, want)
			t.Logf("settled after %s", time.Since(began).Round(time.Millisecond))
			verifyExactlyOnce(t, g, want, sink, fake, rc)
		})
	}
}
