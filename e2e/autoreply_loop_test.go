package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	nettextproto "net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/textproto"
	"github.com/emersion/go-smtp"

	"github.com/wasl-dev/wasl/internal/dovecot"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// TestAutoReplyLoopStopsAtCap runs two gateways whose mailboxes answer
// each other, with every header that could stop the loop stripped on the
// way (Auto-Submitted, Precedence, List-*, In-Reply-To, References, X-*):
// to each gateway every mail is a new conversation from a person. Only the
// per-contact cap can end the exchange, and it must: each gateway sends the
// other at most three replies, then mutes it. One gateway runs on SQLite,
// the other on PostgreSQL.
func TestAutoReplyLoopStopsAtCap(t *testing.T) {
	t.Parallel()
	dc := dovecot.Start(t)
	userA := dc.User() // support@example.test
	userB := "helpdesk@partner.test"
	dc.AddUser(t, userB)
	relay := startLoopRelay(t, dc, map[string]string{userA: userA, userB: userB})

	gwA := newGateway(t, "", loopChannelYAML(dc.Addr(), userA, dc.PasswordOf(userA), relay.addr(), "Customer Service <"+userA+">"))
	gwB := newGateway(t, pgURL(t), loopChannelYAML(dc.Addr(), userB, dc.PasswordOf(userB), relay.addr(), "Helpdesk <"+userB+">"))
	gwA.start()
	gwB.start()

	// Both have looked at their (empty) mailbox, so what is appended now
	// is new mail to them, whichever way a first sync starts.
	a := loopSide{g: gwA, user: userA, imap: dc.Dial(t, userA)}
	b := loopSide{g: gwB, user: userB, imap: dc.Dial(t, userB)}
	eventually(t, 60*time.Second, "both gateways synced their mailbox once", func() (bool, string) {
		va, _ := a.cursor(t)
		vb, _ := b.cursor(t)
		return va != 0 && vb != 0, fmt.Sprintf("uidvalidity A=%d B=%d", va, vb)
	})

	// One mail from A's address into B's mailbox starts it. Its topic is
	// informational (clearance): answered, never a ticket, so no ticket
	// reference in a subject can thread the exchange and end it early.
	seed := fmt.Sprintf("From: Customer Service <%s>\r\nTo: %s\r\nSubject: Clearance before graduation\r\n"+
		"Message-ID: <loop-seed@example.test>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"How do I get my clearance form signed before graduation?\r\n", userA, userB, time.Now().Format(time.RFC1123Z))
	dc.Append(t, userB, "INBOX", []byte(seed))

	// Settled: nothing queued or being sent on either side, and each
	// gateway has ingested every mail in its mailbox — checked twice
	// around, so no mail is in flight between the two reads.
	eventually(t, 120*time.Second, "the exchange settles", func() (bool, string) {
		p1 := a.pending(t) + b.pending(t)
		na, nb := a.uidNext(t), b.uidNext(t)
		_, ca := a.cursor(t)
		_, cb := b.cursor(t)
		p2 := a.pending(t) + b.pending(t)
		na2, nb2 := a.uidNext(t), b.uidNext(t)
		state := fmt.Sprintf("pending %d/%d; A mailbox next uid %d, ingested to %d; B next uid %d, ingested to %d; relayed to A %d, to B %d",
			p1, p2, na, ca, nb, cb, relay.count(userA), relay.count(userB))
		return p1 == 0 && p2 == 0 && nb > 1 && ca+1 == na && cb+1 == nb && na2 == na && nb2 == nb, state
	})

	// Each side answered the other three times, no more.
	if n := relay.count(userA); n != 3 {
		t.Errorf("B's gateway sent A %d replies, want 3 (the cap)", n)
	}
	if n := relay.count(userB); n != 3 {
		t.Errorf("A's gateway sent B %d replies, want 3 (the cap)", n)
	}
	for _, s := range []loopSide{a, b} {
		st := s.g.stats()
		if st.Outbound[message.StateSent] != 3 || len(st.Outbound) != 1 {
			t.Errorf("%s's gateway: outbound %v, want 3 sent", s.user, st.Outbound)
		}
	}
	// The premise: what was relayed carried loop headers, and lost them.
	for _, h := range []string{"Auto-Submitted", "In-Reply-To", "References"} {
		if n := relay.strippedCount(h); n != 6 {
			t.Errorf("%s stripped from %d of the 6 relayed mails, want all", h, n)
		}
	}

	// B got the seed and three replies from A: the fourth mail met the
	// cap. Its decision says so, and the API shows the contact muted.
	if st := b.g.stats(); st.Messages != 4 || st.Conversations != 4 {
		t.Errorf("B: %d messages in %d conversations, want 4 in 4 (nothing threads them)", st.Messages, st.Conversations)
	}
	if st := a.g.stats(); st.Messages != 3 {
		t.Errorf("A: %d messages, want 3", st.Messages)
	}
	var cl convList
	b.g.api("/api/v1/conversations?limit=10", &cl)
	var last store.ConversationDetail
	for _, c := range cl.Conversations {
		var d store.ConversationDetail
		b.g.api(fmt.Sprintf("/api/v1/conversations/%d", c.ID), &d)
		if d.Conversation.ID > last.Conversation.ID {
			last = d
		}
	}
	if last.Contact.AutoReplyMutedUntil == nil || !last.Contact.AutoReplyMutedUntil.After(time.Now()) {
		t.Errorf("B's contact %v: muted until %v, want a time ahead", last.Contact.Identities, last.Contact.AutoReplyMutedUntil)
	}
	if len(last.Messages) != 1 || len(last.Outbound) != 0 {
		t.Fatalf("B's last conversation: %d messages, %d replies; want 1 and 0", len(last.Messages), len(last.Outbound))
	}
	var d decision
	if err := json.Unmarshal(last.Messages[0].Decision, &d); err != nil {
		t.Fatal(err)
	}
	if d.AutoReply || !strings.Contains(strings.Join(d.Reasons, "\n"), "muted") {
		t.Errorf("B's last decision: auto_reply=%v reasons %q", d.AutoReply, d.Reasons)
	}
}

func loopChannelYAML(imapAddr, user, pass, smtpAddr, from string) string {
	// IDLE brings new mail; the poll is only a safety net.
	return fmt.Sprintf(`channels:
  - name: mail
    kind: email
    imap:
      addr: %s
      security: plain
      username: %s
      password: %s
      poll_interval: 5s
    smtp:
      addr: %s
      security: none
      from: "%s"
`, imapAddr, user, pass, smtpAddr, from)
}

// pgURL is a throwaway PostgreSQL database.
func pgURL(t *testing.T) string {
	for _, be := range backends() {
		if be.name == "postgres" {
			return be.url(t)
		}
	}
	t.Fatal("no postgres backend")
	return ""
}

// loopSide is one gateway and its mailbox.
type loopSide struct {
	g    *gateway
	user string
	imap *imapclient.Client
}

func (s loopSide) cursor(t *testing.T) (uidValidity, lastUID uint32) {
	t.Helper()
	ctx := context.Background()
	ch, err := s.g.store().ChannelByName(ctx, "mail")
	if errors.Is(err, store.ErrNotFound) {
		return 0, 0
	}
	if err != nil {
		t.Fatal(err)
	}
	v, l, err := s.g.store().Cursor(ctx, ch.ID, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	return v, l
}

func (s loopSide) uidNext(t *testing.T) uint32 {
	t.Helper()
	st, err := s.imap.Status("INBOX", &imap.StatusOptions{UIDNext: true}).Wait()
	if err != nil {
		t.Fatalf("status of %s: %v", s.user, err)
	}
	return uint32(st.UIDNext)
}

func (s loopSide) pending(t *testing.T) int64 {
	t.Helper()
	st := s.g.stats()
	return st.Outbound[message.StateQueued] + st.Outbound[message.StateSending]
}

// loopRelay is the mail system between the two gateways: an SMTP server
// (go-smtp) that strips every header that marks or threads an automatic
// reply and APPENDs the mail to the recipient's Dovecot mailbox before it
// answers 250, so a reply marked sent is already in the other mailbox.
type loopRelay struct {
	ln    net.Listener
	dc    *dovecot.Server
	users map[string]string // recipient address → Dovecot user

	mu       sync.Mutex
	counts   map[string]int // relayed, by recipient
	stripped map[string]int // mails that had the header, by canonical name
}

func startLoopRelay(t *testing.T, dc *dovecot.Server, users map[string]string) *loopRelay {
	t.Helper()
	r := &loopRelay{dc: dc, users: users, counts: map[string]int{}, stripped: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &relaySession{r: r}, nil }))
	srv.Domain = "relay.test"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.ln = ln
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		srv.Close()
		ln.Close()
		<-done
	})
	return r
}

func (r *loopRelay) addr() string { return r.ln.Addr().String() }

func (r *loopRelay) count(rcpt string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[rcpt]
}

func (r *loopRelay) strippedCount(h string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stripped[nettextproto.CanonicalMIMEHeaderKey(h)]
}

// loopHeader reports whether a header would tell the receiving gateway the
// mail is automatic or part of a thread.
func loopHeader(k string) bool {
	k = strings.ToLower(k)
	switch {
	case k == "auto-submitted", k == "precedence", k == "in-reply-to", k == "references",
		strings.HasPrefix(k, "list-"), strings.HasPrefix(k, "x-"):
		return true
	}
	return false
}

// strip removes the loop headers from raw and says which it removed.
func strip(raw []byte) ([]byte, []string, error) {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, nil, fmt.Errorf("read header: %w", err)
	}
	seen := map[string]bool{}
	for f := h.Fields(); f.Next(); {
		if k := nettextproto.CanonicalMIMEHeaderKey(f.Key()); loopHeader(k) {
			seen[k] = true
			f.Del()
		}
	}
	var removed []string
	for k := range seen {
		removed = append(removed, k)
	}
	body, err := io.ReadAll(br)
	if err != nil {
		return nil, nil, err
	}
	var out bytes.Buffer
	if err := textproto.WriteHeader(&out, h); err != nil {
		return nil, nil, err
	}
	out.Write(body)
	return out.Bytes(), removed, nil
}

func (r *loopRelay) deliver(rcpt string, raw []byte) error {
	user, ok := r.users[strings.ToLower(rcpt)]
	if !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	c, err := imapclient.DialInsecure(r.dc.Addr(), nil)
	if err != nil {
		return fmt.Errorf("relay: dial imap: %w", err)
	}
	defer c.Close()
	if err := c.Login(user, r.dc.PasswordOf(user)).Wait(); err != nil {
		return fmt.Errorf("relay: login as %s: %w", user, err)
	}
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		cmd.Close()
		return fmt.Errorf("relay: append: %w", err)
	}
	if err := cmd.Close(); err != nil {
		return fmt.Errorf("relay: append: %w", err)
	}
	if _, err := cmd.Wait(); err != nil {
		return fmt.Errorf("relay: append: %w", err)
	}
	return c.Logout().Wait()
}

type relaySession struct {
	r  *loopRelay
	to []string
}

func (s *relaySession) Mail(string, *smtp.MailOptions) error { return nil }

func (s *relaySession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if _, ok := s.r.users[strings.ToLower(to)]; !ok {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such mailbox"}
	}
	s.to = append(s.to, strings.ToLower(to))
	return nil
}

func (s *relaySession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	out, removed, err := strip(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: err.Error()}
	}
	for _, rcpt := range s.to {
		if err := s.r.deliver(rcpt, out); err != nil {
			return err
		}
	}
	s.r.mu.Lock()
	for _, rcpt := range s.to {
		s.r.counts[rcpt]++
	}
	for _, k := range removed {
		s.r.stripped[k]++
	}
	s.r.mu.Unlock()
	return nil
}

func (s *relaySession) Reset()        { s.to = nil }
func (s *relaySession) Logout() error { return nil }
