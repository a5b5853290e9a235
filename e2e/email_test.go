package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// emailChannelYAML is one email channel on a Dovecot account and an SMTP
// server. firstSync is its imap.first_sync: tests that fill the mailbox
// before the gateway starts need "all", or the first sync leaves that mail
// alone.
func emailChannelYAML(imapAddr, user, pass, smtpAddr, firstSync string) string {
	// poll_interval of an hour: anything that arrives while connected
	// arrives through IDLE.
	return fmt.Sprintf(`channels:
  - name: support-email
    kind: email
    imap:
      addr: %s
      security: plain
      username: %s
      password: %s
      poll_interval: 1h
      first_sync: %s
    smtp:
      addr: %s
      security: none
      from: "Customer Service <support@example.test>"
`, imapAddr, user, pass, firstSync, smtpAddr)
}

func readFixtures(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures in %s: %v", dir, err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = data
	}
	return out
}

type convList struct {
	Conversations []store.ConversationSummary `json:"conversations"`
}

type ticketList struct {
	Tickets []store.Ticket `json:"tickets"`
}

type decision struct {
	Action       string   `json:"action"`
	CreateTicket bool     `json:"create_ticket"`
	AutoReply    bool     `json:"auto_reply"`
	Reasons      []string `json:"reasons"`
}

// syncedAndSent waits until the gateway's sync of INBOX has reached uid,
// messages are stored and no reply is waiting to be sent: the point after
// which nothing more can happen without new mail.
func syncedAndSent(t *testing.T, g *gateway, uid int64, messages int64) {
	t.Helper()
	eventually(t, 60*time.Second, fmt.Sprintf("sync through UID %d, %d messages, every reply final", uid, messages), func() (bool, string) {
		c, st := g.cursorUID("support-email", "INBOX"), g.stats()
		p := st.Outbound[message.StateQueued] + st.Outbound[message.StateSending]
		return c >= uid && st.Messages == messages && p == 0, fmt.Sprintf("cursor %d, messages %d, outbound %v", c, st.Messages, st.Outbound)
	})
}

func outboundTotal(st store.Stats) int64 {
	var n int64
	for _, c := range st.Outbound {
		n += c
	}
	return n
}

// sinkHolds waits for the SMTP server to have written n mails (the
// gateway's sent rows say n were accepted) and returns them.
func sinkHolds(t *testing.T, sink *postfixSink, n int) []sunk {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d mails at the SMTP server", n), func() (bool, string) {
		got := len(sink.messages(t))
		return got >= n, fmt.Sprintf("%d", got)
	})
	got := sink.messages(t)
	if len(got) != n {
		t.Fatalf("mails at the SMTP server = %d, want %d", len(got), n)
	}
	return got
}

// TestEmailInterop runs the gateway against a real Dovecot and a real SMTP
// server (Postfix's smtp-sink) on both stores: Arabic mails in
// windows-1256 and ISO-8859-6, Arabic attachment names, a reply thread, an
// auto-reply, a bounce and a list mail.
func TestEmailInterop(t *testing.T) {
	t.Parallel()
	fixtures := readFixtures(t, "testdata/interop")
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			dc := dovecot.Start(t)
			names := make([]string, 0, len(fixtures))
			for n := range fixtures {
				names = append(names, n)
			}
			sort.Strings(names)
			var last uint32
			for _, n := range names {
				last = dc.Append(t, dc.User(), "INBOX", fixtures[n])
			}
			sink := startPostfixSink(t)
			g := newGateway(t, be.url(t), emailChannelYAML(dc.Addr(), dc.User(), dc.Password(), sink.addr, "all"))
			g.start()

			// Four answers: three tickets acknowledged and one referral.
			// The thread reply, the auto-reply, the bounce and the list
			// mail get none. A reply exists only as an outbound row, made
			// in its message's transaction: once the sync has passed the
			// last mail and every row is final, no more will come.
			syncedAndSent(t, g, int64(last), 8)
			if st := g.stats(); st.Outbound[message.StateSent] != 4 || outboundTotal(st) != 4 {
				t.Fatalf("outbound = %v, want 4 replies, all sent", st.Outbound)
			}
			replies := sinkHolds(t, sink, 4)

			var tl ticketList
			g.api("/api/v1/tickets", &tl)
			if len(tl.Tickets) != 3 {
				t.Fatalf("tickets = %d, want 3: %+v", len(tl.Tickets), tl.Tickets)
			}
			byMsgID := map[string]store.Message{}
			convOf := map[string]store.ConversationDetail{}
			// Spam is listed only when asked for: the bounce lands there.
			for _, list := range []string{"", "&scope=spam"} {
				var cl convList
				g.api("/api/v1/conversations?limit=100"+list, &cl)
				for _, c := range cl.Conversations {
					var d store.ConversationDetail
					g.api(fmt.Sprintf("/api/v1/conversations/%d", c.ID), &d)
					for _, m := range d.Messages {
						byMsgID[m.HeaderMessageID] = m
						convOf[m.HeaderMessageID] = d
					}
				}
			}
			if len(byMsgID) != 8 {
				t.Fatalf("messages reachable through conversations = %d, want 8", len(byMsgID))
			}

			want := map[string]struct {
				action string
				reply  bool
			}{
				"interop-01@example.edu.sa":         {"ticket", true},
				"interop-02@example.edu.sa":         {"ticket", true},
				"interop-03@example.edu.sa":         {"ticket", true},
				"interop-04@example.edu.sa":         {"append", false},
				"interop-05@example.edu.sa":         {"ignore", false},
				"interop-06@mx.example.edu.sa":      {"ignore", false},
				"interop-07@lists.example.edu.sa":   {"ignore", false},
				"interop-08@student.example.edu.sa": {"referral", true},
			}
			for id, w := range want {
				m, ok := byMsgID[id]
				if !ok {
					t.Errorf("message %s not stored", id)
					continue
				}
				var d decision
				if err := json.Unmarshal(m.Decision, &d); err != nil {
					t.Errorf("%s: decision %s: %v", id, m.Decision, err)
					continue
				}
				if d.Action != w.action || d.AutoReply != w.reply {
					t.Errorf("%s: decision %s/auto_reply=%v, want %s/%v (reasons %q)", id, d.Action, d.AutoReply, w.action, w.reply, d.Reasons)
				}
				if m.Quarantined {
					t.Errorf("%s quarantined: %s", id, m.QuarantineReason)
				}
			}

			// Charsets decoded.
			if m := byMsgID["interop-01@example.edu.sa"]; !strings.Contains(m.Text, "البروجكتر") || m.Subject != "صيانة جهاز عرض" || m.From.Name != "نورة الشمري" {
				t.Errorf("windows-1256 mail decoded as subject %q from %q text %q", m.Subject, m.From.Name, m.Text)
			}
			if m := byMsgID["interop-02@example.edu.sa"]; !strings.Contains(m.Text, "تغطية") || m.Subject != "تغطية حفل" {
				t.Errorf("ISO-8859-6 mail decoded as subject %q text %q", m.Subject, m.Text)
			}
			// Attachments with Arabic names (RFC 2231 and RFC 2047).
			att := byMsgID["interop-03@example.edu.sa"].Attachments
			var attNames []string
			for _, a := range att {
				attNames = append(attNames, a.Filename)
				if a.SHA256 == "" || a.Size == 0 {
					t.Errorf("attachment %q not stored: %+v", a.Filename, a)
				}
			}
			sort.Strings(attNames)
			if strings.Join(attNames, "|") != "صورة القاعة.png|قائمة الأجهزة.pdf" {
				t.Errorf("attachment names = %q", attNames)
			}
			// The reply thread joined the first mail's conversation and ticket.
			c1, c4 := convOf["interop-01@example.edu.sa"], convOf["interop-04@example.edu.sa"]
			if c1.Conversation.ID != c4.Conversation.ID || len(c1.Tickets) != 1 {
				t.Errorf("reply thread: conversation %d vs %d, tickets %d", c1.Conversation.ID, c4.Conversation.ID, len(c1.Tickets))
			}

			// Replies carry threading headers, the ticket reference and
			// the RFC 3834 marker, and go to the sender.
			refs := map[string]string{}
			for _, tk := range tl.Tickets {
				for id, d := range convOf {
					for _, x := range d.Tickets {
						if x.ID == tk.ID {
							refs[id] = tk.Ref
						}
					}
				}
			}
			seen := map[string]bool{}
			for _, r := range replies {
				irt, _ := r.header.MsgIDList("In-Reply-To")
				if len(irt) != 1 {
					t.Errorf("reply without In-Reply-To: %v", r.header.Header)
					continue
				}
				orig := irt[0]
				seen[orig] = true
				refList, _ := r.header.MsgIDList("References")
				if len(refList) == 0 || refList[len(refList)-1] != orig {
					t.Errorf("reply to %s: References %v should end with it", orig, refList)
				}
				if got := r.header.Get("Auto-Submitted"); got != "auto-replied" {
					t.Errorf("reply to %s: Auto-Submitted = %q", orig, got)
				}
				subj, _ := r.header.Subject()
				if ref := refs[orig]; ref != "" && !strings.Contains(subj, "[#"+ref+"]") {
					t.Errorf("reply to %s: subject %q lacks [#%s]", orig, subj, ref)
				}
				if id, _ := r.header.MessageID(); id == "" {
					t.Errorf("reply to %s has no Message-ID", orig)
				}
				if m := byMsgID[orig]; len(r.rcpt) != 1 || r.rcpt[0] != m.From.Value {
					t.Errorf("reply to %s went to %v, want %s", orig, r.rcpt, m.From.Value)
				}
			}
			for _, id := range []string{"interop-01@example.edu.sa", "interop-02@example.edu.sa", "interop-03@example.edu.sa", "interop-08@student.example.edu.sa"} {
				if !seen[id] {
					t.Errorf("no reply to %s", id)
				}
			}

			// The customer answers our acknowledgement from their client:
			// In-Reply-To is our reply's Message-ID and the subject has lost
			// the reference. It arrives through IDLE (poll is an hour) and
			// joins the ticket without a second automatic reply.
			var ack2 sunk
			for _, r := range replies {
				if irt, _ := r.header.MsgIDList("In-Reply-To"); len(irt) == 1 && irt[0] == "interop-02@example.edu.sa" {
					ack2 = r
				}
			}
			ourID, _ := ack2.header.MessageID()
			followUp := fmt.Sprintf("From: saad@example.edu.sa\r\nTo: support@example.test\r\nSubject: coverage\r\nMessage-ID: <interop-09@example.edu.sa>\r\nIn-Reply-To: <%s>\r\nReferences: <interop-02@example.edu.sa> <%s>\r\nDate: Mon, 23 Nov 2026 09:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe ceremony starts at 7 pm, please come at 6.\r\n", ourID, ourID)
			uid := dc.Append(t, dc.User(), "INBOX", []byte(followUp))
			syncedAndSent(t, g, int64(uid), 9)
			var d store.ConversationDetail
			g.api(fmt.Sprintf("/api/v1/conversations/%d", convOf["interop-02@example.edu.sa"].Conversation.ID), &d)
			if len(d.Messages) != 2 || d.Messages[1].HeaderMessageID != "interop-09@example.edu.sa" {
				t.Errorf("follow-up not threaded into the ticket's conversation: %d messages", len(d.Messages))
			}
			if st := g.stats(); outboundTotal(st) != 4 || len(sink.messages(t)) != 4 {
				t.Errorf("after the follow-up: outbound %v, %d at the SMTP server; want still 4", st.Outbound, len(sink.messages(t)))
			}

			// Restarting re-reads nothing: a probe mail appended after the
			// restart (an auto-reply: nothing answers it) is the next UID,
			// so once it is in, the restarted sync has passed every older
			// one.
			g.stop()
			g.start()
			probe := "From: away@example.edu.sa\r\nTo: support@example.test\r\nSubject: Out of office\r\nMessage-ID: <interop-10@example.edu.sa>\r\n" +
				"Auto-Submitted: auto-replied\r\nDate: Mon, 23 Nov 2026 10:00:00 +0300\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nI am away.\r\n"
			uid = dc.Append(t, dc.User(), "INBOX", []byte(probe))
			syncedAndSent(t, g, int64(uid), 10)
			if st := g.stats(); st.Messages != 10 || st.Tickets != 3 || outboundTotal(st) != 4 {
				t.Errorf("after restart: %d messages, %d tickets, outbound %v; want 10, 3 and 4", st.Messages, st.Tickets, st.Outbound)
			}
			if n := len(sink.messages(t)); n != 4 {
				t.Errorf("replies after restart = %d, want 4", n)
			}
		})
	}
}
