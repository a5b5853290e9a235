package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/message"
)

// TestSMSSpoolWhileDatabaseDown runs the binary on a PostgreSQL cluster of
// the test's own and stops the database under it. Twilio does not retry a
// webhook answered 5xx, so every one must be answered 200 all the same: the
// gateway spools them durably and ingests them once the database is back —
// by the same process (first 50), and by a new process after the first was
// killed with SIGKILL while its spool was full (next 50). In the end: exactly
// 100 messages, no duplicate, each with its one reply.
func TestSMSSpoolWhileDatabaseDown(t *testing.T) {
	t.Parallel()
	pg := pgtest.NewCluster(t)
	fake := faketwilio.Start(t, twilioAccount, twilioToken)
	g := newGateway(t, pg.URL(), smsChannelYAML(fake.URL()))
	g.start()
	hook := "http://" + g.addr + "/webhooks/twilio/sms"
	spoolDir := filepath.Join(g.dir, "data", "spool", "twilio", "sms")

	customer := func(i int) string { return fmt.Sprintf("+9665510%05d", i) }
	var sids []string
	// post sends customers from..to-1 their SMS, four at a time as Twilio
	// would, and wants every webhook answered 200 with TwiML.
	post := func(from, to int) {
		t.Helper()
		forms := make([]url.Values, 0, to-from)
		for i := from; i < to; i++ {
			f := fake.InboundForm(faketwilio.Inbound{From: customer(i), To: smsNumber,
				Body: fmt.Sprintf("البروجكتر في القاعة %d خربان نبي صيانة", i)})
			forms = append(forms, f)
			sids = append(sids, f.Get("MessageSid"))
		}
		var wg sync.WaitGroup
		errs := make(chan string, len(forms))
		work := make(chan url.Values)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for f := range work {
					req, err := fake.WebhookRequest(hook, f)
					if err != nil {
						errs <- err.Error()
						continue
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						errs <- fmt.Sprintf("%s: %v", f.Get("MessageSid"), err)
						continue
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Response>") {
						errs <- fmt.Sprintf("%s: %s %q", f.Get("MessageSid"), resp.Status, body)
					}
				}
			}()
		}
		for _, f := range forms {
			work <- f
		}
		close(work)
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Errorf("webhook not answered 200 while the database is down: %s", e)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	spooled := func() int {
		m, _ := filepath.Glob(filepath.Join(spoolDir, "*.twilio"))
		return len(m)
	}
	waitMessages := func(n int) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("%d messages stored, spool empty", n), func() (bool, string) {
			var got int
			err := g.store().DB().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM messages`).Scan(&got)
			return err == nil && got == n && spooled() == 0, fmt.Sprintf("messages=%d (%v) spooled=%d", got, err, spooled())
		})
	}

	// 1. The database goes away under a running gateway, and comes back.
	pg.Stop()
	post(0, 50)
	if n := spooled(); n != 50 {
		t.Fatalf("spool holds %d messages, want the 50 answered", n)
	}
	pg.Start()
	waitMessages(50)
	// Their replies go out before the next outage: a database lost between
	// Twilio accepting a reply and its "sent" commit makes the retried job
	// send it again (Twilio has no idempotency key), which is not what
	// this test is about.
	waitSent := func(n int) {
		t.Helper()
		eventually(t, 60*time.Second, fmt.Sprintf("%d replies sent", n), func() (bool, string) {
			s := g.stats()
			return len(fake.Sent()) >= n && s.Outbound[message.StateSent] == int64(n),
				fmt.Sprintf("twilio=%d outbound=%v", len(fake.Sent()), s.Outbound)
		})
	}
	waitSent(50)

	// 2. Down again; the gateway is killed while its spool is full; a new
	// process drains what the old one spooled.
	pg.Stop()
	post(50, 100)
	if n := spooled(); n != 50 {
		t.Fatalf("spool holds %d messages, want the 50 answered", n)
	}
	g.kill9()
	pg.Start()
	g.start()
	waitMessages(100)

	// Every message is there once, each got its one reply.
	ctx := context.Background()
	rows, err := g.store().DB().QueryContext(ctx, `SELECT external_id FROM messages`)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		stored[id]++
	}
	rows.Close()
	for _, sid := range sids {
		if stored[sid] != 1 {
			t.Errorf("message %s stored %d times, want once", sid, stored[sid])
		}
	}
	waitSent(100)
	if n := len(fake.Sent()); n != 100 {
		t.Errorf("Twilio got %d replies, want 100", n)
	}
	for i := range 100 {
		if n := len(sentTo(fake, customer(i))); n != 1 {
			t.Errorf("%s got %d replies, want 1", customer(i), n)
		}
	}
	if s := g.stats(); s.Messages != 100 {
		t.Errorf("stats: %d messages, want 100", s.Messages)
	}
}
