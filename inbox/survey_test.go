package inbox

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/replies"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

// The survey: the closing message carries a signed link; answering it
// stores the ratings on the ticket (a ticket event); a tampered, expired
// or reused link is refused and records nothing.
func TestSurveyLinks(t *testing.T) {
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
		signer, err := tickets.NewSurveySigner([]byte("0123456789abcdef0123456789abcdef"))
		if err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 11, 8, 9, 0, 0, 0, time.UTC)
		links := &tickets.SurveyLinks{Signer: signer, BaseURL: "https://wasl.example", ValidFor: 24 * time.Hour}
		svc := NewService(st, jobs, bank, ServiceConfig{Surveys: links, Now: func() time.Time { return now }}, testLogger(t))
		f := newWorkflowFixture(t, st, 1)
		o, err := svc.Close(ctx, Principal{System: true}, f.conv, store.OutcomeDone, "", "")
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(o.Text, "https://wasl.example/survey/")
		if i < 0 {
			t.Fatalf("the closing message has no signed survey link:\n%s", o.Text)
		}
		token := strings.Fields(o.Text[i+len("https://wasl.example/survey/"):])[0]
		count := func() int {
			var n int
			if err := st.DB().QueryRow(`SELECT count(*) FROM survey_responses`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		for name, tc := range map[string]struct {
			token string
			at    time.Time
			want  error
		}{
			"tampered": {token[:len(token)-1] + map[bool]string{true: "A", false: "B"}[token[len(token)-1] != 'A'], now, tickets.ErrSurveyTampered},
			"other key": {func() string {
				s, _ := tickets.NewSurveySigner([]byte("another key, another key, another"))
				return s.Sign(tickets.SurveyLink{Kind: tickets.SurveyTicket, ID: f.ticket, Expires: now.Add(time.Hour)})
			}(), now, tickets.ErrSurveyTampered},
			"expired": {token, now.Add(25 * time.Hour), tickets.ErrSurveyExpired},
		} {
			now = tc.at
			if err := svc.AnswerSurvey(ctx, tc.token, 5, 5, "x"); !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", name, err, tc.want)
			}
			if n := count(); n != 0 {
				t.Fatalf("%s: %d responses recorded", name, n)
			}
		}
		now = time.Date(2026, 11, 8, 10, 0, 0, 0, time.UTC)
		if err := svc.AnswerSurvey(ctx, token, 4, 5, "سريع ومفيد"); err != nil {
			t.Fatal(err)
		}
		if err := svc.AnswerSurvey(ctx, token, 1, 1, "again"); !errors.Is(err, ErrSurveyAnswered) {
			t.Errorf("reused link: %v, want ErrSurveyAnswered", err)
		}
		if n := count(); n != 1 {
			t.Errorf("%d responses, want 1", n)
		}
		r, ok, err := st.TicketSurvey(ctx, f.ticket)
		if err != nil || !ok || r.ServiceRating != 4 || r.StaffRating != 5 || r.Comment != "سريع ومفيد" || r.Department != "maintenance_center" {
			t.Errorf("stored response %+v %v %v", r, ok, err)
		}
		_, events, _ := st.Ticket(ctx, f.ticket)
		if e := events[len(events)-1]; e.Kind != store.EventSurvey || !strings.Contains(e.Note, "service 4/5") {
			t.Errorf("last event %+v, want the survey", e)
		}
	})
}
