package e2e

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// The Twilio account the gateway and the fake share. The token is made of
// letters and digits, as twilio-go requires.
const (
	twilioAccount = "AC0123456789abcdef0123456789abcdef"
	twilioToken   = "e2eTwilioAuthToken0123456789"
	smsNumber     = "+966500000001" // the university's number
	// arabicSMSBudget is two concatenated UCS-2 segments (2×67 units); the
	// Arabic replies use no characters outside the BMP, so runes = units.
	arabicSMSBudget = 134
)

func smsChannelYAML(apiURL string) string {
	return fmt.Sprintf(`channels:
  - name: sms
    kind: sms
    twilio:
      account_sid: %s
      auth_token: %s
      from: "%s"
      api_url: %s
`, twilioAccount, twilioToken, smsNumber, apiURL)
}

// postWebhook sends req to the gateway and returns the status and body.
func postWebhook(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", req.URL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// signedPost builds a webhook POST to u signed like Twilio would sign it.
func signedPost(t *testing.T, fake *faketwilio.Server, u string, form url.Values) *http.Request {
	t.Helper()
	req, err := fake.WebhookRequest(u, form)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// sentTo returns the messages the fake accepted for one recipient.
func sentTo(fake *faketwilio.Server, to string) []faketwilio.SentMessage {
	var out []faketwilio.SentMessage
	for _, m := range fake.Sent() {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

// sendJobs returns the states of the gateway's send jobs, oldest first.
func (g *gateway) sendJobs() []string {
	g.t.Helper()
	rows, err := g.store().DB().Query(`SELECT state FROM river_job WHERE kind = 'send_outbound' ORDER BY id`)
	if err != nil {
		g.t.Fatalf("send jobs: %v", err)
	}
	defer rows.Close()
	var states []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			g.t.Fatalf("send jobs: %v", err)
		}
		states = append(states, s)
	}
	return states
}

func (g *gateway) conversation(id int64) store.ConversationDetail {
	g.t.Helper()
	var d store.ConversationDetail
	g.api(fmt.Sprintf("/api/v1/conversations/%d", id), &d)
	return d
}

// TestSMSGateway runs the binary with an SMS channel whose REST calls go to
// a fake Twilio, and posts Twilio's signed webhooks to it, on both stores:
// an Arabic request becomes a ticket with one acknowledgement by SMS within
// two segments; a replay, forged webhooks, a status callback, a local
// number format and an MMS behave.
func TestSMSGateway(t *testing.T) {
	t.Parallel()
	pixel, err := os.ReadFile("testdata/channels/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), smsChannelYAML(fake.URL()))
			g.start()
			hook := "http://" + g.addr + "/webhooks/twilio/sms"

			// 1. An Arabic maintenance request.
			const customer = "+966551234567"
			first := fake.InboundForm(faketwilio.Inbound{From: customer, To: smsNumber, Body: "البروجكتر في القاعة 12 خربان نبي صيانة"})
			code, body := postWebhook(t, signedPost(t, fake, hook, first))
			if code != http.StatusOK || !strings.Contains(body, "<Response>") {
				t.Fatalf("inbound webhook: %d %q, want 200 with TwiML <Response>", code, body)
			}
			// 200 comes only after the commit: the message is there now.
			if st := g.stats(); st.Messages != 1 {
				t.Fatalf("messages right after 200 = %d, want 1", st.Messages)
			}

			var tl ticketList
			g.api("/api/v1/tickets", &tl)
			if len(tl.Tickets) != 1 {
				t.Fatalf("tickets = %d, want 1: %+v", len(tl.Tickets), tl.Tickets)
			}
			ticket := tl.Tickets[0]
			if ticket.Topic != "equipment_maintenance" {
				t.Errorf("ticket topic = %q, want equipment_maintenance", ticket.Topic)
			}

			eventually(t, 30*time.Second, "acknowledgement sent and marked sent", func() (bool, string) {
				d := g.conversation(ticket.ConversationID)
				n := len(fake.Sent())
				return n >= 1 && len(d.Outbound) == 1 && d.Outbound[0].State == message.StateSent,
					fmt.Sprintf("sent=%d outbound=%+v", n, d.Outbound)
			})
			acks := sentTo(fake, customer)
			if len(acks) != 1 || len(fake.Sent()) != 1 {
				t.Fatalf("replies at Twilio = %d (to customer %d), want 1: %+v", len(fake.Sent()), len(acks), fake.Sent())
			}
			ack := acks[0]
			t.Logf("acknowledgement by SMS (%d characters): %s", utf8.RuneCountInString(ack.Body), ack.Body)
			if ack.From != smsNumber || ack.MessagingServiceSID != "" {
				t.Errorf("reply From = %q (service %q), want %s", ack.From, ack.MessagingServiceSID, smsNumber)
			}
			if want := hook + "/status"; ack.StatusCallback != want {
				t.Errorf("reply StatusCallback = %q, want %q", ack.StatusCallback, want)
			}
			if n := utf8.RuneCountInString(ack.Body); n > arabicSMSBudget {
				t.Errorf("reply is %d characters, over two UCS-2 segments (%d): %q", n, arabicSMSBudget, ack.Body)
			}
			if segs, ucs2 := sms.Segments(ack.Body); segs > 2 || !ucs2 {
				t.Errorf("reply takes %d segments (ucs2=%v), want at most 2 in UCS-2: %q", segs, ucs2, ack.Body)
			}
			if !strings.Contains(ack.Body, ticket.Ref) {
				t.Errorf("reply %q lacks the ticket reference %s", ack.Body, ticket.Ref)
			}
			d := g.conversation(ticket.ConversationID)
			if d.Outbound[0].ProviderID != ack.SID {
				t.Errorf("outbound provider id = %q, want the Twilio sid %s", d.Outbound[0].ProviderID, ack.SID)
			}
			if len(d.Contact.Identities) != 1 || d.Contact.Identities[0].Value != customer {
				t.Errorf("contact identities = %+v, want %s", d.Contact.Identities, customer)
			}

			// 2. Twilio retries the same webhook (same MessageSid): no-op.
			code, body = postWebhook(t, signedPost(t, fake, hook, first))
			if code != http.StatusOK || !strings.Contains(body, "<Response>") {
				t.Fatalf("replayed webhook: %d %q, want 200 with TwiML", code, body)
			}
			// Reply jobs are inserted only with the message that causes
			// them, in its transaction: one job, once done, means one reply
			// ever.
			if jobs := g.sendJobs(); len(jobs) != 1 {
				t.Errorf("send jobs after replay: %v, want one", jobs)
			}
			eventually(t, 30*time.Second, "the send job completed", func() (bool, string) {
				jobs := g.sendJobs()
				return len(jobs) == 1 && jobs[0] == "completed", fmt.Sprint(jobs)
			})
			if st := g.stats(); st.Messages != 1 || st.Tickets != 1 {
				t.Errorf("after replay: %d messages, %d tickets; want 1 and 1", st.Messages, st.Tickets)
			}
			if n := len(fake.Sent()); n != 1 {
				t.Errorf("replies after replay = %d, want 1", n)
			}

			// 3. Forged or altered webhooks are refused and keep nothing.
			forged := []struct {
				name string
				req  func(form url.Values) *http.Request
			}{
				{"wrong auth token", func(form url.Values) *http.Request {
					req := signedPost(t, fake, hook, form)
					req.Header.Set("X-Twilio-Signature", faketwilio.Signature("someoneElsesToken1", hook, form))
					return req
				}},
				{"body altered after signing", func(form url.Values) *http.Request {
					sig := faketwilio.Signature(twilioToken, hook, form)
					form.Set("Body", "عدّل المهاجم النص")
					req := signedPost(t, fake, hook, form)
					req.Header.Set("X-Twilio-Signature", sig)
					return req
				}},
				{"signed for another URL", func(form url.Values) *http.Request {
					req := signedPost(t, fake, hook, form)
					req.Header.Set("X-Twilio-Signature", faketwilio.Signature(twilioToken, "https://attacker.example/webhooks/twilio/sms", form))
					return req
				}},
				{"no signature", func(form url.Values) *http.Request {
					req := signedPost(t, fake, hook, form)
					req.Header.Del("X-Twilio-Signature")
					return req
				}},
			}
			for _, f := range forged {
				form := fake.InboundForm(faketwilio.Inbound{From: "+966559999999", To: smsNumber, Body: "الداتا شو ما يشتغل"})
				if code, body := postWebhook(t, f.req(form)); code != http.StatusForbidden {
					t.Errorf("%s: %d %q, want 403", f.name, code, body)
				}
			}
			if st := g.stats(); st.Messages != 1 || st.Contacts != 1 {
				t.Errorf("after forged webhooks: %d messages, %d contacts; want 1 and 1", st.Messages, st.Contacts)
			}

			// 4. Twilio reports the acknowledgement delivered.
			cb, status, err := fake.StatusForm(ack.SID, "delivered", 0)
			if err != nil {
				t.Fatal(err)
			}
			if code, body := postWebhook(t, signedPost(t, fake, cb, status)); code != http.StatusOK {
				t.Fatalf("status callback: %d %q", code, body)
			}
			if o := g.conversation(ticket.ConversationID).Outbound[0]; o.State != message.StateDelivered {
				t.Errorf("outbound after status callback: state %q, want delivered", o.State)
			}
			// A forged status callback changes nothing.
			_, undelivered, err := fake.StatusForm(ack.SID, "undelivered", 30003)
			if err != nil {
				t.Fatal(err)
			}
			forgedStatus := signedPost(t, fake, cb, undelivered)
			forgedStatus.Header.Set("X-Twilio-Signature", faketwilio.Signature("someoneElsesToken1", cb, undelivered))
			if code, _ := postWebhook(t, forgedStatus); code != http.StatusForbidden {
				t.Errorf("forged status callback: %d, want 403", code)
			}

			// 5. The same customer, the number written locally: same contact,
			// same conversation, joins the open ticket without a new reply.
			local := fake.InboundForm(faketwilio.Inbound{From: "0551234567", To: smsNumber, Body: "والسماعات بعد ما تشتغل في نفس القاعة"})
			if code, body := postWebhook(t, signedPost(t, fake, hook, local)); code != http.StatusOK {
				t.Fatalf("local-format webhook: %d %q", code, body)
			}
			d = g.conversation(ticket.ConversationID)
			if len(d.Messages) != 2 {
				t.Fatalf("conversation %d has %d messages, want both SMS", ticket.ConversationID, len(d.Messages))
			}
			if d.Messages[1].ExternalID != local.Get("MessageSid") || d.Messages[1].ContactID != d.Messages[0].ContactID || d.Messages[1].From.Value != customer {
				t.Errorf("local-format SMS: external id %q contact %d from %q; want %s, contact %d, %s",
					d.Messages[1].ExternalID, d.Messages[1].ContactID, d.Messages[1].From.Value, local.Get("MessageSid"), d.Messages[0].ContactID, customer)
			}
			if st := g.stats(); st.Contacts != 1 || st.Conversations != 1 || st.Tickets != 1 {
				t.Errorf("after local-format SMS: %d contacts, %d conversations, %d tickets; want 1, 1, 1", st.Contacts, st.Conversations, st.Tickets)
			}

			// 6. An MMS: the media is fetched by a job, not the webhook.
			const photographer = "+966561112222"
			mms := fake.InboundForm(faketwilio.Inbound{From: photographer, To: smsNumber, Body: "صورة السبورة الذكية المكسورة",
				Media: []faketwilio.Media{{ContentType: "image/png", Data: pixel}}})
			if code, body := postWebhook(t, signedPost(t, fake, hook, mms)); code != http.StatusOK {
				t.Fatalf("MMS webhook: %d %q", code, body)
			}
			var cl convList
			g.api("/api/v1/conversations?limit=100", &cl)
			var mmsConv int64
			for _, c := range cl.Conversations {
				if c.ID != ticket.ConversationID {
					mmsConv = c.ID
				}
			}
			if mmsConv == 0 {
				t.Fatalf("MMS conversation not found among %+v", cl.Conversations)
			}
			wantSHA := sha256.Sum256(pixel)
			eventually(t, 30*time.Second, "MMS media fetched", func() (bool, string) {
				d := g.conversation(mmsConv)
				if len(d.Messages) != 1 || len(d.Messages[0].Attachments) != 1 {
					return false, fmt.Sprintf("messages=%+v", d.Messages)
				}
				a := d.Messages[0].Attachments[0]
				return a.SHA256 != "", fmt.Sprintf("attachment=%+v", a)
			})
			a := g.conversation(mmsConv).Messages[0].Attachments[0]
			if a.SHA256 != hex.EncodeToString(wantSHA[:]) || a.Size != int64(len(pixel)) || a.ContentType != "image/png" {
				t.Errorf("MMS attachment = %+v, want sha256 %x, %d bytes, image/png", a, wantSHA, len(pixel))
			}
			if !strings.HasPrefix(a.URL, "https://api.twilio.com/2010-04-01/Accounts/"+twilioAccount+"/Messages/") {
				t.Errorf("MMS attachment URL = %q, want Twilio's media URL", a.URL)
			}
			blob, err := g.store().OpenBlob(t.Context(), a.SHA256)
			if err != nil {
				t.Fatalf("open blob: %v", err)
			}
			got, _ := io.ReadAll(blob)
			blob.Close()
			if string(got) != string(pixel) {
				t.Errorf("stored media differs from what Twilio served (%d vs %d bytes)", len(got), len(pixel))
			}
			// Twilio's media fetch needs the account's credentials.
			authorized := false
			for _, r := range fake.Requests() {
				if r.Method == http.MethodGet && strings.Contains(r.Path, "/Media/") {
					authorized = authorized || r.Authorized
				}
			}
			if !authorized {
				t.Errorf("no authorized media request reached the fake: %+v", fake.Requests())
			}
			// In the end the first customer still got exactly one reply.
			if n := len(sentTo(fake, customer)); n != 1 {
				t.Errorf("replies to %s = %d, want 1", customer, n)
			}
		})
	}
}

// twilioWhatsAppNumber is the university's WhatsApp sender at Twilio.
const twilioWhatsAppNumber = "whatsapp:+14155238886"

// TestSMSTwilioWhatsApp runs the binary with a Twilio channel whose number
// is a WhatsApp sender (configured, like every Twilio channel, as kind sms),
// on both stores: a signed whatsapp: webhook becomes a ticket, the reply
// job hands Twilio a message From and To whatsapp: addresses, and the signed
// status callback marks the reply delivered.
func TestSMSTwilioWhatsApp(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), fmt.Sprintf(`channels:
  - name: wa-twilio
    kind: sms
    twilio:
      account_sid: %s
      auth_token: %s
      from: "%s"
      api_url: %s
`, twilioAccount, twilioToken, twilioWhatsAppNumber, fake.URL()))
			g.start()
			hook := "http://" + g.addr + "/webhooks/twilio/wa-twilio"

			const customer = "+966557654321"
			form := fake.InboundForm(faketwilio.Inbound{From: "whatsapp:" + customer, To: twilioWhatsAppNumber,
				ProfileName: "ريم", Body: "البروجكتر في القاعة 12 خربان نبي صيانة"})
			if code, body := postWebhook(t, signedPost(t, fake, hook, form)); code != http.StatusOK || !strings.Contains(body, "<Response>") {
				t.Fatalf("inbound webhook: %d %q, want 200 with TwiML", code, body)
			}
			var tl ticketList
			g.api("/api/v1/tickets", &tl)
			if len(tl.Tickets) != 1 {
				t.Fatalf("tickets = %d, want 1", len(tl.Tickets))
			}
			ticket := tl.Tickets[0]
			d := g.conversation(ticket.ConversationID)
			if len(d.Messages) != 1 || d.Messages[0].From.Value != customer || d.Messages[0].From.Name != "ريم" {
				t.Fatalf("messages %+v, want one from %s (ريم)", d.Messages, customer)
			}

			eventually(t, 30*time.Second, "reply handed to Twilio", func() (bool, string) {
				d := g.conversation(ticket.ConversationID)
				return len(fake.Sent()) == 1 && len(d.Outbound) == 1 && d.Outbound[0].State == message.StateSent,
					fmt.Sprintf("twilio=%d outbound=%+v", len(fake.Sent()), d.Outbound)
			})
			r := fake.Sent()[0]
			if r.From != twilioWhatsAppNumber || r.To != "whatsapp:"+customer {
				t.Errorf("reply From %q To %q, want %s to whatsapp:%s", r.From, r.To, twilioWhatsAppNumber, customer)
			}
			if !strings.Contains(r.Body, ticket.Ref) {
				t.Errorf("reply %q lacks the ticket reference %s", r.Body, ticket.Ref)
			}
			if want := hook + "/status"; r.StatusCallback != want {
				t.Errorf("reply StatusCallback = %q, want %q", r.StatusCallback, want)
			}

			cb, status, err := fake.StatusForm(r.SID, "delivered", 0)
			if err != nil {
				t.Fatal(err)
			}
			if code, body := postWebhook(t, signedPost(t, fake, cb, status)); code != http.StatusOK {
				t.Fatalf("status callback: %d %q", code, body)
			}
			o := g.conversation(ticket.ConversationID).Outbound[0]
			if o.State != message.StateDelivered || o.ProviderID != r.SID || o.Error != "" {
				t.Errorf("reply row after the callback: state %s, provider %q, error %q; want delivered, %s, none", o.State, o.ProviderID, o.Error, r.SID)
			}
		})
	}
}
