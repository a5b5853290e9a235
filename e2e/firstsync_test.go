package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
)

// cursorUID is how far the gateway's sync of a mailbox got
// (mailbox_cursors.last_uid), 0 before its first sync.
func (g *gateway) cursorUID(channel, mailbox string) int64 {
	g.t.Helper()
	var uid int64
	err := g.store().DB().QueryRowContext(context.Background(), `SELECT mc.last_uid FROM mailbox_cursors mc
		JOIN channels c ON c.id = mc.channel_id WHERE c.name = $1 AND mc.mailbox = $2`, channel, mailbox).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return 0
	}
	if err != nil {
		g.t.Fatalf("cursor of %s/%s: %v", channel, mailbox, err)
	}
	return uid
}

// pendingReplies counts outbound rows not yet in a final state.
func (g *gateway) pendingReplies() int64 {
	g.t.Helper()
	st := g.stats()
	return st.Outbound[message.StateQueued] + st.Outbound[message.StateSending]
}

// channelDecisions lists the decided action of every message of a channel,
// by Message-ID.
func (g *gateway) channelDecisions(channel string) map[string]string {
	g.t.Helper()
	rows, err := g.store().DB().QueryContext(context.Background(), `SELECT m.header_message_id, m.decision FROM messages m
		JOIN channels c ON c.id = m.channel_id WHERE c.name = $1`, channel)
	if err != nil {
		g.t.Fatalf("messages of %s: %v", channel, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id string
		var raw sql.NullString
		if err := rows.Scan(&id, &raw); err != nil {
			g.t.Fatal(err)
		}
		var d decision
		if raw.Valid {
			if err := json.Unmarshal([]byte(raw.String), &d); err != nil {
				g.t.Fatalf("decision of %s: %v", id, err)
			}
		}
		out[id] = d.Action
	}
	if err := rows.Err(); err != nil {
		g.t.Fatal(err)
	}
	return out
}

// TestEmailFirstSync connects the gateway to mailboxes that already hold
// mail, as happens when Wasl is pointed at a live support mailbox. By
// default the first sync starts at the mailbox's end: nothing old is
// ingested or answered, and the next mail is. A backfill (since: a date)
// ingests what the server received since then; what is older than the
// auto-reply window is stored as history, without a reply or a ticket.
func TestEmailFirstSync(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			const backfillUser = "backfill@example.test"
			backfillPass := dc.AddUser(t, backfillUser)
			now := time.Now()
			old, lastWeek := now.Add(-40*24*time.Hour), now.Add(-5*24*time.Hour)

			// faultMail("crash", 4k) is a broken projector: a ticket and an
			// acknowledgement when it is new.
			for i, at := range []time.Time{old, old, old, {}, {}} {
				dc.AppendAt(t, dc.User(), "INBOX", faultMail("crash", 4*i), at)
			}
			backfill := []time.Time{old, old, lastWeek, lastWeek, {}}
			for i, at := range backfill {
				dc.AppendAt(t, backfillUser, "INBOX", faultMail("crash", 4*(10+i)), at)
			}

			sink := startPostfixSink(t)
			since := now.Add(-10 * 24 * time.Hour).Format(time.DateOnly)
			second := strings.Replace(emailChannelYAML(dc.Addr(), backfillUser, backfillPass, sink.addr, "since:"+since),
				"channels:\n  - name: support-email", "  - name: backfill", 1)
			g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "now")+second)
			g.start()

			eventually(t, 60*time.Second, "both first syncs through UID 5 and every reply final", func() (bool, string) {
				a, b, p := g.cursorUID("support-email", "INBOX"), g.cursorUID("backfill", "INBOX"), g.pendingReplies()
				return a == 5 && b == 5 && p == 0, fmt.Sprintf("cursors %d and %d, %d replies pending", a, b, p)
			})
			if got := g.channelDecisions("support-email"); len(got) != 0 {
				t.Errorf("the default first sync ingested the mailbox's mail: %v", got)
			}
			want := map[string]string{
				"crash-48@example.edu.sa": "history",
				"crash-52@example.edu.sa": "history",
				"crash-56@example.edu.sa": "ticket",
			}
			if got := g.channelDecisions("backfill"); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("backfill since %s ingested %v, want %v (the two older mails left alone, last week's as history)", since, got, want)
			}
			st := g.stats()
			if st.Tickets != 1 || st.Outbound[message.StateSent] != 1 || len(sink.messages(t)) != 1 {
				t.Errorf("after the first syncs: %d tickets, outbound %v, %d mails at the SMTP server; want 1, 1 sent, 1",
					st.Tickets, st.Outbound, len(sink.messages(t)))
			}

			// New mail is new: ingested and answered.
			dc.Append(t, dc.User(), "INBOX", faultMail("crash", 400))
			eventually(t, 30*time.Second, "the new mail ingested and answered", func() (bool, string) {
				n, p := len(g.channelDecisions("support-email")), g.pendingReplies()
				return g.cursorUID("support-email", "INBOX") == 6 && n == 1 && p == 0, fmt.Sprintf("%d messages, %d replies pending", n, p)
			})
			if got := g.channelDecisions("support-email"); got["crash-400@example.edu.sa"] != "ticket" {
				t.Errorf("new mail decided %v, want a ticket", got)
			}
			if st := g.stats(); st.Tickets != 2 || st.Outbound[message.StateSent] != 2 || len(sink.messages(t)) != 2 {
				t.Errorf("after the new mail: %d tickets, outbound %v, %d mails at the SMTP server; want 2, 2 sent, 2",
					st.Tickets, st.Outbound, len(sink.messages(t)))
			}
		})
	}
}
