package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

// What the fault tests share: mail arriving while the gateway runs, Twilio
// posting signed webhooks, and the check that in the end every message was
// stored once, with its one ticket and its one reply.

// faultMail is mail i of a fault test named tag: a mix of actionable
// requests (ticket and acknowledgement), questions and out-of-scope mail,
// in both languages, each from its own sender so that each is a new
// conversation. Its Message-ID, the stored external id, is faultMailID.
func faultMail(tag string, i int) []byte {
	bodies := []struct{ subject, text string }{
		{"Projector broken", "The projector in room %d is broken and shows no picture, please send a technician to repair it."},
		{"صيانة", "البروجكتر في القاعة %d خربان ما يشتغل نبي صيانة ضروري"},
		{"Smart board needed", "We need a new smart board and two projectors supplied for classroom %d next semester."},
		{"grades", "My grade in course %d is wrong on the transcript, who can fix it?"},
	}
	b := bodies[i%len(bodies)]
	return []byte(fmt.Sprintf("From: Customer %[1]d <%[3]s%[1]d@example.edu.sa>\r\nTo: support@example.test\r\n"+
		"Subject: %[2]s\r\nMessage-ID: <%[4]s>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+b.text+"\r\n", i, b.subject, tag, faultMailID(tag, i), i))
}

func faultMailID(tag string, i int) string { return fmt.Sprintf("%s-%d@example.edu.sa", tag, i) }

// faultMails is mails from..to-1 of faultMail and their ids.
func faultMails(tag string, from, to int) (raws [][]byte, ids []string) {
	for i := from; i < to; i++ {
		raws = append(raws, faultMail(tag, i))
		ids = append(ids, faultMailID(tag, i))
	}
	return raws, ids
}

// mailFeeder appends mail to Dovecot's INBOX over one IMAP connection, one
// every interval, as mail that keeps arriving while the test runs.
type mailFeeder struct {
	t    *testing.T
	tag  string
	stop chan struct{}
	done chan struct{}

	mu   sync.Mutex // guards the connection, next and ids
	c    *imapclient.Client
	next int
	ids  []string
}

func startMailFeeder(t *testing.T, dc *dovecot.Server, tag string, from int, every time.Duration) *mailFeeder {
	t.Helper()
	f := &mailFeeder{t: t, tag: tag, c: dc.Dial(t, dc.User()), next: from, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for f.burst(1) {
			select {
			case <-f.stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() { f.halt() })
	return f
}

// burst appends n mails at once and reports whether all went in.
func (f *mailFeeder) burst(n int) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		raw := faultMail(f.tag, f.next)
		cmd := f.c.Append("INBOX", int64(len(raw)), &imap.AppendOptions{})
		_, err := cmd.Write(raw)
		if cerr := cmd.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			_, err = cmd.Wait()
		}
		if err != nil {
			f.t.Errorf("append mail %d: %v", f.next, err)
			return false
		}
		f.ids = append(f.ids, faultMailID(f.tag, f.next))
		f.next++
	}
	return true
}

func (f *mailFeeder) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// halt stops the feeder and returns the ids of every mail it appended.
func (f *mailFeeder) halt() []string {
	select {
	case <-f.stop:
	default:
		close(f.stop)
	}
	<-f.done
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ids...)
}

// haltAfter waits until the feeder appended n mails more than mark (an
// earlier count, taken when the fault ended), then stops it and returns the
// ids of every mail it appended. The feed does not wait for the gateway: on
// a loaded machine it can outrun ingest, so a test stops it once some mail
// arrived after the fault and then waits for everything, that mail
// included, to be stored; waiting for ingest to catch up with a running
// feed measured the machine.
func (f *mailFeeder) haltAfter(mark, n int, after string) []string {
	f.t.Helper()
	eventually(f.t, 60*time.Second, "mail appended after "+after, func() (bool, string) {
		got := f.count()
		return got >= mark+n, fmt.Sprintf("appended %d of %d since", got-mark, n)
	})
	return f.halt()
}

// twilioWebhooks posts Twilio's signed inbound webhooks, each a new
// message from a new customer, to the channels of faultChannelsYAML.
type twilioWebhooks struct {
	t    *testing.T
	fake *faketwilio.Server
	// public is the base URL Twilio calls and signs for (a load balancer
	// in front of the replicas); "" signs for the replica's own URL.
	public string
	client *http.Client

	mu     sync.Mutex
	n      int
	sent   []string        // every MessageSid posted
	ok     map[string]bool // those answered 200 with TwiML
	wrong  []string        // answers other than 200
	failed []string        // posts that got no answer, when not retrying
}

func newTwilioWebhooks(t *testing.T, fake *faketwilio.Server, public string) *twilioWebhooks {
	// A replica that answers nothing within 30 s counts as no answer.
	return &twilioWebhooks{t: t, fake: fake, public: public, ok: map[string]bool{}, client: &http.Client{Timeout: 30 * time.Second}}
}

// The two Twilio channels of the fault tests: an SMS number and a
// WhatsApp sender. WhatsApp's linked device cannot reach WhatsApp's
// servers from here, so WhatsApp is driven through Twilio.
var faultTwilioChannels = []string{"sms", "wa-twilio"}

// faultChannelsYAML is the fault tests' channels: the mailbox (when
// emailYAML, an emailChannelYAML, is not "") and the two Twilio channels.
func faultChannelsYAML(emailYAML, twilioURL string) string {
	return "channels:\n" + strings.TrimPrefix(emailYAML, "channels:\n") + fmt.Sprintf(`  - name: sms
    kind: sms
    twilio: {account_sid: %[1]s, auth_token: %[2]s, from: "%[3]s", api_url: %[5]q}
  - name: wa-twilio
    kind: sms
    twilio: {account_sid: %[1]s, auth_token: %[2]s, from: "%[4]s", api_url: %[5]q}
`, twilioAccount, twilioToken, smsNumber, twilioWhatsAppNumber, twilioURL)
}

// next makes message n's form: its channel, sender and body.
func (w *twilioWebhooks) next() (channel string, form map[string][]string) {
	w.mu.Lock()
	n := w.n
	w.n++
	w.mu.Unlock()
	bodies := []string{
		"البروجكتر في القاعة %d خربان نبي صيانة",
		"The projector in room %d is broken, please send a technician",
		"We need a smart board supplied for classroom %d next semester",
		"My grade in course %d is wrong on the transcript, who can fix it?",
	}
	channel = faultTwilioChannels[n%2]
	in := faketwilio.Inbound{From: fmt.Sprintf("+9665%08d", n), To: smsNumber, Body: fmt.Sprintf(bodies[(n/2)%len(bodies)], n)}
	if channel == "wa-twilio" {
		in.From, in.To, in.ProfileName = "whatsapp:"+in.From, twilioWhatsAppNumber, fmt.Sprintf("عميل %d", n)
	}
	f := w.fake.InboundForm(in)
	w.mu.Lock()
	w.sent = append(w.sent, f.Get("MessageSid"))
	w.mu.Unlock()
	return channel, f
}

// post sends one new message to the replica target() names
// ("http://host:port"). With retry, a post that gets no answer (the
// replica died or is starting) is sent again, to target() again, until
// it is answered (for up to two minutes): Twilio retrying, or a load balancer failing
// over. It reports whether the message was answered 200.
func (w *twilioWebhooks) post(target func() string, retry bool) bool {
	channel, form := w.next()
	sid := form["MessageSid"][0]
	path := "/webhooks/twilio/" + channel
	first := time.Now()
	for {
		base := target()
		signed := base
		if w.public != "" {
			signed = w.public
		}
		req, err := w.fake.WebhookRequest(base+path, form)
		if err != nil {
			w.t.Error(err)
			return false
		}
		req.Header.Set("X-Twilio-Signature", faketwilio.Signature(twilioToken, signed+path, form))
		// A post once sent gets its answer, so that every message the
		// gateway may have kept is accounted for.
		resp, err := w.client.Do(req)
		if err != nil {
			if retry && time.Since(first) < 2*time.Minute {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			w.mu.Lock()
			w.failed = append(w.failed, fmt.Sprintf("%s: %v", sid, err))
			w.mu.Unlock()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		w.mu.Lock()
		defer w.mu.Unlock()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<Response>") {
			w.wrong = append(w.wrong, fmt.Sprintf("%s: %s %q", sid, resp.Status, body))
			return false
		}
		w.ok[sid] = true
		return true
	}
}

// drive posts from workers goroutines, each waiting pause between its
// posts, until ctx ends; the function it returns waits for them.
func (w *twilioWebhooks) drive(ctx context.Context, workers int, pause time.Duration, target func() string, retry bool) (wait func()) {
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				w.post(target, retry)
				select {
				case <-ctx.Done():
				case <-time.After(pause):
				}
			}
		})
	}
	return wg.Wait
}

// answeredSoFar is how many posts were answered 200 so far.
func (w *twilioWebhooks) answeredSoFar() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.ok)
}

// answered returns the sids answered 200, and fails the test for any
// other answer and (when not retrying) any post that got none.
func (w *twilioWebhooks) answered() []string {
	w.t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.wrong {
		w.t.Errorf("webhook not answered 200: %s", s)
	}
	for _, s := range w.failed {
		w.t.Errorf("webhook got no answer: %s", s)
	}
	var out []string
	for _, sid := range w.sent {
		if w.ok[sid] {
			out = append(out, sid)
		}
	}
	return out
}

// storedIDs counts the stored messages by external id.
func (g *gateway) storedIDs() map[string]int {
	g.t.Helper()
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT external_id FROM messages`)
	if err != nil {
		g.t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			g.t.Fatal(err)
		}
		got[strings.Trim(id, "<>")]++
	}
	if err := rows.Err(); err != nil {
		g.t.Fatal(err)
	}
	return got
}

// waitSettled waits until every id in want is stored and no reply is
// queued or sending.
func (g *gateway) waitSettled(d time.Duration, want []string) {
	g.t.Helper()
	eventually(g.t, d, "every message stored and every reply out", func() (bool, string) {
		got := g.storedIDs()
		missing := 0
		for _, id := range want {
			if got[id] == 0 {
				missing++
			}
		}
		st := g.stats()
		pending := st.Outbound[message.StateQueued] + st.Outbound[message.StateSending]
		return missing == 0 && pending == 0, fmt.Sprintf("stored=%d missing=%d of %d outbound=%v", len(got), missing, len(want), st.Outbound)
	})
}

// checkOnce is the end of every fault test: each message in want was
// stored exactly once and nothing else was; each message that decided a
// ticket has exactly one, numbered without gaps; each that decided a reply
// has exactly one, sent, and it reached the SMTP server or Twilio. It
// returns how many replies reached them more than once: a send cut by
// kill -9 after the server took it and before it was recorded is sent
// again (an email with the same Message-ID, which mail clients show once).
func checkOnce(t *testing.T, g *gateway, want []string, sink *postfixSink, fake *faketwilio.Server) (resent int) {
	t.Helper()
	got := g.storedIDs()
	for _, id := range want {
		if got[id] != 1 {
			t.Errorf("message %s stored %d times, want once", id, got[id])
		}
		delete(got, id)
	}
	for id, n := range got {
		t.Errorf("message %s stored %d times, but nothing sent it", id, n)
	}
	st := g.stats()
	if st.Messages != int64(len(want)) || st.Quarantined != 0 {
		t.Errorf("messages = %d (quarantined %d), want exactly %d", st.Messages, st.Quarantined, len(want))
	}

	db := g.store().DB()
	one := func(q string) int64 {
		var n int64
		if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	wantTickets := one(`SELECT COUNT(*) FROM messages WHERE decision LIKE '%"create_ticket":true%'`)
	if wantTickets == 0 || st.Tickets != wantTickets {
		t.Errorf("tickets = %d, want %d (one per message that decided one)", st.Tickets, wantTickets)
	}
	if n := one(`SELECT COUNT(*) FROM (SELECT conversation_id FROM tickets GROUP BY conversation_id HAVING COUNT(*) > 1) d`); n != 0 {
		t.Errorf("%d conversations have more than one ticket", n)
	}
	// Gap-free per prefix and year: numbers 1..n.
	if n := one(`SELECT COUNT(*) FROM (SELECT prefix, year FROM tickets GROUP BY prefix, year
			HAVING MIN(number) <> 1 OR MAX(number) <> COUNT(*) OR COUNT(DISTINCT number) <> COUNT(*)) d`); n != 0 {
		t.Errorf("%d ticket series have gaps or doubles", n)
	}

	wantReplies := one(`SELECT COUNT(*) FROM messages WHERE decision LIKE '%"auto_reply":true%'`)
	var outbound int64
	for _, n := range st.Outbound {
		outbound += n
	}
	if wantReplies == 0 || outbound != wantReplies || st.Outbound[message.StateSent] != wantReplies {
		t.Errorf("outbound = %v, want %d sent", st.Outbound, wantReplies)
	}
	if n := one(`SELECT COUNT(*) FROM (SELECT in_reply_to_message_id FROM outbound_messages GROUP BY in_reply_to_message_id HAVING COUNT(*) > 1) d`); n != 0 {
		t.Errorf("%d messages have more than one reply", n)
	}

	// At the SMTP server, by Message-ID; at Twilio, by the SID each send
	// was answered with (a second send gets another SID).
	mails := map[string]int{}
	if sink != nil {
		for _, m := range sink.messages(t) {
			id, _ := m.header.MessageID()
			mails[id]++
		}
	}
	twilio := map[string]bool{}
	sent := 0
	if fake != nil {
		for _, m := range fake.Sent() {
			twilio[m.SID] = true
			sent++
		}
	}
	rows, err := db.QueryContext(context.Background(), `SELECT c.kind, o.header_message_id, o.provider_id FROM outbound_messages o JOIN channels c ON c.id = o.channel_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind, msgID, sid string
		if err := rows.Scan(&kind, &msgID, &sid); err != nil {
			t.Fatal(err)
		}
		switch kind {
		case string(message.Email):
			switch n := mails[msgID]; {
			case n == 0:
				t.Errorf("reply %s never reached the SMTP server", msgID)
			case n > 1:
				resent += n - 1
			}
			delete(mails, msgID)
		default:
			if !twilio[sid] {
				t.Errorf("reply with SID %q never reached Twilio", sid)
			}
			sent--
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(mails) != 0 {
		t.Errorf("%d mails at the SMTP server match no reply", len(mails))
	}
	if sent < 0 {
		t.Errorf("Twilio got %d fewer messages than there are replies", -sent)
	}
	return resent + max(sent, 0)
}
