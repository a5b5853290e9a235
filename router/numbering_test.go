package router

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

// A batch takes its tickets' numbers as its last write: until then the
// counter row is free, so another transaction can take a number meanwhile
// (PostgreSQL; SQLite has one writer), and the batch's tickets then get the
// numbers after it, with every text that showed the promised number — the
// acknowledgements, the subjects, a form's replies by route (rendered, or
// its own text under a subject), the decision of a message joining the new
// ticket — carrying the real one. No number is skipped, none is doubled.
func TestTicketNumberIsTheLastWrite(t *testing.T) {
	for name, dsn := range stores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, dsn(t))
			ctx := context.Background()
			form, _ := e.intakeChannels(t)
			const callText = "Call summary: a technician comes on Sunday."
			toForm := message.Party{Kind: message.IdentityEmail, Value: formEmail}
			ins := []message.Inbound{
				e.mail("n1@x", "a@example.edu", "Projector", "projector broken"),
				e.phone(message.SMS, "SMn2", "+966551234567", "projector broken"),
				e.phone(message.SMS, "SMn3", "+966551234567", "it is in room 12"),
				e.maintenanceForm(form, "n4",
					message.Route{ChannelID: e.email, Channel: message.Email, To: toForm},
					message.Route{ChannelID: e.email, Channel: message.Email, To: toForm, Text: callText}),
			}
			concurrent := e.st.Dialect() == store.Postgres
			rs, err := e.p.IngestBatch(ctx, ins, func(ctx context.Context, tx *store.Tx) error {
				var n int
				if err := tx.SQL().QueryRowContext(ctx, `SELECT count(*) FROM ticket_counters`).Scan(&n); err != nil {
					return err
				}
				if n != 0 {
					return fmt.Errorf("the counter was written before the batch's last write (%d rows)", n)
				}
				if !concurrent {
					return nil
				}
				// Another transaction takes a number: it must not wait
				// for this one.
				wait, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				return e.st.InTx(wait, func(other *store.Tx) error {
					n, err := other.NextTicketNumber(wait, "EDU", 2026)
					if err != nil {
						return fmt.Errorf("another transaction waited for the batch's counter: %w", err)
					}
					if n != 1 {
						return fmt.Errorf("the other transaction got %d, want 1", n)
					}
					return nil
				})
			})
			if err != nil {
				t.Fatal(err)
			}
			first := 1
			if concurrent {
				first = 2 // the other transaction has 1
			}
			mailRef, smsRef, formRef := fmt.Sprintf("EDU-2026-%06d", first), fmt.Sprintf("EDU-2026-%06d", first+1), fmt.Sprintf("EDU-2026-%06d", first+2)
			if rs[0].TicketRef != mailRef || rs[1].TicketRef != smsRef || rs[2].TicketRef != smsRef || rs[2].TicketID != rs[1].TicketID {
				t.Fatalf("tickets %q, %q, %q (actions %s, %s, %s); want %s, %s and the second joined",
					rs[0].TicketRef, rs[1].TicketRef, rs[2].TicketRef, rs[0].Decision.Action, rs[1].Decision.Action, rs[2].Decision.Action, mailRef, smsRef)
			}
			if rs[3].TicketRef != formRef {
				t.Errorf("the form's ticket %q, want %s", rs[3].TicketRef, formRef)
			}
			if n := e.count(t, `SELECT max(last_number) FROM ticket_counters`); n != first+2 {
				t.Errorf("counter at %d, want %d", n, first+2)
			}
			if n := e.count(t, `SELECT count(*) FROM tickets WHERE number < 1 OR ref LIKE '%pending%'`); n != 0 {
				t.Errorf("%d tickets left with their placeholder", n)
			}
			for i, c := range []struct {
				res int
				ref string
			}{{0, mailRef}, {1, smsRef}, {3, formRef}} {
				tk, _, err := e.st.Ticket(ctx, rs[c.res].TicketID)
				if err != nil || tk.Ref != c.ref || tk.Number != int64(first+i) {
					t.Errorf("ticket %d: %s number %d (%v), want %s", rs[c.res].TicketID, tk.Ref, tk.Number, err, c.ref)
				}
			}
			var subject, text, html string
			if err := e.st.DB().QueryRowContext(ctx, rebindPGIf(e, `SELECT subject, body_text, body_html FROM outbound_messages WHERE id = ?`), rs[0].OutboundID).Scan(&subject, &text, &html); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(subject, mailRef) || !strings.Contains(text, mailRef) || (html != "" && !strings.Contains(html, mailRef)) {
				t.Errorf("the mail acknowledgement shows another reference than %s: subject %q, text %q", mailRef, subject, text)
			}
			if err := e.st.DB().QueryRowContext(ctx, rebindPGIf(e, `SELECT body_text FROM outbound_messages WHERE id = ?`), rs[1].OutboundID).Scan(&text); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(text, smsRef) {
				t.Errorf("the SMS acknowledgement %q does not show %s", text, smsRef)
			}
			// The form's: the rendered reply by each route, and the
			// representative's text by the second.
			rows, err := e.st.DB().QueryContext(ctx, rebindPGIf(e, `SELECT subject, body_text FROM outbound_messages WHERE in_reply_to_message_id = ?`), rs[3].MessageID)
			if err != nil {
				t.Fatal(err)
			}
			routed, own := 0, 0
			for rows.Next() {
				if err := rows.Scan(&subject, &text); err != nil {
					t.Fatal(err)
				}
				routed++
				if text == callText {
					own++
				} else if !strings.Contains(text, formRef) {
					t.Errorf("the form's reply %q does not show %s", text, formRef)
				}
				if shown := subject + " " + text; !strings.Contains(subject, formRef) || strings.Count(shown, "EDU-2026-") != strings.Count(shown, formRef) {
					t.Errorf("the form's reply by route shows another reference than %s: subject %q, text %q", formRef, subject, text)
				}
			}
			if err := rows.Close(); err != nil {
				t.Fatal(err)
			}
			if routed != 3 || own != 1 {
				t.Errorf("the form has %d replies by route, %d of them its own text; want 3, 1", routed, own)
			}
			if n := e.count(t, `SELECT count(*) FROM outbound_messages`); n != 2+routed {
				t.Errorf("%d replies, want the two acknowledgements and the form's", n)
			}
			var decision string
			if err := e.st.DB().QueryRowContext(ctx, rebindPGIf(e, `SELECT decision FROM messages WHERE id = ?`), rs[2].MessageID).Scan(&decision); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(decision, "belongs to ticket "+smsRef) || strings.Count(decision, "EDU-2026-") != 1 {
				t.Errorf("the joining message's decision %s, want it to name %s", decision, smsRef)
			}
			if got := strings.Join(rs[2].Decision.Reasons, "; "); !strings.Contains(got, smsRef) {
				t.Errorf("the joining message's result gives the reasons %q, want %s", got, smsRef)
			}
		})
	}
}

func rebindPGIf(e *env, q string) string {
	if e.st.Dialect() == store.Postgres {
		return rebindPG(q)
	}
	return q
}
