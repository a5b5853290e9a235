package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/faketwilio"
)

// TestCallsBrowser logs a call in headless Chromium as an Arabic-speaking
// representative: the inbox's navigation leads to the call page; a call
// without the mobile is refused with the error in Arabic beside the field
// and everything entered kept; the corrected call opens its conversation
// and sends the caller the picked link by SMS.
func TestCallsBrowser(t *testing.T) {
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			dc := dovecot.Start(t)
			sink := startPostfixSink(t)
			fake := faketwilio.Start(t, twilioAccount, twilioToken)
			g := newGateway(t, be.url(t), formsYAML(dc, sink.addr, fake.URL()))
			addUser(t, g, "agent@uni.example", "سارة", "agent", "ar", agentPassword, "maintenance_center")
			g.start()
			base := "http://" + g.addr
			ctx := browser(t)
			text := func(sel string) string {
				v, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("text of %s: %v", sel, err)
				}
				return v
			}
			val := func(sel string) string {
				v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(sel)))
				if err != nil {
					t.Fatalf("value of %s: %v", sel, err)
				}
				return v
			}

			signIn(t, ctx, base+"/", "agent@uni.example", agentPassword, `nav.nav`)
			run(t, ctx, "the navigation's call link", chromedp.WaitVisible(chromedp.CSS(`nav a[href^="/calls/new"]`)))
			if l := text(`nav a[href^="/calls/new"]`); l != "تسجيل مكالمة" {
				t.Errorf("the navigation's call link says %q", l)
			}
			run(t, ctx, "open the call page",
				chromedp.Click(chromedp.CSS(`nav a[href^="/calls/new"]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-page=log-call]`)))
			if dir, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.dir`)); dir != "rtl" {
				t.Errorf("dir = %q, want rtl", dir)
			}

			// The mobile is left out; the browser's own check is off so the
			// server's answer is what is seen.
			run(t, ctx, "save without the mobile",
				chromedp.SendKeys(chromedp.CSS(`#name`), "خالد"),
				chromedp.SendKeys(chromedp.CSS(`#inquiry`), "أين نموذج الصيانة؟"),
				chromedp.Click(chromedp.CSS(`input[name=outcome][value=guided]`)),
				chromedp.SetValue(chromedp.CSS(`#topic`), "equipment_maintenance"),
				chromedp.Click(chromedp.CSS(`input[name=send][value=sms]`)),
				chromedp.Click(chromedp.CSS(`input[name=links][value="equipment_maintenance#0"]`)),
				chromedp.Evaluate[chromedp.Void](`(() => { const f = document.querySelector("[data-page=log-call] form"); f.noValidate = true; f.requestSubmit(); })()`),
				chromedp.WaitVisible(chromedp.CSS(`#mobile-error`)))
			if e := text(`#mobile-error`); e != "هذا الحقل مطلوب." {
				t.Errorf("mobile error %q, want it in Arabic", e)
			}
			for sel, want := range map[string]string{`#name`: "خالد", `#inquiry`: "أين نموذج الصيانة؟", `#topic`: "equipment_maintenance"} {
				if v := val(sel); v != want {
					t.Errorf("%s kept as %q, want %q", sel, v, want)
				}
			}
			kept, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.querySelector('input[name=outcome][value=guided]').checked &&
				document.querySelector('input[name=send][value=sms]').checked &&
				document.querySelector('input[name=links][value="equipment_maintenance#0"]').checked`))
			if err != nil || !kept {
				t.Errorf("outcome, send and link kept: %v %v", kept, err)
			}
			screenshot(t, ctx, "call-"+be.name+"-refused", 390)

			run(t, ctx, "save with the mobile",
				chromedp.SendKeys(chromedp.CSS(`#mobile`), "0551112233"),
				chromedp.Click(chromedp.CSS(`[data-page=log-call] button[type=submit]`)),
				chromedp.WaitVisible(chromedp.CSS(`[data-page=conversation]`)))
			if s := text(`[data-page=conversation]`); !strings.Contains(s, "أين نموذج الصيانة؟") {
				t.Errorf("the call's conversation lacks the inquiry:\n%s", s)
			}
			eventually(t, 30*time.Second, "the call's follow-up by SMS", func() (bool, string) {
				return len(sentTo(fake, "+966551112233")) >= 1, fmt.Sprintf("%d at Twilio", len(fake.Sent()))
			})
			if sms := sentTo(fake, "+966551112233"); len(sms) != 1 || !strings.Contains(sms[0].Body, base+"/forms/equipment_maintenance") {
				t.Errorf("SMS %+v, want one with the form's link", sms)
			}
		})
	}
}
