//go:build demo

// The demo (make run) and its sandbox are built only with -tags demo, so
// the shipped binary carries no in-process IMAP server, SMTP sink or fake
// Twilio.

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/channels/sms"
	"github.com/wasl-dev/wasl/config"
	"github.com/wasl-dev/wasl/configs"
	"github.com/wasl-dev/wasl/configs/demo"
	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/internal/faketwilio"
	"github.com/wasl-dev/wasl/internal/sandbox"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/secrets"
	"github.com/wasl-dev/wasl/store"
)

func cmdDemo(ctx context.Context, args []string, stdout io.Writer, log *slog.Logger) error {
	fl := newFlags("demo")
	dir := fl.String("dir", "data/demo", "where the demo keeps its database, configuration and sent replies")
	addr := fl.String("addr", "127.0.0.1:8080", "HTTP listen address")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	outbox := filepath.Join(*dir, "outbox")
	if err := os.MkdirAll(outbox, 0o755); err != nil {
		return fmt.Errorf("demo directory: %w", err)
	}

	sink, err := sandbox.StartSMTPSink(log)
	if err != nil {
		return err
	}
	defer sink.Close()
	sink.SetDir(outbox)
	imapSrv, err := sandbox.StartIMAP("support@demo.wasl.test", "demo", log)
	if err != nil {
		return err
	}
	defer imapSrv.Close()
	mails, err := fs.Glob(demo.Files, "mail/*.eml")
	if err != nil {
		return err
	}
	for _, name := range mails {
		raw, err := demo.Files.ReadFile(name)
		if err != nil {
			return err
		}
		if err := imapSrv.Append("INBOX", raw); err != nil {
			return fmt.Errorf("seed %s: %w", name, err)
		}
	}
	tw := faketwilio.New("AC00000000000000000000000000000d00", "demoauthtoken")
	defer tw.Close()

	// The demo's configuration is written out so the user can read and edit
	// it; the bank is rewritten from the built-in copy each run.
	for name, files := range map[string]fs.ReadFileFS{"demo.yaml": demo.Files, "bank.yaml": configs.Files} {
		data, err := files.ReadFile(name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			return err
		}
	}
	token := randomToken()
	absDir, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	env := map[string]string{
		"DEMO_DIR": absDir, "DEMO_TOKEN": token, "DEMO_ADDR": *addr,
		"DEMO_IMAP_ADDR": imapSrv.Addr(), "DEMO_SMTP_ADDR": sink.Addr(),
	}
	cfgPath := filepath.Join(*dir, "demo.yaml")
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	cfg, err := config.Parse(data, cfgPath, func(k string) (string, bool) {
		if v, ok := env[k]; ok {
			return v, true
		}
		if k == "WASL_DATABASE_URL" || k == "WASL_API_TOKEN" {
			return os.LookupEnv(k)
		}
		return "", false
	})
	if err != nil {
		return err
	}
	if cfg.SecretKey == "" && cfg.SecretKeyFile == "" {
		// Operators adding a channel on the page need a key to store its
		// password: the demo keeps one in its directory.
		if cfg.SecretKeyFile, err = demoSecretKey(absDir); err != nil {
			return err
		}
	}
	a, err := newApp(ctx, cfg, log, tw.Client())
	if err != nil {
		return err
	}
	staff, err := demoUsers(ctx, a.store)
	if err != nil {
		a.store.Close()
		return err
	}
	ls, err := a.listen()
	if err != nil {
		a.store.Close()
		return fmt.Errorf("listen on %s (is another wasl running? try --addr 127.0.0.1:8081): %w", cfg.HTTP.Addr, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- a.serve(ctx, ls) }()

	// Two SMS, posted to our own webhook signed as Twilio would sign them.
	demoSMS := []struct{ from, body string }{
		{"+966551234567", "السلام عليكم الشاشة الذكية في قاعة 7 ما تشتغل نبي صيانة ضروري"},
		{"0561112233", "Hi, can you film our workshop on Monday and set up a zoom link for remote attendees?"},
	}
	base := "http://" + ls.public.Addr().String()
	for i, m := range demoSMS {
		if err := postSignedSMS(ctx, base, cfg.HTTP.PublicURL, "sms", "demoauthtoken", fmt.Sprintf("SM%032x", i+1), m.from, m.body); err != nil {
			log.Warn("demo SMS not accepted", "err", err)
		}
	}

	fmt.Fprintf(stdout, `
Wasl demo is running on %[1]s (SQLite in %[2]s).

  %[3]d mails were put in a local IMAP mailbox and %[4]d SMS posted to the signed
  Twilio webhook; they are being classified, answered and turned into tickets.

%[7]s
  Tickets:        curl -s -H 'Authorization: Bearer %[5]s' %[1]s/api/v1/tickets
  Conversations:  curl -s -H 'Authorization: Bearer %[5]s' %[1]s/api/v1/conversations
  Email replies:  %[6]s/*.eml   (the local SMTP sink keeps each one)
  SMS replies:    sent to the local stand-in for Twilio's API (see the log)
  Configuration:  %[2]s/demo.yaml and %[2]s/bank.yaml
  Try the classifier:  go run ./cmd/wasl classify "ابغى اطبع شهادة اخلاء طرف"

Press Ctrl-C to stop.
`, base, absDir, len(mails), len(demoSMS), token, outbox, staffLines(base, staff))

	go func() {
		wait, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		_ = sink.Wait(wait, 4)
		if err := demoClosedTickets(ctx, a); err != nil {
			log.Warn("demo: closed tickets with ratings not made", "err", err)
		}
		if st, err := a.store.Stats(ctx); err == nil {
			fmt.Fprintf(stdout, "demo: %d messages in, %d tickets opened, %d replies out so far (%d mails in %s)\n",
				st.Messages, st.Tickets, sumStates(st.Outbound), len(sink.Messages()), outbox)
		}
	}()
	return <-errc
}

func sumStates(m map[message.DeliveryState]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// postSignedSMS posts a Twilio-style inbound SMS to our own webhook, signed
// with the channel's auth token against the public URL, as Twilio would.
func postSignedSMS(ctx context.Context, base, publicURL, channel, authToken, sid, from, body string) error {
	path := "/webhooks/twilio/" + channel
	form := url.Values{
		"MessageSid": {sid}, "AccountSid": {"AC00000000000000000000000000000d00"},
		"From": {from}, "To": {"+966500000001"}, "Body": {body}, "NumMedia": {"0"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", sms.Sign(authToken, strings.TrimRight(publicURL, "/")+path, form))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("webhook answered %s: %s", resp.Status, b)
	}
	return nil
}

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// demoClosedTickets closes a few of the demo's tickets the way staff would
// (customer service, with the outcome and a reply; the closing message
// with its survey link goes to the outbox) and answers their surveys, so
// /reports shows closed tickets and satisfaction the first time it is
// opened. A demo run again over its data does it once.
func demoClosedTickets(ctx context.Context, a *app) error {
	if a.svc == nil {
		return nil
	}
	if answered, err := a.store.SurveysBetween(ctx, time.Time{}, time.Now().Add(time.Hour)); err != nil || len(answered) > 0 {
		return err
	}
	open, err := a.store.ListTickets(ctx, store.TicketFilter{Limit: 50})
	if err != nil {
		return err
	}
	ratings := []struct {
		outcome, reason, reply string
		service, staff         int
		comment                string
	}{
		{store.OutcomeDone, "", "تمت الصيانة وعادت الشاشة للعمل.", 5, 5, "شكرًا على سرعة الاستجابة"},
		{inbox.OutcomeUnavailable, "", "The replacement part is out of stock; we will reopen your request when it arrives.", 3, 4, ""},
		{store.OutcomeDone, "", "تم تنفيذ الطلب.", 4, 3, ""},
	}
	op := inbox.Principal{System: true}
	survey := regexp.MustCompile(`/survey/([A-Za-z0-9_-]+)`)
	n := 0
	for _, t := range open {
		if n == len(ratings) {
			break
		}
		if t.Status == store.TicketClosed {
			continue
		}
		r := ratings[n]
		o, err := a.svc.Close(ctx, op, t.ConversationID, r.outcome, r.reason, r.reply)
		if err != nil {
			continue // not one customer service can close (no customer message): the next
		}
		n++
		m := survey.FindStringSubmatch(o.Text)
		if m == nil {
			continue
		}
		if err := a.svc.AnswerSurvey(ctx, m[1], r.service, r.staff, r.comment); err != nil {
			return fmt.Errorf("answer the survey of %s: %w", t.Ref, err)
		}
	}
	return nil
}

// demoSecretKey is the demo's secret key file (made 0600 on the first run,
// then kept, so what was stored under it still opens).
func demoSecretKey(dir string) (string, error) {
	path := filepath.Join(dir, "secret.key")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if _, err := secrets.WriteKeyFile(path); err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	return path, nil
}
