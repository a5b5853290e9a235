package e2e

import (
	"context"
	"fmt"
	"io"
	"mime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/internal/pgtest"
	"github.com/wasl-dev/wasl/internal/svgtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// TestWeeklyReportMailedOnce: two replicas on one PostgreSQL run the
// weekly report job every second, and the leader changes hands half-way;
// the classrooms head gets the week's report at the SMTP server (Postfix's
// smtp-sink) exactly once, with the department's numbers in the text and
// a chart in the HTML part that parses as SVG.
func TestWeeklyReportMailedOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dbURL := pgtest.URL(t)
	dc := dovecot.Start(t)
	sink := startPostfixSink(t)

	// The department's tickets and its head, in the database before the
	// first run: 2 open, 1 in progress.
	st, err := store.Open(ctx, dbURL, t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const headAddr = "classrooms-head@uni.example"
	seedClassrooms(t, st, headAddr, []string{"open", "open", "in_progress"})

	// The report of the week before is due at once (its moment, Sunday
	// 07:30, has passed); the job looks every second.
	channels := emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all") + `tickets:
  notify_channel: support-email
  weekly_report:
    check_every: 1s
`
	a := newGateway(t, dbURL, channels)
	b := newGateway(t, dbURL, channels)
	a.start()
	b.start()

	toHead := func() []sunk {
		var out []sunk
		for _, m := range sink.messages(t) {
			for _, r := range m.rcpt {
				if r == headAddr {
					out = append(out, m)
				}
			}
		}
		return out
	}
	eventually(t, 60*time.Second, "the weekly report at the SMTP server", func() (bool, string) {
		n := len(toHead())
		return n > 0, fmt.Sprintf("%d mails to the head; %s", n, outbox(t, st))
	})

	// More runs after it went out: on a, then, once a stopped, on b.
	runs := func() int {
		var n int
		if err := st.DB().QueryRow(`SELECT COUNT(*) FROM river_job WHERE kind = 'weekly_report' AND state = 'completed'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := runs()
	eventually(t, 30*time.Second, "the job run again", func() (bool, string) {
		n := runs()
		return n >= before+2, fmt.Sprintf("%d runs, %d when the mail went out", n, before)
	})
	aProc, bProc := a.processName(), b.processName()
	a.stop()
	eventually(t, 60*time.Second, "b leads River", func() (bool, string) {
		l := b.riverLeader()
		return l == bProc, "leader " + l + ", a was " + aProc
	})
	before = runs()
	eventually(t, 30*time.Second, "the job run on b", func() (bool, string) {
		n := runs()
		return n >= before+2, fmt.Sprintf("%d runs, %d when b led", n, before)
	})
	// Every staff mail that was queued has gone out.
	eventually(t, 30*time.Second, "staff mail settled", func() (bool, string) {
		var pending int
		err := st.DB().QueryRow(`SELECT (SELECT COUNT(*) FROM staff_mails WHERE state <> 'sent')
			+ (SELECT COUNT(*) FROM river_job WHERE kind = 'staff_mail' AND state NOT IN ('completed', 'discarded', 'cancelled'))`).Scan(&pending)
		return err == nil && pending == 0, fmt.Sprintf("%d pending (%v)", pending, err)
	})
	b.stop()

	got := toHead()
	if len(got) != 1 {
		t.Fatalf("%d weekly reports reached the head, want 1", len(got))
	}
	text, html := mailParts(t, got[0].raw)
	subject, _ := got[0].header.Subject()
	if !strings.Contains(subject, "Weekly ticket report") {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"Open / transferred: 2", "Pending: 0", "In progress: 1", "Total: 3", "Closed this week: 0"} {
		if !strings.Contains(text, want) {
			t.Errorf("the report's text lacks %q:\n%s", want, text)
		}
	}
	svgtest.CheckChart(t, html)
}

// seedClassrooms stores a head of classrooms who reads English and a
// ticket of that department in each of the states.
func seedClassrooms(t *testing.T, st *store.Store, headAddr string, states []string) {
	t.Helper()
	ctx := context.Background()
	head := store.User{Email: headAddr, Name: "Head of classrooms", Role: store.RoleAgent, Language: "en", PasswordHash: "x", Active: true,
		Departments: []string{"classrooms"}}
	if err := st.CreateUser(ctx, &head); err != nil {
		t.Fatal(err)
	}
	if err := st.SetDepartmentHead(ctx, head.ID, "classrooms", true); err != nil {
		t.Fatal(err)
	}
	// The channel the gateway's config declares: it takes this row over.
	ch := store.Channel{Name: "support-email", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-time.Hour)
	for i, state := range states {
		err := st.InTx(ctx, func(tx *store.Tx) error {
			who, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: fmt.Sprintf("student%d@example.edu.sa", i)})
			if err != nil {
				return err
			}
			c := store.Conversation{ContactID: who.ID, ChannelID: ch.ID, Subject: fmt.Sprintf("request %d", i)}
			if err := tx.CreateConversation(ctx, &c); err != nil {
				return err
			}
			tk := store.Ticket{Prefix: "SEED", Year: created.Year(), Number: int64(i + 1), ConversationID: c.ID, ContactID: who.ID,
				Department: "classrooms", Subject: c.Subject, CreatedAt: created}
			if err := tx.CreateTicket(ctx, &tk); err != nil {
				return err
			}
			if state == "open" {
				return nil
			}
			_, err = tx.MoveTicket(ctx, tk.ID, state, "agent", "", created.Add(time.Minute), func(string) error { return nil })
			return err
		})
		if err != nil {
			t.Fatalf("seed ticket %d: %v", i, err)
		}
	}
}

// mailParts reads the text and HTML parts of a multipart mail.
func mailParts(t *testing.T, raw []byte) (text, html string) {
	t.Helper()
	r, err := mail.CreateReader(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	for {
		p, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read the mail's parts: %v", err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		body, err := io.ReadAll(p.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain":
			text = string(body)
		case "text/html":
			html = string(body)
		}
	}
	if text == "" || html == "" {
		t.Fatalf("the mail has no text or no HTML part:\n%s", raw)
	}
	return text, html
}

// outbox says where the weekly reports and staff mail are, for a failure.
func outbox(t *testing.T, st *store.Store) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{
		`SELECT department || ' ' || week_start || ' to ' || recipient FROM weekly_reports`,
		`SELECT key || ' ' || state || ' ' || error FROM staff_mails`,
		`SELECT kind || ' ' || state || ' ' || COUNT(*) FROM river_job GROUP BY kind, state`,
	} {
		rows, err := st.DB().Query(q)
		if err != nil {
			return err.Error()
		}
		for rows.Next() {
			var s string
			_ = rows.Scan(&s)
			b.WriteString(s + "; ")
		}
		rows.Close()
	}
	return b.String()
}
