package e2e

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/message"
)

// formsYAML is an email channel (Dovecot, smtp-sink), a Twilio SMS number,
// the forms, which acknowledge by both, a Twilio WhatsApp number and the
// phone line, which sends by either.
func formsYAML(dc *dovecot.Server, smtpAddr, twilioURL string) string {
	return emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), smtpAddr, "now") + fmt.Sprintf(`  - name: sms
    kind: sms
    twilio:
      account_sid: %s
      auth_token: %s
      from: "%s"
      api_url: %s
  - name: forms
    kind: form
    form:
      reply_email: support-email
      reply_sms: sms
      frame_ancestors: [https://uqu.edu.sa]
      min_fill_time: 1ms
  - name: wa-twilio
    kind: sms
    twilio:
      account_sid: %s
      auth_token: %s
      from: "%s"
      api_url: %s
  - name: phone
    kind: phone
    phone: {send_sms: sms, send_whatsapp: wa-twilio}
`, twilioAccount, twilioToken, smsNumber, twilioURL, twilioAccount, twilioToken, twilioWhatsAppNumber, twilioURL)
}

var (
	formTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)
	formRefRE   = regexp.MustCompile(`id="ticket-ref" dir="ltr">([^<]+)<`)
)

// noRedirect sees each answer as it is.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func getPage(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noRedirect.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestFormsGateway submits the maintenance form in Arabic with a photo to
// the running gateway, on both stores: the confirmation shows the ticket
// reference, the ticket is the maintenance department's with the fields
// kept, the acknowledgement reaches the SMTP server and (as asked) the
// customer's mobile through the Twilio stand-in, a second POST of the
// same page makes nothing more, and an SMS from the same number earlier is
// the same contact.
func TestFormsGateway(t *testing.T) {
	t.Parallel()
	pixel, err := os.ReadFile("testdata/channels/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), formsYAML(dc, sink.addr, fake.URL()))
			g.start()
			base := "http://" + g.addr

			// The customer wrote by SMS first.
			const mobile = "+966551112233"
			in := fake.InboundForm(faketwilio.Inbound{From: mobile, To: smsNumber, Body: "السلام عليكم"})
			if code, body := postWebhook(t, signedPost(t, fake, base+"/webhooks/twilio/sms", in)); code != http.StatusOK {
				t.Fatalf("SMS webhook: %d %s", code, body)
			}

			resp, page := getPage(t, base+"/forms/equipment_maintenance?lang=ar")
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `dir="rtl"`) {
				t.Fatalf("form page: %s\n%s", resp.Status, page)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors https://uqu.edu.sa") {
				t.Errorf("CSP %q", csp)
			}
			tok := formTokenRE.FindStringSubmatch(page)
			if tok == nil {
				t.Fatal("no token on the page")
			}
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			for k, v := range map[string]string{
				"token": tok[1], "lang": "ar", "notify": "sms",
				"f_name": "نورة السبيعي", "f_category": "academic", "f_email": "noura@example.edu.sa", "f_mobile": "0551112233",
				"f_college": "كلية الهندسة", "f_building": "٣", "f_room": "214",
				"f_device": "جهاز العرض", "f_fault": "ينطفئ وحده بعد دقائق",
			} {
				mw.WriteField(k, v)
			}
			fw, _ := mw.CreateFormFile("f_photo", "عطل.png")
			fw.Write(pixel)
			mw.Close()
			submit := func() *http.Response {
				req, _ := http.NewRequest("POST", base+"/forms/equipment_maintenance", bytes.NewReader(body.Bytes()))
				req.Header.Set("Content-Type", mw.FormDataContentType())
				// What a browser on our own page sends.
				req.Header.Set("Origin", base)
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				resp, err := noRedirect.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			first := submit()
			sent := first.Header.Get("Location")
			if first.StatusCode != http.StatusSeeOther || !strings.HasPrefix(sent, "/forms/equipment_maintenance/sent/") {
				t.Fatalf("POST: %s to %q", first.Status, sent)
			}
			if again := submit(); again.StatusCode != http.StatusSeeOther || again.Header.Get("Location") != sent {
				t.Errorf("second POST: %s to %q, want the same confirmation", again.Status, again.Header.Get("Location"))
			}
			resp, page = getPage(t, base+sent)
			ref := formRefRE.FindStringSubmatch(page)
			if resp.StatusCode != http.StatusOK || ref == nil {
				t.Fatalf("confirmation: %s\n%s", resp.Status, page)
			}

			var tl ticketList
			g.api("/api/v1/tickets", &tl)
			if len(tl.Tickets) != 1 || tl.Tickets[0].Ref != ref[1] || tl.Tickets[0].Department != "maintenance_center" {
				t.Fatalf("tickets %+v, want one, %s, for maintenance_center", tl.Tickets, ref[1])
			}
			st := g.stats()
			if st.Contacts != 1 || st.MessagesByChannel[message.Form] != 1 || st.MessagesByChannel[message.SMS] != 1 {
				t.Errorf("contacts %d, messages by channel %v: want one contact, one form, one SMS", st.Contacts, st.MessagesByChannel)
			}

			mails := sinkHolds(t, sink, 1)
			if got := strings.Join(mails[0].rcpt, ","); !strings.Contains(got, "noura@example.edu.sa") {
				t.Errorf("acknowledgement to %q", got)
			}
			if !bytes.Contains(mails[0].raw, []byte(ref[1])) {
				t.Errorf("the mailed acknowledgement lacks %s:\n%s", ref[1], mails[0].raw)
			}
			// Two SMS: the answer to the greeting and the acknowledgement,
			// in either order (each is its own send job).
			eventually(t, 30*time.Second, "the acknowledgement by SMS", func() (bool, string) {
				return len(sentTo(fake, mobile)) >= 2, fmt.Sprintf("%d at Twilio", len(fake.Sent()))
			})
			acks := sentTo(fake, mobile)
			withRef := 0
			for _, a := range acks {
				if strings.Contains(a.Body, ref[1]) {
					withRef++
				}
			}
			if len(acks) != 2 || withRef != 1 {
				t.Errorf("SMS %+v, want two, one of them with %s", acks, ref[1])
			}

			// The same customer calls; the representative guides her to the
			// form and sends it and the rating link by WhatsApp.
			call := `{"id":"call-1","name":"نورة السبيعي","category":"academic","mobile":"0551112233","employer":"كلية الهندسة",
				"inquiry":"كيف أطلب صيانة السبورة الذكية؟","outcome":"guided","topic":"equipment_maintenance",
				"send":"whatsapp","links":["equipment_maintenance#0"],"rating":true}`
			for i, want := range []int{http.StatusCreated, http.StatusOK} { // a retry logs nothing more
				req, _ := http.NewRequest("POST", base+"/api/v1/calls", strings.NewReader(call))
				req.Header.Set("Authorization", "Bearer "+g.token)
				req.Header.Set("Content-Type", "application/json")
				code, body := postWebhook(t, req)
				if code != want {
					t.Fatalf("log the call (%d): %d %s", i, code, body)
				}
			}
			eventually(t, 30*time.Second, "the call's follow-up by WhatsApp", func() (bool, string) {
				return len(sentTo(fake, "whatsapp:"+mobile)) >= 1, fmt.Sprintf("%d at Twilio", len(fake.Sent()))
			})
			wa := sentTo(fake, "whatsapp:"+mobile)
			if len(wa) != 1 || wa[0].From != twilioWhatsAppNumber {
				t.Fatalf("WhatsApp messages %+v, want one from %s", wa, twilioWhatsAppNumber)
			}
			for _, s := range []string{base + "/forms/equipment_maintenance", "/survey"} {
				if !strings.Contains(wa[0].Body, s) {
					t.Errorf("follow-up %q lacks %q", wa[0].Body, s)
				}
			}
			st = g.stats()
			if st.Contacts != 1 || st.MessagesByChannel[message.Phone] != 1 {
				t.Errorf("contacts %d, messages by channel %v: want one contact with one call", st.Contacts, st.MessagesByChannel)
			}

			req, _ := http.NewRequest("GET", base+"/metrics", nil)
			req.Header.Set("Authorization", "Bearer "+g.token)
			mr, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			metrics, _ := io.ReadAll(mr.Body)
			mr.Body.Close()
			for _, s := range []string{`wasl_form_submissions_total{outcome="accepted"} 1`, `wasl_form_submissions_total{outcome="duplicate"} 1`} {
				if !strings.Contains(string(metrics), s) {
					t.Errorf("/metrics lacks %s", s)
				}
			}
		})
	}
}
