package store

import (
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/message"
)

// A batch's tickets are stored pending and numbered last: numbers are taken
// several at once, without a gap; a pending ticket's placeholder meets no
// other's; NumberTickets numbers only pending tickets and says so when one
// is not; replies are rewritten only while queued.
func TestTicketsNumberedLast(t *testing.T) {
	each(t, func(t *testing.T, s *Store) {
		f := seed(t, s)
		ctx := t.Context()
		var a, b Ticket
		mustTx(t, s, func(tx *Tx) error {
			for _, c := range []struct {
				n    int
				want int64
			}{{1, 1}, {3, 2}, {2, 5}} {
				if got, err := tx.TakeTicketNumbers(ctx, "EDU", 2026, c.n); err != nil || got != c.want {
					t.Errorf("TakeTicketNumbers(%d) = %d, %v; want %d", c.n, got, err, c.want)
				}
			}
			if n, err := tx.NextTicketNumber(ctx, "EDU", 2026); err != nil || n != 7 {
				t.Errorf("NextTicketNumber after 6 taken = %d, %v; want 7", n, err)
			}
			for _, n := range []int{0, -1} {
				if _, err := tx.TakeTicketNumbers(ctx, "EDU", 2026, n); err == nil {
					t.Errorf("TakeTicketNumbers(%d) took numbers", n)
				}
			}
			a = Ticket{Prefix: "EDU", Year: 2026, ConversationID: f.conv.ID, ContactID: f.contact.ID, Topic: "t", Status: TicketOpen}
			b = a
			if err := tx.CreatePendingTicket(ctx, &a, 41); err != nil {
				return err
			}
			if err := tx.CreatePendingTicket(ctx, &b, 42); err != nil {
				return err
			}
			if a.Number != -41 || !strings.Contains(a.Ref, "pending") || a.Ref == b.Ref {
				t.Errorf("pending tickets %q (%d) and %q: want placeholders of their own", a.Ref, a.Number, b.Ref)
			}
			if err := tx.CreatePendingTicket(ctx, &Ticket{Prefix: "EDU", Year: 2026}, 0); err == nil {
				t.Error("a pending ticket without a key was stored")
			}
			if err := tx.NumberTickets(ctx, []TicketNumber{{a.ID, 8, TicketRef("EDU", 2026, 8)}, {b.ID, 9, TicketRef("EDU", 2026, 9)}}); err != nil {
				return err
			}
			return nil
		})
		for _, c := range []struct {
			id  int64
			ref string
		}{{a.ID, "EDU-2026-000008"}, {b.ID, "EDU-2026-000009"}} {
			if tk, _, err := s.Ticket(ctx, c.id); err != nil || tk.Ref != c.ref {
				t.Errorf("ticket %d is %q (%v), want %s", c.id, tk.Ref, err, c.ref)
			}
		}
		err := s.InTx(ctx, func(tx *Tx) error {
			return tx.NumberTickets(ctx, []TicketNumber{{a.ID, 10, TicketRef("EDU", 2026, 10)}})
		})
		if err == nil {
			t.Error("NumberTickets renumbered a ticket that was not pending")
		}

		queued, sent := f.outbound("<q@x>", true), f.outbound("<s@x>", true)
		insertOutbound(t, s, queued)
		insertOutbound(t, s, sent)
		if err := s.MarkOutbound(ctx, sent.ID, message.StateSent, "p1", ""); err != nil {
			t.Fatal(err)
		}
		mustTx(t, s, func(tx *Tx) error {
			return tx.SetOutboundContents(ctx, []OutboundContent{{ID: queued.ID, Subject: "Re: [#EDU-2026-000008]", Text: "ticket EDU-2026-000008", HTML: "<p>EDU-2026-000008</p>"}})
		})
		if o, err := s.Outbound(ctx, queued.ID); err != nil || o.Text != "ticket EDU-2026-000008" || o.Subject != "Re: [#EDU-2026-000008]" || o.HTML != "<p>EDU-2026-000008</p>" {
			t.Errorf("rewritten reply: %+v (%v)", o, err)
		}
		err = s.InTx(ctx, func(tx *Tx) error {
			return tx.SetOutboundContents(ctx, []OutboundContent{{ID: sent.ID, Text: "changed after it was sent"}})
		})
		if o, _ := s.Outbound(ctx, sent.ID); err == nil || o.Text == "changed after it was sent" {
			t.Errorf("a sent reply was rewritten (%v): %q", err, o.Text)
		}
	})
}
