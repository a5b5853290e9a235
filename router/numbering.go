package router

import (
	"context"
	"fmt"
	"time"

	"github.com/wasl-dev/wasl/store"
)

// numbering gives the tickets a batch opens their numbers as the batch's
// last write. The counter of a series is one row: whoever increments it
// holds it until the commit, so a batch that took a number at its first
// ticket made every other transaction opening a ticket wait for the rest of
// it (the load harness on PostgreSQL: 0.33–0.43 backends on average waited
// on it, 0.02–0.03 with the numbers taken last, and the webhook rate rose
// 1.24–1.38×). Instead a ticket is stored pending,
// under a placeholder (store.CreatePendingTicket), and shown meanwhile —
// in its acknowledgement, in the decisions of the messages that join it —
// by the number the counter promised when the batch first looked
// (provisional); finish takes all of the batch's numbers in one increment
// and, only where another transaction took the promised ones first,
// renders those texts again with the real reference. The series stays
// gap-free: a rollback returns the numbers with everything else.
type numbering struct {
	pending []*pendingTicket
	byID    map[int64]*pendingTicket
	next    map[ticketSeries]int64 // the next provisional number
	// fixes bring what shows a provisional reference up to date; the
	// replies among it are written together, in one statement.
	fixes   []func(ctx context.Context, tx *store.Tx) error
	replies []store.OutboundContent
	// heads are the heads of the departments the batch's tickets went
	// to, read once a batch: most of a burst goes to a few departments.
	heads map[string]departmentHead
}

type departmentHead struct {
	user store.User
	ok   bool
}

// head is the department's active head (false: it has none).
func (nb *numbering) head(ctx context.Context, tx *store.Tx, department string) (store.User, bool, error) {
	if h, ok := nb.heads[department]; ok {
		return h.user, h.ok, nil
	}
	u, ok, err := tx.DepartmentHead(ctx, department)
	if err != nil {
		return store.User{}, false, err
	}
	if nb.heads == nil {
		nb.heads = map[string]departmentHead{}
	}
	nb.heads[department] = departmentHead{u, ok}
	return u, ok, nil
}

type ticketSeries struct {
	prefix string
	year   int
}

// pendingTicket is a ticket of the batch waiting for its number.
type pendingTicket struct {
	id                 int64
	series             ticketSeries
	provisional, final int64
	// follows is the closed ticket this one follows, whose event saying
	// so (at at, with this one's reference) waits for the number.
	follows store.Ticket
	at      time.Time
}

// peek is the reference the batch's next ticket of the series will show.
func (nb *numbering) peek(ctx context.Context, tx *store.Tx, s ticketSeries) (string, error) {
	n, ok := nb.next[s]
	if !ok {
		var err error
		if n, err = tx.PeekTicketNumber(ctx, s.prefix, s.year); err != nil {
			return "", err
		}
		if nb.next == nil {
			nb.next = map[ticketSeries]int64{}
		}
		nb.next[s] = n
	}
	return store.TicketRef(s.prefix, s.year, n), nil
}

// open stores t pending (key: the id of the message that opens it) and
// gives it, in memory, its provisional number and reference.
func (nb *numbering) open(ctx context.Context, tx *store.Tx, t *store.Ticket, key int64) error {
	s := ticketSeries{t.Prefix, t.Year}
	if _, err := nb.peek(ctx, tx, s); err != nil {
		return err
	}
	if err := tx.CreatePendingTicket(ctx, t, key); err != nil {
		return err
	}
	n := nb.next[s]
	nb.next[s] = n + 1
	t.Number, t.Ref = n, store.TicketRef(s.prefix, s.year, n)
	pt := &pendingTicket{id: t.ID, series: s, provisional: n}
	nb.pending = append(nb.pending, pt)
	if nb.byID == nil {
		nb.byID = map[int64]*pendingTicket{}
	}
	nb.byID[t.ID] = pt
	return nil
}

// isPending says whether ticket id waits for its number in this batch.
func (nb *numbering) isPending(id int64) bool {
	_, ok := nb.byID[id]
	return ok
}

// shown puts the provisional number and reference on a pending ticket read
// back from the database (where it has its placeholder).
func (nb *numbering) shown(t *store.Ticket) {
	if pt, ok := nb.byID[t.ID]; ok {
		t.Number, t.Ref = pt.provisional, store.TicketRef(pt.series.prefix, pt.series.year, pt.provisional)
	}
}

// followedBy records that pending ticket id follows closed: the closed one's
// "followed by" event names the new reference, so it waits for it.
func (nb *numbering) followedBy(id int64, closed store.Ticket, at time.Time) {
	if pt, ok := nb.byID[id]; ok {
		pt.follows, pt.at = closed, at
	}
}

// ref is the reference ticket id has now: its final one once finish took
// the numbers, its provisional one before.
func (nb *numbering) ref(id int64) (string, bool) {
	pt, ok := nb.byID[id]
	if !ok {
		return "", false
	}
	n := pt.provisional
	if pt.final != 0 {
		n = pt.final
	}
	return store.TicketRef(pt.series.prefix, pt.series.year, n), true
}

// fix runs f at finish, once the numbers are taken: f compares the
// reference it showed with ref's.
func (nb *numbering) fix(f func(ctx context.Context, tx *store.Tx) error) {
	nb.fixes = append(nb.fixes, f)
}

// finish takes the numbers of the batch's tickets, in the order they were
// opened, and gives them to the tickets; then the fixes. Called last in the
// transaction, so the counter row is held from here to the commit only.
func (nb *numbering) finish(ctx context.Context, tx *store.Tx) error {
	if len(nb.pending) == 0 {
		return nil
	}
	count := map[ticketSeries]int{}
	var order []ticketSeries
	for _, pt := range nb.pending {
		if count[pt.series] == 0 {
			order = append(order, pt.series)
		}
		count[pt.series]++
	}
	first := map[ticketSeries]int64{}
	for _, s := range order {
		n, err := tx.TakeTicketNumbers(ctx, s.prefix, s.year, count[s])
		if err != nil {
			return err
		}
		first[s] = n
	}
	ns := make([]store.TicketNumber, 0, len(nb.pending))
	for _, pt := range nb.pending {
		pt.final = first[pt.series]
		first[pt.series]++
		ns = append(ns, store.TicketNumber{ID: pt.id, Number: pt.final, Ref: store.TicketRef(pt.series.prefix, pt.series.year, pt.final)})
	}
	if err := tx.NumberTickets(ctx, ns); err != nil {
		return err
	}
	for i, pt := range nb.pending {
		if pt.follows.ID == 0 {
			continue
		}
		e := store.TicketEvent{TicketID: pt.follows.ID, Kind: store.EventLinked, Actor: "customer", Note: "followed by " + ns[i].Ref, CreatedAt: pt.at}
		if err := tx.AddTicketEvent(ctx, &e); err != nil {
			return fmt.Errorf("link %s to %s: %w", pt.follows.Ref, ns[i].Ref, err)
		}
	}
	for _, f := range nb.fixes {
		if err := f(ctx, tx); err != nil {
			return err
		}
	}
	return tx.SetOutboundContents(ctx, nb.replies)
}

// rewrite has finish give outbound message c.ID the content c.
func (nb *numbering) rewrite(c store.OutboundContent) { nb.replies = append(nb.replies, c) }
