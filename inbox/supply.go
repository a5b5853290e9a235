package inbox

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// OutcomeUnavailable is what the forms send for "not done — item
// unavailable": outcome not_done with store.ReasonUnavailable as the
// reason (the staff's words, if any, after it).
const OutcomeUnavailable = "unavailable"

// NoteSupplyArrived is the note of the reopen SupplyArrived records, in
// English in the store and the API; the inbox shows it in the viewer's
// language.
const NoteSupplyArrived = "supply arrived"

// canActFor reports whether p may act for a department's tickets as a
// whole: operators, and the department's own staff.
func canActFor(p Principal, department string) bool {
	return p.Operator() || slices.Contains(p.User.Departments, department)
}

// SupplyShortages lists the tickets closed not done for want of the item,
// per department, of the departments p may act for.
func (s *Service) SupplyShortages(ctx context.Context, p Principal) (map[string][]store.Ticket, error) {
	ts, err := s.store.SupplyShortages(ctx, "")
	if err != nil {
		return nil, err
	}
	out := map[string][]store.Ticket{}
	for _, t := range ts {
		if canActFor(p, t.Department) {
			out[t.Department] = append(out[t.Department], t)
		}
	}
	return out, nil
}

// SendSupplyList mails the department's head the list of its tickets
// closed for want of the item, asking for the supply date (the
// catalogue's step for the classrooms' equipment), and records it on each
// ticket. The same list is mailed once: asking again before the list
// changes sends nothing and reports false.
func (s *Service) SendSupplyList(ctx context.Context, p Principal, department string) (bool, error) {
	if !canActFor(p, department) {
		return false, ErrForbidden
	}
	ts, err := s.store.SupplyShortages(ctx, department)
	if err != nil {
		return false, err
	}
	if len(ts) == 0 {
		return false, invalid("%s has no tickets waiting on supply", department)
	}
	head, ok, err := s.store.DepartmentHead(ctx, department)
	if err != nil {
		return false, err
	}
	if !ok || !head.Active {
		return false, invalid("%s has no department head to send the list to", department)
	}
	name := department
	if s.Bank() != nil {
		if d, ok := s.Bank().Department(department); ok {
			name = d.Name.In(head.Language)
		}
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = strconv.FormatInt(t.ID, 10)
	}
	zone := time.UTC
	if s.Bank() != nil && s.Bank().Calendar() != nil {
		zone = s.Bank().Calendar().Location()
	}
	subject, body := tickets.SupplyListMail(head.Language, s.cfg.InboxURL, name, ts, zone)
	var queued bool
	err = s.store.InTx(ctx, func(tx *store.Tx) error {
		queued, err = tickets.QueueMail(ctx, tx, s.jobs, &store.StaffMail{
			Key: "supply:" + department + ":" + strings.Join(ids, ","), To: head.Email, Subject: subject, Text: body, CreatedAt: s.cfg.Now(),
		})
		if err != nil || !queued {
			return err
		}
		for _, t := range ts {
			if err := tx.AddTicketEvent(ctx, &store.TicketEvent{TicketID: t.ID, Kind: store.EventSupply, Actor: p.Actor(),
				Note: "on the supply list sent to " + head.Email}); err != nil {
				return err
			}
		}
		return nil
	})
	return queued, err
}

// SupplyArrived reopens every ticket of the department closed for want of
// the item and tells each customer once, with text, on the conversation
// of their first such ticket (the references of all of them after it).
// Each customer's tickets move in one transaction under their row locks,
// so a second run, or two at once, finds them open and tells nobody
// again. It returns the number of tickets reopened.
func (s *Service) SupplyArrived(ctx context.Context, p Principal, department, text string) (int, error) {
	if !canActFor(p, department) {
		return 0, ErrForbidden
	}
	text, err := cleanBody(text, "the message for the customers")
	if err != nil {
		return 0, err
	}
	ts, err := s.store.SupplyShortages(ctx, department)
	if err != nil {
		return 0, err
	}
	var contacts []int64
	byContact := map[int64][]store.Ticket{}
	for _, t := range ts {
		if _, ok := byContact[t.ContactID]; !ok {
			contacts = append(contacts, t.ContactID)
		}
		byContact[t.ContactID] = append(byContact[t.ContactID], t)
	}
	reopened := 0
	for _, id := range contacts {
		n, err := s.reopenForSupply(ctx, p, byContact[id], text)
		if err != nil {
			return reopened, err
		}
		reopened += n
	}
	return reopened, nil
}

func (s *Service) reopenForSupply(ctx context.Context, p Principal, ts []store.Ticket, text string) (int, error) {
	// The conversations, read first: what a reply needs of them (channel,
	// contact) does not change.
	convs := map[int64]store.InboxRow{}
	for _, t := range ts {
		c, err := s.store.InboxConversation(ctx, t.ConversationID, 0)
		if err != nil {
			return 0, err
		}
		convs[t.ConversationID] = c
	}
	n := 0
	err := s.store.InTx(ctx, func(tx *store.Tx) error {
		n = 0
		var first store.Ticket
		var refs []string
		for _, t := range ts {
			now, err := tx.TicketForUpdate(ctx, t.ID)
			if err != nil {
				return err
			}
			if now.Status != store.TicketClosed || now.Outcome != store.OutcomeNotDone ||
				(now.OutcomeReason != store.ReasonUnavailable && !strings.HasPrefix(now.OutcomeReason, store.ReasonUnavailable+":")) {
				continue // reopened already (another run, the customer), or closed again otherwise
			}
			if _, err := s.move(ctx, tx, t.ID, tickets.Open, tickets.MoveOpts{Actor: p.Actor(), Note: NoteSupplyArrived}); err != nil {
				return err
			}
			if err := tx.SetConversationStatus(ctx, t.ConversationID, store.ConversationOpen); err != nil {
				return err
			}
			if n == 0 {
				first = now
			}
			refs = append(refs, now.Ref)
			n++
		}
		if n == 0 {
			return nil
		}
		_, err := s.enqueue(ctx, tx, convs[first.ConversationID], first, text+"\n\n"+strings.Join(refs, ", "), "")
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("reopen for supply: %w", err)
	}
	return n, nil
}
