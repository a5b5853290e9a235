package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// An autoresponder that sends neither RFC 3834 headers nor In-Reply-To
// opens a new conversation with each mail, so the one-reply-per-conversation
// rule never stops it. The per-contact cap does: three replies, then
// silence and a mute on the contact, which lasts while it keeps writing and
// ends after a quiet day.
func TestAutoReplyCapPerContact(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			start := e.now
			var replied []int
			var last Result
			convs := map[int64]bool{}
			for i := 1; i <= 6; i++ {
				last = e.process(t, e.mail(fmt.Sprintf("bot-%d@x", i), "autoresponder@partner.example", "Re: Clearance", "how do I get clearance"))
				if last.OutboundID != 0 {
					replied = append(replied, i)
				}
				if convs[last.ConversationID] {
					t.Fatalf("mail %d joined an earlier conversation: this test needs one conversation per mail", i)
				}
				convs[last.ConversationID] = true
				e.now = e.now.Add(10 * time.Minute)
			}
			if fmt.Sprint(replied) != "[1 2 3]" {
				t.Fatalf("mails answered: %v, want [1 2 3]", replied)
			}
			if why := strings.Join(last.Decision.Reasons, "\n"); !strings.Contains(why, "muted") {
				t.Errorf("last decision reasons %q do not say the contact is muted", last.Decision.Reasons)
			}
			c, err := e.st.Conversation(ctx, last.ConversationID)
			if err != nil {
				t.Fatal(err)
			}
			// Mail 6 came at start+50m and extended the mute a day from then.
			wantUntil := start.Add(50*time.Minute + 24*time.Hour)
			if m := c.Contact.AutoReplyMutedUntil; m == nil || !m.Equal(wantUntil) {
				t.Errorf("contact muted until %v, want %v", m, wantUntil)
			}
			if n := e.count(t, `SELECT COUNT(*) FROM outbound_messages`); n != 3 {
				t.Errorf("replies stored = %d, want 3", n)
			}

			// Still writing within the day: still muted.
			e.now = start.Add(20 * time.Hour)
			if r := e.process(t, e.mail("bot-7@x", "autoresponder@partner.example", "Re: Clearance", "how do I get clearance")); r.OutboundID != 0 {
				t.Errorf("mail 7 within the mute was answered")
			}
			// A quiet day after the last mail: answered again.
			e.now = start.Add(20*time.Hour + 24*time.Hour + time.Minute)
			if r := e.process(t, e.mail("bot-8@x", "autoresponder@partner.example", "Re: Clearance", "how do I get clearance")); r.OutboundID == 0 {
				t.Errorf("mail 8 after a quiet day got no reply: %q", r.Decision.Reasons)
			}

			// Another contact is not affected by the first one's mute.
			if r := e.process(t, e.mail("human@x", "a@example.edu", "Clearance", "how do I get clearance")); r.OutboundID == 0 {
				t.Errorf("another contact got no reply: %q", r.Decision.Reasons)
			}
		})
	}
}
