package inbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
)

// Supply shortages as the catalogue asks, on both stores: tickets closed
// "not done — item unavailable" are listed per department (others are
// not); one action mails the list to the department's head once; one
// action reopens them all when the supply arrives and tells each customer
// exactly once, even when run twice at the same time and once more after.
func TestSupplyShortages(t *testing.T) {
	bank, err := replies.LoadBank("../configs/bank.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eachStore(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		jobs, err := river.NewClient(st.RiverDriver(), &river.Config{})
		if err != nil {
			t.Fatal(err)
		}
		svc := NewService(st, jobs, bank, ServiceConfig{InboxURL: "https://wasl.example"}, testLogger(t))
		op := Principal{System: true}
		head := store.User{Email: "head@uni.example", Name: "Head", Role: store.RoleAgent, PasswordHash: "x", Active: true,
			Language: "en", Departments: []string{"maintenance_center"}}
		other := store.User{Email: "other@uni.example", Name: "Other", Role: store.RoleAgent, PasswordHash: "x", Active: true,
			Departments: []string{"classrooms"}}
		for _, u := range []*store.User{&head, &other} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetDepartmentHead(ctx, head.ID, "maintenance_center", true); err != nil {
			t.Fatal(err)
		}
		closes := []struct {
			outcome, reason string
			listed          bool
		}{
			{OutcomeUnavailable, "", true},
			{OutcomeUnavailable, "projector lamps", true},
			{store.OutcomeNotDone, "item unavailable", true},
			{store.OutcomeNotDone, "the room was locked", false},
			{store.OutcomeDone, "", false},
		}
		var fs []workflowFixture
		for i, c := range closes {
			f := newWorkflowFixture(t, st, 100+i)
			if _, err := svc.Close(ctx, op, f.conv, c.outcome, c.reason, "Closed."); err != nil {
				t.Fatal(err)
			}
			fs = append(fs, f)
		}
		list, err := svc.SupplyShortages(ctx, op)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, tk := range list["maintenance_center"] {
			got = append(got, tk.ID)
		}
		var want []int64
		for i, c := range closes {
			if c.listed {
				want = append(want, fs[i].ticket)
			}
		}
		if len(list) != 1 || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("shortages %v (departments %d), want %v", got, len(list), want)
		}
		if tk, _ := ticketState(t, st, fs[1].ticket); tk.OutcomeReason != "item unavailable: projector lamps" {
			t.Errorf("reason %q", tk.OutcomeReason)
		}
		// Another department's agent neither sees nor acts on the list.
		if l, _ := svc.SupplyShortages(ctx, Principal{User: other}); len(l) != 0 {
			t.Errorf("another department sees %v", l)
		}
		if _, err := svc.SendSupplyList(ctx, Principal{User: other}, "maintenance_center"); !errors.Is(err, ErrForbidden) {
			t.Errorf("another department sent the list: %v", err)
		}

		for i, wantSent := range []bool{true, false} {
			sent, err := svc.SendSupplyList(ctx, op, "maintenance_center")
			if err != nil || sent != wantSent {
				t.Fatalf("send %d: sent %v err %v, want %v", i, sent, err, wantSent)
			}
		}
		mails, err := st.StaffMails(ctx, "supply:")
		if err != nil {
			t.Fatal(err)
		}
		if len(mails) != 1 || mails[0].To != head.Email {
			t.Fatalf("supply mails %+v, want one to the head", mails)
		}
		for _, f := range fs[:3] {
			tk, _ := ticketState(t, st, f.ticket)
			if !strings.Contains(mails[0].Text, tk.Ref) {
				t.Errorf("the list lacks %s:\n%s", tk.Ref, mails[0].Text)
			}
		}
		if !strings.Contains(mails[0].Text, "supplied") || !strings.Contains(mails[0].Text, "https://wasl.example/conversations/") {
			t.Errorf("the list does not ask for the date or link the tickets:\n%s", mails[0].Text)
		}

		outbound := func(conv int64) int {
			var n int
			if err := st.DB().QueryRowContext(ctx, `SELECT count(*) FROM outbound_messages WHERE conversation_id = $1`, conv).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := make([]int, len(fs))
		for i, f := range fs {
			before[i] = outbound(f.conv)
		}
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i := range counts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := svc.SupplyArrived(ctx, op, "maintenance_center", "The items have arrived; we will complete your request.")
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		again, err := svc.SupplyArrived(ctx, op, "maintenance_center", "The items have arrived.")
		if err != nil {
			t.Fatal(err)
		}
		if counts[0]+counts[1] != 3 || again != 0 {
			t.Errorf("reopened %v then %d, want 3 in all then 0", counts, again)
		}
		for i, f := range fs {
			tk, _ := ticketState(t, st, f.ticket)
			wantNew, wantStatus := 0, store.TicketClosed
			if closes[i].listed {
				wantNew, wantStatus = 1, store.TicketOpen
			}
			if n := outbound(f.conv) - before[i]; n != wantNew || tk.Status != wantStatus {
				t.Errorf("ticket %d: %d new messages to the customer, status %s; want %d, %s", i, n, tk.Status, wantNew, wantStatus)
			}
			if closes[i].listed && tk.Outcome != "" {
				t.Errorf("reopened ticket %d kept its outcome %q", i, tk.Outcome)
			}
		}
	})
}
