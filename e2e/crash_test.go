package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
)

const crashMails = 2000

// crashMail is mail i of the crash test: a mix of actionable requests
// (ticket and acknowledgement), questions and out-of-scope mail, in both
// languages, each from its own sender so every one is a new conversation.
func crashMail(i int) []byte {
	bodies := []struct{ subject, text string }{
		{"Projector broken", "The projector in room %d is broken and shows no picture, please send a technician to repair it."},
		{"صيانة", "البروجكتر في القاعة %d خربان ما يشتغل نبي صيانة ضروري"},
		{"Smart board needed", "We need a new smart board and two projectors supplied for classroom %d next semester."},
		{"grades", "My grade in course %d is wrong on the transcript, who can fix it?"},
	}
	b := bodies[i%len(bodies)]
	return []byte(fmt.Sprintf("From: Customer %[1]d <customer%[1]d@example.edu.sa>\r\nTo: support@example.test\r\n"+
		"Subject: %[2]s\r\nMessage-ID: <crash-%[1]d@example.edu.sa>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\n"+
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+b.text+"\r\n", i, b.subject, i))
}

// TestCrashNothingLostNothingDoubled ingests 2,000 mails while killing the
// gateway with SIGKILL at random moments, then checks that exactly 2,000
// messages are stored, every ticket and reply exists once, and the SMTP
// server got each reply.
func TestCrashNothingLostNothingDoubled(t *testing.T) {
	t.Parallel()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			raws := make([][]byte, crashMails)
			for i := range raws {
				raws[i] = crashMail(i)
			}
			dc.SeedMaildir(t, "INBOX", raws)
			sink := startPostfixSink(t)
			g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all")+"    # crash test\n")
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			t.Logf("random seed %d", seed)

			const kills = 5
			midWork := 0
			g.start()
			for k := 0; k < kills; k++ {
				time.Sleep(time.Duration(150+rng.IntN(1500)) * time.Millisecond)
				st := g.stats()
				if st.Messages < crashMails || st.Outbound[message.StateQueued]+st.Outbound[message.StateSending] > 0 {
					midWork++
				}
				t.Logf("kill -9 #%d at messages=%d outbound=%v", k+1, st.Messages, st.Outbound)
				g.kill9()
				g.start()
			}
			if midWork < 3 {
				t.Errorf("only %d of %d kills landed while work was pending; the test proves too little", midWork, kills)
			}

			eventually(t, 5*time.Minute, "all mails in and all replies out", func() (bool, string) {
				st := g.stats()
				pending := st.Outbound[message.StateQueued] + st.Outbound[message.StateSending]
				return st.Messages == crashMails && pending == 0, fmt.Sprintf("messages=%d outbound=%v", st.Messages, st.Outbound)
			})
			g.stop()

			st := g.stats()
			if st.Messages != crashMails || st.Quarantined != 0 {
				t.Fatalf("messages = %d (quarantined %d), want exactly %d", st.Messages, st.Quarantined, crashMails)
			}
			db := g.store().DB()
			one := func(q string) int64 {
				var n int64
				if err := db.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
				return n
			}
			// Every message that decided a ticket has exactly one; no
			// conversation has two; numbers are gap-free.
			wantTickets := one(`SELECT COUNT(*) FROM messages WHERE decision LIKE '%"create_ticket":true%'`)
			if wantTickets == 0 || st.Tickets != wantTickets {
				t.Errorf("tickets = %d, want %d (one per message that decided one)", st.Tickets, wantTickets)
			}
			if n := one(`SELECT COUNT(*) FROM (SELECT conversation_id FROM tickets GROUP BY conversation_id HAVING COUNT(*) > 1) d`); n != 0 {
				t.Errorf("%d conversations have more than one ticket", n)
			}
			if max := one(`SELECT COALESCE(MAX(number), 0) FROM tickets`); max != st.Tickets {
				t.Errorf("ticket numbers run to %d for %d tickets: gaps or doubles", max, st.Tickets)
			}
			// One reply row per message that decided one, all sent.
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

			// At the SMTP server: every reply, by its Message-ID. A send cut
			// by SIGKILL after the server took the mail but before we
			// recorded it is sent again with the same Message-ID (mail
			// clients show it once); there can be at most one such per
			// worker per kill, and the count is reported.
			got := map[string]int{}
			for _, m := range sink.messages(t) {
				id, _ := m.header.MessageID()
				got[id]++
			}
			rows, err := db.QueryContext(context.Background(), `SELECT header_message_id FROM outbound_messages`)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			resent := 0
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				switch n := got[id]; {
				case n == 0:
					t.Errorf("reply %s never reached the SMTP server", id)
				case n > 1:
					resent += n - 1
				}
				delete(got, id)
			}
			if len(got) != 0 {
				t.Errorf("%d mails at the SMTP server match no reply", len(got))
			}
			if resent > kills*4 {
				t.Errorf("%d replies were re-sent after crashes; at most %d in-flight sends could have been cut", resent, kills*4)
			}
			t.Logf("%d messages, %d tickets, %d replies, %d re-sent after a kill (same Message-ID), %d kills (%d mid-work)",
				st.Messages, st.Tickets, wantReplies, resent, kills, midWork)
		})
	}
}
