package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/wasl-dev/wasl/channels"
	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/channels/whatsapp"
	"github.com/wasl-dev/wasl/classify"
	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/router"
	"github.com/wasl-dev/wasl/store"
)

// waOutbox stands in for the whatsmeow channel behind channels.Sender (a
// linked device cannot run here); it records what the pipeline sends.
type waOutbox struct {
	mu   sync.Mutex
	sent []message.Outbound
}

func (w *waOutbox) Send(_ context.Context, out message.Outbound) (message.Delivery, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, out)
	return message.Delivery{ProviderID: fmt.Sprintf("3EB0WASL%08d", out.ID), State: message.StateSent}, nil
}

func (w *waOutbox) messages() []message.Outbound {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]message.Outbound(nil), w.sent...)
}

// channelRegistry maps channel ids to senders and media fetchers, as the
// binary's registry does. It is not changed after it is built.
type channelRegistry struct {
	senders  map[int64]channels.Sender
	fetchers map[int64]router.MediaFetcher
}

func (r channelRegistry) Sender(id int64) (channels.Sender, bool) {
	s, ok := r.senders[id]
	return s, ok
}

func (r channelRegistry) Fetcher(id int64) (router.MediaFetcher, bool) {
	f, ok := r.fetchers[id]
	return f, ok
}

// Shaper: the SMS channel sizes its own replies; WhatsApp has no limit.
func (r channelRegistry) Shaper(id int64) (router.ReplyShaper, bool) {
	s, ok := r.senders[id].(router.ReplyShaper)
	return s, ok
}

// NewMessageID: neither SMS nor WhatsApp messages carry one.
func (channelRegistry) NewMessageID(int64) string { return "" }

// channelsEnv is the pipeline in process: a real store, the classifier
// trained on the university's bank, River working the jobs, a real SMS
// channel talking to a fake Twilio and a recording WhatsApp sender.
type channelsEnv struct {
	st       *store.Store
	fake     *faketwilio.Server
	jobs     *river.Client[*sql.Tx]
	pipeline *router.Pipeline
	hook     string // the SMS channel's inbound webhook URL
	wa       *waOutbox
	waCfg    whatsapp.Config
	smsID    int64
	waID     int64
}

// trained is the bank and classifier, trained once for the test binary's
// channel tests.
type trained struct {
	bank  *replies.Bank
	model *classify.Model
}

func trainBank(t *testing.T) trained {
	t.Helper()
	bank, err := replies.LoadBank(filepath.Join("..", "configs", "bank.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	model, err := classify.Train(router.ClassifierConfig(bank))
	if err != nil {
		t.Fatal(err)
	}
	return trained{bank, model}
}

func newChannelsEnv(t *testing.T, dsn string, tr trained) *channelsEnv {
	t.Helper()
	ctx := context.Background()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	// Registered first, so it runs last: after River has stopped logging.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log (tail):\n%s", tail(logs.String(), 60))
		}
	})

	// In process and under -race, migrating SQLite takes seconds: start
	// from a copy of a migrated database (dbtest).
	dir := t.TempDir()
	if dsn == "" {
		dir = dbtest.SQLiteDir(t, store.MigrateAt)
	}
	st, err := store.Open(ctx, dsn, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &channelsEnv{st: st, fake: faketwilio.Start(t, twilioAccount, twilioToken), wa: &waOutbox{}}
	for _, c := range []struct {
		name string
		kind message.Kind
		id   *int64
	}{{"sms", message.SMS, &e.smsID}, {"whatsapp", message.WhatsApp, &e.waID}} {
		row := store.Channel{Name: c.name, Kind: c.kind, Enabled: true}
		if err := st.UpsertChannel(ctx, &row); err != nil {
			t.Fatal(err)
		}
		*c.id = row.ID
	}
	e.waCfg = whatsapp.Config{ChannelID: e.waID, Name: "whatsapp", DefaultRegion: "SA"}

	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	smsCh, err := sms.New(sms.Config{
		ChannelID:     e.smsID,
		Name:          "sms",
		AccountSID:    twilioAccount,
		AuthToken:     twilioToken,
		From:          smsNumber,
		PublicURL:     srv.URL,
		DefaultRegion: "SA",
		HTTPClient:    e.fake.Client(),
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.hook = smsCh.InboundURL()

	reg := channelRegistry{
		senders:  map[int64]channels.Sender{e.smsID: smsCh, e.waID: e.wa},
		fetchers: map[int64]router.MediaFetcher{e.smsID: smsCh},
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &router.SendWorker{Store: st, Senders: reg, SendTimeout: 10 * time.Second, Log: log})
	river.AddWorker(workers, &router.MediaWorker{Store: st, Fetchers: reg})
	e.jobs, err = river.NewClient(st.RiverDriver(), &river.Config{
		Logger:            log.With("component", "river"),
		PollOnly:          true,
		FetchCooldown:     20 * time.Millisecond,
		FetchPollInterval: 50 * time.Millisecond,
		Queues: map[string]river.QueueConfig{
			router.QueueSend:   {MaxWorkers: 2},
			router.QueueMedia:  {MaxWorkers: 1},
			river.QueueDefault: {MaxWorkers: 1},
		},
		Workers: workers,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// Registered after the store's Close, so it runs before it.
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := e.jobs.Stop(stopCtx); err != nil {
			t.Errorf("stop River: %v", err)
		}
	})
	e.pipeline = router.New(st, tr.model, tr.bank, e.jobs, reg, router.Config{TicketPrefix: "EDU"}, log)
	mux.Handle("POST /webhooks/twilio/sms", smsCh.InboundHandler(e.pipeline))
	mux.Handle("POST /webhooks/twilio/sms/status", smsCh.StatusHandler(st))
	return e
}

// postSMS delivers form to the SMS channel's webhook, signed like Twilio.
func (e *channelsEnv) postSMS(t *testing.T, form url.Values) {
	t.Helper()
	code, body := postWebhook(t, signedPost(t, e.fake, e.hook, form))
	if code != http.StatusOK || !strings.Contains(body, "<Response>") {
		t.Fatalf("SMS webhook %s: %d %q, want 200 with TwiML", form.Get("MessageSid"), code, body)
	}
}

// waText is a WhatsApp text message as whatsmeow delivers it, from a
// customer's phone JID.
func waText(id, phone, pushName, text string) *events.Message {
	jid := types.NewJID(strings.TrimPrefix(phone, "+"), types.DefaultUserServer)
	return &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: jid, Sender: jid},
			ID:            id,
			PushName:      pushName,
			Timestamp:     time.Now().UTC().Truncate(time.Second),
			Type:          "text",
		},
		Message: &waE2E.Message{Conversation: proto.String(text)},
	}
}

// ingestWhatsApp runs evt through the connector's translation and the
// pipeline, as the whatsmeow channel's event handler does.
func (e *channelsEnv) ingestWhatsApp(t *testing.T, evt *events.Message) message.Outcome {
	t.Helper()
	in, skip, err := whatsapp.Translate(evt, e.waCfg)
	if err != nil || skip != "" {
		t.Fatalf("translate WhatsApp %s: skip %q, err %v", evt.Info.ID, skip, err)
	}
	out, err := e.pipeline.Ingest(context.Background(), in)
	if err != nil {
		t.Fatalf("ingest WhatsApp %s: %v", evt.Info.ID, err)
	}
	return out
}

// conversationOn returns the only conversation of a channel.
func (e *channelsEnv) conversationOn(t *testing.T, channelID int64) store.ConversationDetail {
	t.Helper()
	ctx := context.Background()
	list, err := e.st.ListConversations(ctx, store.ConversationFilter{ChannelID: channelID})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 {
		t.Fatalf("channel %d has %d conversations, want 1", channelID, len(list))
	}
	d, err := e.st.Conversation(ctx, list[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// sendJob finds the River job that sends outbound id.
func (e *channelsEnv) sendJob(t *testing.T, id int64) *rivertype.JobRow {
	t.Helper()
	res, err := e.jobs.JobList(context.Background(), river.NewJobListParams().Kinds(router.SendArgs{}.Kind()).First(1000))
	if err != nil {
		t.Fatalf("list jobs: %v", err)
	}
	for _, j := range res.Jobs {
		var a router.SendArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err == nil && a.OutboundID == id {
			return j
		}
	}
	t.Fatalf("no send job for outbound %d", id)
	return nil
}

func (e *channelsEnv) stats(t *testing.T) store.Stats {
	t.Helper()
	s, err := e.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestChannelsSMSAndWhatsAppOneContact delivers an SMS through the Twilio
// webhook and a WhatsApp message through the connector's translation, from
// the same phone number, on both stores: one contact, a ticket for the
// actionable SMS, one automatic reply out of each channel, and re-delivery
// of both changes nothing.
func TestChannelsSMSAndWhatsAppOneContact(t *testing.T) {
	t.Parallel()
	tr := trainBank(t)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newChannelsEnv(t, be.url(t), tr)
			ctx := context.Background()
			const phone = "+966551234567"

			smsForm := e.fake.InboundForm(faketwilio.Inbound{From: phone, To: smsNumber, Body: "البروجكتر في القاعة 12 خربان نبي صيانة"})
			e.postSMS(t, smsForm)
			waEvt := waText("3EB0C431D5F6A7B8C9D0", phone, "نورة", "كيف اسوي اخلاء طرف من الادارة؟")
			waOut := e.ingestWhatsApp(t, waEvt)
			if waOut.Duplicate || waOut.MessageID == 0 {
				t.Fatalf("WhatsApp outcome %+v, want a new message", waOut)
			}

			smsConv, waConv := e.conversationOn(t, e.smsID), e.conversationOn(t, e.waID)
			if waConv.Conversation.ID != waOut.ConversationID {
				t.Fatalf("WhatsApp conversation %d, outcome says %d", waConv.Conversation.ID, waOut.ConversationID)
			}
			if smsConv.Contact.ID != waConv.Contact.ID {
				t.Errorf("SMS contact %d, WhatsApp contact %d: want one contact", smsConv.Contact.ID, waConv.Contact.ID)
			}
			if ids := waConv.Contact.Identities; len(ids) != 1 || ids[0].Kind != message.IdentityPhone || ids[0].Value != phone {
				t.Errorf("contact identities = %+v, want the phone %s once", ids, phone)
			}
			if smsConv.Contact.DisplayName != "نورة" && waConv.Messages[0].From.Name != "نورة" {
				t.Errorf("WhatsApp push name lost: contact %q, message from %+v", smsConv.Contact.DisplayName, waConv.Messages[0].From)
			}

			// The SMS is actionable: a ticket. The WhatsApp question is
			// answered from the bank without one.
			if len(smsConv.Tickets) != 1 || smsConv.Tickets[0].Topic != "equipment_maintenance" {
				t.Fatalf("SMS conversation tickets = %+v, want one equipment_maintenance ticket", smsConv.Tickets)
			}
			ref := smsConv.Tickets[0].Ref
			if len(waConv.Tickets) != 0 {
				t.Errorf("WhatsApp conversation tickets = %+v, want none", waConv.Tickets)
			}
			for _, c := range []struct {
				name   string
				m      store.Message
				action string
			}{{"SMS", smsConv.Messages[0], "ticket"}, {"WhatsApp", waConv.Messages[0], "answer"}} {
				var d decision
				if err := json.Unmarshal(c.m.Decision, &d); err != nil {
					t.Fatalf("%s decision %s: %v", c.name, c.m.Decision, err)
				}
				if d.Action != c.action || !d.AutoReply {
					t.Errorf("%s decision %s (auto_reply %v), want %s with a reply; reasons %q", c.name, d.Action, d.AutoReply, c.action, d.Reasons)
				}
			}

			// River sends each reply once, out of its own channel.
			eventually(t, 30*time.Second, "both replies sent", func() (bool, string) {
				s := e.stats(t)
				return s.Outbound[message.StateSent] == 2 && len(e.fake.Sent()) >= 1 && len(e.wa.messages()) >= 1,
					fmt.Sprintf("outbound=%v twilio=%d whatsapp=%d", s.Outbound, len(e.fake.Sent()), len(e.wa.messages()))
			})
			smsReplies, waReplies := e.fake.Sent(), e.wa.messages()
			if len(smsReplies) != 1 || len(waReplies) != 1 {
				t.Fatalf("replies: %d by Twilio, %d by WhatsApp; want 1 and 1", len(smsReplies), len(waReplies))
			}
			if r := smsReplies[0]; r.To != phone || r.From != smsNumber || !strings.Contains(r.Body, ref) {
				t.Errorf("SMS reply to %q from %q body %q; want to %s from %s naming %s", r.To, r.From, r.Body, phone, smsNumber, ref)
			}
			if r := waReplies[0]; r.To.Value != phone || r.ChannelID != e.waID || strings.TrimSpace(r.Text) == "" || strings.Contains(r.Text, ref) {
				t.Errorf("WhatsApp reply %+v; want a bank answer to %s on channel %d, not the ticket acknowledgement", r, phone, e.waID)
			}

			// Twilio retries its webhook; whatsmeow redelivers after a
			// reconnect. Same ids: nothing new.
			before := e.stats(t)
			e.postSMS(t, smsForm)
			again := e.ingestWhatsApp(t, waEvt)
			if !again.Duplicate || again.MessageID != waOut.MessageID {
				t.Errorf("WhatsApp re-delivery outcome %+v, want duplicate of message %d", again, waOut.MessageID)
			}
			// Reply jobs are inserted only with the message that causes
			// them, in its transaction: two jobs, once both are done, mean
			// no reply can follow the re-delivery.
			sendJobs := func() []*rivertype.JobRow {
				res, err := e.jobs.JobList(ctx, river.NewJobListParams().Kinds(router.SendArgs{}.Kind()).First(100))
				if err != nil {
					t.Fatal(err)
				}
				return res.Jobs
			}
			if n := len(sendJobs()); n != 2 {
				t.Errorf("send jobs after re-delivery: %d, want the two of the first deliveries", n)
			}
			eventually(t, 30*time.Second, "both send jobs completed", func() (bool, string) {
				var states []rivertype.JobState
				for _, j := range sendJobs() {
					states = append(states, j.State)
				}
				return len(states) == 2 && states[0] == rivertype.JobStateCompleted && states[1] == rivertype.JobStateCompleted, fmt.Sprint(states)
			})
			after := e.stats(t)
			if after.Messages != 2 || after.Contacts != 1 || after.Conversations != 2 || after.Tickets != 1 ||
				after.Outbound[message.StateSent] != 2 || len(after.Outbound) != 1 {
				t.Errorf("after re-delivery: %+v (before %+v); want 2 messages, 1 contact, 2 conversations, 1 ticket, 2 sent replies", after, before)
			}
			if n, m := len(e.fake.Sent()), len(e.wa.messages()); n != 1 || m != 1 {
				t.Errorf("replies after re-delivery: %d by Twilio, %d by WhatsApp; want 1 and 1", n, m)
			}

			// The outbound rows say what happened, with the providers' ids.
			for _, c := range []struct {
				name       string
				d          store.ConversationDetail
				providerID string
			}{{"SMS", smsConv, smsReplies[0].SID}, {"WhatsApp", waConv, fmt.Sprintf("3EB0WASL%08d", waReplies[0].ID)}} {
				d, err := e.st.Conversation(ctx, c.d.Conversation.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(d.Outbound) != 1 {
					t.Errorf("%s conversation has %d replies, want 1", c.name, len(d.Outbound))
					continue
				}
				o := d.Outbound[0]
				if o.State != message.StateSent || o.ProviderID != c.providerID || o.Attempts != 1 || o.Error != "" || o.SentAt == nil || !o.Auto {
					t.Errorf("%s reply row: state %s provider %q attempts %d error %q sent_at %v auto %v; want sent, %q, 1 attempt, no error",
						c.name, o.State, o.ProviderID, o.Attempts, o.Error, o.SentAt, o.Auto, c.providerID)
				}
				if j := e.sendJob(t, o.ID); j.State != rivertype.JobStateCompleted || j.Attempt != 1 {
					t.Errorf("%s send job: state %s after %d attempts, want completed after 1", c.name, j.State, j.Attempt)
				}
			}
		})
	}
}

// TestChannelsTwilioErrors makes Twilio refuse the first attempt at an SMS
// reply: a permanent error (invalid number) fails the reply visibly without
// a retry, a server error is retried and then succeeds.
func TestChannelsTwilioErrors(t *testing.T) {
	t.Parallel()
	tr := trainBank(t)
	cases := []struct {
		name         string
		from         string
		status, code int
		msg          string
		wantState    message.DeliveryState
		wantError    string // substring of the outbound row's error; "" for none
		wantRequests int    // message creations Twilio saw for this reply
		wantSent     int    // of which it accepted
		wantJob      rivertype.JobState
	}{
		{
			name: "permanent 21211", from: "+966552000001",
			status: http.StatusBadRequest, code: 21211, msg: "The 'To' number +966552000001 is not a valid phone number.",
			wantState: message.StateFailed, wantError: "21211", wantRequests: 1, wantSent: 0, wantJob: rivertype.JobStateCancelled,
		},
		{
			name: "server error 500 retried", from: "+966552000002",
			status: http.StatusInternalServerError, code: 20500, msg: "Internal Server Error",
			wantState: message.StateSent, wantRequests: 2, wantSent: 1, wantJob: rivertype.JobStateCompleted,
		},
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newChannelsEnv(t, be.url(t), tr)
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					tries := func() (requests, sent int) {
						for _, r := range e.fake.Requests() {
							if r.Method == http.MethodPost && strings.HasSuffix(r.Path, "/Messages.json") && r.Form.Get("To") == tc.from {
								requests++
							}
						}
						return requests, len(sentTo(e.fake, tc.from))
					}
					e.fake.FailNext(1, tc.status, tc.code, tc.msg)
					e.postSMS(t, e.fake.InboundForm(faketwilio.Inbound{From: tc.from, To: smsNumber, Body: "السبورة الذكية معلقة وما تستجيب للمس في القاعة 7"}))

					list, err := e.st.ListConversations(ctx, store.ConversationFilter{ChannelID: e.smsID})
					if err != nil || len(list) == 0 {
						t.Fatalf("conversations: %v (%d)", err, len(list))
					}
					convID := list[0].ID // the newest
					var o store.Outbound
					eventually(t, 30*time.Second, "reply settled as "+string(tc.wantState), func() (bool, string) {
						d, err := e.st.Conversation(ctx, convID)
						if err != nil || len(d.Outbound) != 1 {
							return false, fmt.Sprintf("err=%v outbound=%d", err, len(d.Outbound))
						}
						o = d.Outbound[0]
						return o.State == tc.wantState, fmt.Sprintf("state=%s attempts=%d error=%q", o.State, o.Attempts, o.Error)
					})
					if o.To.Value != tc.from {
						t.Fatalf("newest conversation's reply goes to %s, want %s", o.To.Value, tc.from)
					}
					// Once the job is cancelled or completed no attempt
					// can follow: what Twilio saw by then is final.
					eventually(t, 30*time.Second, "send job settled as "+string(tc.wantJob), func() (bool, string) {
						j := e.sendJob(t, o.ID)
						return j.State == tc.wantJob, fmt.Sprintf("state=%s attempt=%d", j.State, j.Attempt)
					})
					if req, sent := tries(); req != tc.wantRequests || sent != tc.wantSent {
						t.Errorf("Twilio saw %d requests and accepted %d for %s, want %d and %d", req, sent, tc.from, tc.wantRequests, tc.wantSent)
					}
					final, err := e.st.Outbound(ctx, o.ID)
					if err != nil {
						t.Fatal(err)
					}
					switch {
					case final.State != tc.wantState || final.Attempts != tc.wantRequests:
						t.Errorf("reply row: state %s after %d attempts, want %s after %d", final.State, final.Attempts, tc.wantState, tc.wantRequests)
					case tc.wantError == "" && final.Error != "":
						t.Errorf("reply row keeps error %q after success", final.Error)
					case tc.wantError != "" && !strings.Contains(final.Error, tc.wantError):
						t.Errorf("reply row error %q, want it to mention %s", final.Error, tc.wantError)
					}
					j := e.sendJob(t, o.ID)
					if j.State != tc.wantJob || j.Attempt != tc.wantRequests {
						t.Errorf("send job: state %s after %d attempts, want %s after %d (errors %+v)", j.State, j.Attempt, tc.wantJob, tc.wantRequests, j.Errors)
					}
					if tc.wantRequests > 1 && (len(j.Errors) != tc.wantRequests-1 || !strings.Contains(j.Errors[0].Error, fmt.Sprint(tc.code))) {
						t.Errorf("send job errors %+v, want %d mentioning %d", j.Errors, tc.wantRequests-1, tc.code)
					}
				})
			}
		})
	}
}

// TestChannelsWhatsAppBacklogIsHistory delivers what a phone that was
// offline for three days sends when it comes back, on both stores: the
// message carries its own (old) WhatsApp timestamp, so it is stored and
// threaded as history — no ticket, no automatic reply — while a message
// written now by the same customer is answered as usual.
func TestChannelsWhatsAppBacklogIsHistory(t *testing.T) {
	t.Parallel()
	tr := trainBank(t)
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			e := newChannelsEnv(t, be.url(t), tr)
			ctx := context.Background()
			const phone = "+966551230000"

			old := waText("3EB0B4C4106A0FF1CE01", phone, "سارة", "البروجكتر في القاعة 12 خربان نبي صيانة")
			old.Info.Timestamp = time.Now().Add(-72 * time.Hour).UTC().Truncate(time.Second)
			out := e.ingestWhatsApp(t, old)
			d, err := e.st.Conversation(ctx, out.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Messages) != 1 {
				t.Fatalf("conversation has %d messages, want 1", len(d.Messages))
			}
			if got := d.Messages[0].ReceivedAt; !got.Equal(old.Info.Timestamp) {
				t.Errorf("received_at = %v, want its WhatsApp timestamp %v", got, old.Info.Timestamp)
			}
			var dec decision
			if err := json.Unmarshal(d.Messages[0].Decision, &dec); err != nil {
				t.Fatal(err)
			}
			// The reply job and the ticket would have been written in the
			// transaction that stored the message: their absence now is final.
			if dec.Action != "history" || dec.AutoReply || dec.CreateTicket || len(d.Tickets) != 0 || len(d.Outbound) != 0 {
				t.Errorf("three-day-old message: decision %+v, %d tickets, %d replies; want history, none, none", dec, len(d.Tickets), len(d.Outbound))
			}

			fresh := waText("3EB0B4C4106A0FF1CE02", phone, "سارة", "البروجكتر في القاعة 14 بعد خربان نبي صيانة اليوم")
			e.ingestWhatsApp(t, fresh)
			d, err = e.st.Conversation(ctx, out.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			if len(d.Messages) != 2 || len(d.Tickets) != 1 || len(d.Outbound) != 1 {
				t.Errorf("after a message written now: %d messages, %d tickets, %d replies in the conversation; want 2, 1, 1", len(d.Messages), len(d.Tickets), len(d.Outbound))
			}
		})
	}
}
