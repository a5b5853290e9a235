package e2e

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// TestFormsBrowser fills the maintenance form in Arabic in headless
// Chromium: a refused submission keeps the values and shows the errors
// in Arabic beside the fields; the corrected one, with a photo, shows the
// ticket reference; a double submit and a refresh make one ticket; a
// filled honeypot is refused and makes none; the acknowledgement reaches
// the SMTP server. Screenshots go to testdata/screenshots.
func TestFormsBrowser(t *testing.T) {
	photo, err := filepath.Abs("testdata/channels/pixel.png")
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dc := dovecot.Start(t)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), formsYAML(dc, sink.addr, fake.URL()))
			g.start()
			base := "http://" + g.addr
			ctx := browser(t)
			tickets := func() int {
				var tl ticketList
				g.api("/api/v1/tickets", &tl)
				return len(tl.Tickets)
			}
			val := func(sel string) string {
				v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("value of %s: %v", sel, err)
				}
				return v
			}
			text := func(sel string) string {
				v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return v
			}

			run(t, ctx, "open the form",
				chromedp.Navigate(base+"/forms/equipment_maintenance?lang=ar"),
				chromedp.WaitVisible(chromedp.CSS(`#request-form`)))
			if dir, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dir`)); dir != "rtl" {
				t.Errorf("dir = %q, want rtl", dir)
			}
			screenshot(t, ctx, "form-"+be.name+"-ar", 390)

			// A mistake: a broken email, no device.
			run(t, ctx, "fill in with mistakes",
				chromedp.SendKeys(chromedp.CSS(`#f_name`), "نورة السبيعي"),
				chromedp.Click(chromedp.CSS(`input[name=f_category][value=academic]`)),
				chromedp.SendKeys(chromedp.CSS(`#f_email`), "noura@"),
				chromedp.SendKeys(chromedp.CSS(`#f_mobile`), "0551112233"),
				chromedp.SendKeys(chromedp.CSS(`#f_college`), "كلية الهندسة"),
				chromedp.SendKeys(chromedp.CSS(`#f_fault`), "ينطفئ وحده بعد دقائق"),
				chromedp.Click(chromedp.CSS(`#request-form button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`#f_email-error`)))
			if e := text(`#f_email-error`); !strings.Contains(e, "بريدًا إلكترونيًا صحيحًا") {
				t.Errorf("email error %q, want it in Arabic", e)
			}
			if e := text(`#f_device-error`); !strings.Contains(e, "مطلوب") {
				t.Errorf("device error %q", e)
			}
			if v := val(`#f_name`); v != "نورة السبيعي" {
				t.Errorf("name kept as %q", v)
			}
			if v := val(`#f_fault`); v != "ينطفئ وحده بعد دقائق" {
				t.Errorf("fault kept as %q", v)
			}
			screenshot(t, ctx, "form-"+be.name+"-refused", 390)
			if n := tickets(); n != 0 {
				t.Fatalf("%d tickets after a refusal", n)
			}

			// Corrected, with a photo; sent twice at once.
			run(t, ctx, "correct and send",
				chromedp.SetValue(chromedp.CSS(`#f_email`), "noura@example.edu.sa"),
				chromedp.SendKeys(chromedp.CSS(`#f_device`), "جهاز العرض"),
				chromedp.SetUploadFiles(chromedp.CSS(`#f_photo`), []string{photo}),
				chromedp.Evaluate[chromedp.Void](`(() => { const f = document.getElementById("request-form"); f.requestSubmit(); f.requestSubmit(); })()`),
				chromedp.WaitVisible(chromedp.CSS(`#ticket-ref`)))
			ref := text(`#ticket-ref`)
			if !strings.HasPrefix(ref, "EDU-") {
				t.Fatalf("reference %q", ref)
			}
			screenshot(t, ctx, "form-"+be.name+"-sent", 390)
			run(t, ctx, "refresh the confirmation", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#ticket-ref`)))
			if n := tickets(); n != 1 {
				t.Errorf("%d tickets, want 1", n)
			}
			var conv struct {
				Messages []struct {
					Fields      []struct{ Name, Value string } `json:"fields"`
					Attachments []struct {
						ContentType string `json:"content_type"`
					} `json:"attachments"`
				} `json:"messages"`
			}
			var tl ticketList
			g.api("/api/v1/tickets", &tl)
			if tl.Tickets[0].Department != "maintenance_center" || tl.Tickets[0].Ref != ref {
				t.Errorf("ticket %+v", tl.Tickets[0])
			}
			g.api(fmt.Sprintf("/api/v1/conversations/%d", tl.Tickets[0].ConversationID), &conv)
			if len(conv.Messages) != 1 || len(conv.Messages[0].Fields) < 8 || len(conv.Messages[0].Attachments) != 1 ||
				conv.Messages[0].Attachments[0].ContentType != "image/png" {
				t.Errorf("the stored submission %+v", conv.Messages)
			}

			// A bot fills the field people cannot see.
			run(t, ctx, "the honeypot",
				chromedp.Navigate(base+"/forms/equipment_maintenance?lang=ar"),
				chromedp.WaitVisible(chromedp.CSS(`#request-form`)),
				chromedp.SendKeys(chromedp.CSS(`#f_name`), "bot"),
				chromedp.Click(chromedp.CSS(`input[name=f_category][value=external]`)),
				chromedp.SendKeys(chromedp.CSS(`#f_email`), "bot@example.com"),
				chromedp.SendKeys(chromedp.CSS(`#f_college`), "x"),
				chromedp.SendKeys(chromedp.CSS(`#f_device`), "x"),
				chromedp.SendKeys(chromedp.CSS(`#f_fault`), "x"),
				chromedp.SetValue(chromedp.CSS(`#website`), "http://spam.example"),
				chromedp.Click(chromedp.CSS(`#request-form button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-page=message]`)))
			if s := text(`[data-page=message] [role=alert]`); !strings.Contains(s, "تعذّر قبول هذا الطلب") {
				t.Errorf("honeypot page says %q", s)
			}
			if n := tickets(); n != 1 {
				t.Errorf("%d tickets after the honeypot, want 1", n)
			}

			mails := sinkHolds(t, sink, 1)
			if !bytes.Contains(mails[0].raw, []byte(ref)) {
				t.Errorf("the acknowledgement lacks %s", ref)
			}
		})
	}
}
