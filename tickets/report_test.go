package tickets

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"

	"github.com/wasl-dev/wasl/internal/dbtest"
	"github.com/wasl-dev/wasl/internal/svgtest"
	"github.com/wasl-dev/wasl/message"
	"github.com/wasl-dev/wasl/store"
)

func TestMain(m *testing.M) { os.Exit(dbtest.Main(m)) }

func eachStore(t *testing.T, fn func(t *testing.T, st *store.Store, dsn string)) {
	t.Helper()
	for _, be := range []struct {
		name string
		dsn  func(t *testing.T) (string, string)
	}{
		{"sqlite", func(t *testing.T) (string, string) { return "", dbtest.SQLiteDir(t, store.MigrateAt) }},
		{"postgres", func(t *testing.T) (string, string) { return dbtest.PostgresURL(t, store.MigrateAt), t.TempDir() }},
	} {
		t.Run(be.name, func(t *testing.T) {
			dsn, dir := be.dsn(t)
			st, err := store.Open(context.Background(), dsn, dir, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			fn(t, st, dsn)
		})
	}
}

// fixture writes tickets in given states with given times.
type fixture struct {
	t    *testing.T
	st   *store.Store
	ch   int64
	n    int
	flow Workflow
}

func newFixture(t *testing.T, st *store.Store) *fixture {
	ch := store.Channel{Name: "mail", Kind: message.Email, Enabled: true}
	if err := st.UpsertChannel(context.Background(), &ch); err != nil {
		t.Fatal(err)
	}
	return &fixture{t: t, st: st, ch: ch.ID, flow: Workflow{Clock: bankCalendar(t)}}
}

type ticketSpec struct {
	dept    string
	status  Status
	created string // Riyadh time
	closed  string // for closed ones
	outcome string
	target  string
}

func (f *fixture) ticket(s ticketSpec) store.Ticket {
	f.t.Helper()
	ctx := context.Background()
	f.n++
	var tk store.Ticket
	err := f.st.InTx(ctx, func(tx *store.Tx) error {
		who, err := tx.FindOrCreateContact(ctx, message.Party{Kind: message.IdentityEmail, Value: fmt.Sprintf("c%d@example.edu.sa", f.n)})
		if err != nil {
			return err
		}
		c := store.Conversation{ContactID: who.ID, ChannelID: f.ch, Subject: fmt.Sprintf("request %d", f.n)}
		if err := tx.CreateConversation(ctx, &c); err != nil {
			return err
		}
		created := riyadhTime(f.t, s.created)
		tk = store.Ticket{Prefix: "EDU", Year: 2026, Number: int64(f.n), ConversationID: c.ID, ContactID: who.ID, Department: s.dept,
			Subject: fmt.Sprintf("request %d", f.n), CreatedAt: created}
		f.flow.StartClocks(&tk, s.target, "")
		if err := tx.CreateTicket(ctx, &tk); err != nil {
			return err
		}
		if s.status == Open {
			return nil
		}
		at := created.Add(time.Hour)
		if s.closed != "" {
			at = riyadhTime(f.t, s.closed)
		}
		if _, err := tx.MoveTicket(ctx, tk.ID, string(s.status), "agent", "", at, func(string) error { return nil }); err != nil {
			return err
		}
		if s.status == Closed {
			outcome := s.outcome
			if outcome == "" {
				outcome = store.OutcomeDone
			}
			return tx.SetTicketOutcome(ctx, tk.ID, outcome, "item unavailable")
		}
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return tk
}

// A fixed set of tickets gives exact counts per state and department, the
// week's closed tickets with their outcome, breaches, medians in working
// time and the average satisfaction; tickets closed in another week count
// in none of them.
func TestWeeklyReportNumbers(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := context.Background()
		f := newFixture(t, st)
		week := WeekOf(riyadhTime(t, "2026-11-10 12:00"), bankCalendar(t).Location()) // Sunday 8 – Saturday 14 November
		if week.Key() != "2026-11-08" {
			t.Fatalf("week %s", week.Key())
		}
		specs := []ticketSpec{
			{dept: "classrooms", status: Open, created: "2026-11-09 08:00"},
			{dept: "classrooms", status: Open, created: "2026-11-09 09:00"},
			{dept: "classrooms", status: Transferred, created: "2026-11-09 09:00"},
			{dept: "classrooms", status: Pending, created: "2026-11-09 09:00"},
			{dept: "classrooms", status: InProgress, created: "2026-11-09 09:00"},
			{dept: "classrooms", status: InProgress, created: "2026-11-09 09:00"},
			// Closed in the week: 2 h and 7 h of working time.
			{dept: "classrooms", status: Closed, created: "2026-11-09 08:00", closed: "2026-11-09 10:00"},
			{dept: "classrooms", status: Closed, created: "2026-11-10 08:00", closed: "2026-11-11 08:00", outcome: store.OutcomeNotDone},
			// Closed the week before: not in this report.
			{dept: "classrooms", status: Closed, created: "2026-11-01 08:00", closed: "2026-11-02 08:00"},
			{dept: "maintenance_center", status: InProgress, created: "2026-11-08 08:00", target: "1d"},
			{dept: "maintenance_center", status: Closed, created: "2026-11-12 08:00", closed: "2026-11-12 12:00"},
		}
		var made []store.Ticket
		for _, s := range specs {
			made = append(made, f.ticket(s))
		}
		// One breach in the week, on the maintenance ticket; one survey on
		// a closed classrooms ticket.
		err := st.InTx(ctx, func(tx *store.Tx) error {
			if _, err := tx.RecordSLANotice(ctx, made[9].ID, ClockResolution, SLABreached, riyadhTime(t, "2026-11-09 08:00")); err != nil {
				return err
			}
			return tx.RecordSurvey(ctx, "tok-1", &store.SurveyResponse{TicketID: made[6].ID, Department: "classrooms", ServiceRating: 4, StaffRating: 5,
				CreatedAt: riyadhTime(t, "2026-11-10 09:00")})
		})
		if err != nil {
			t.Fatal(err)
		}
		reports, err := BuildReports(ctx, st, bankCalendar(t), week, []string{"administrative_affairs", "classrooms", "maintenance_center"})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]DepartmentReport{}
		for _, r := range reports {
			got[r.Department] = r
		}
		if len(reports) != 3 || reports[0].Department != "administrative_affairs" || got["administrative_affairs"].Total != 0 {
			t.Errorf("departments %+v: want all three in the bank's order, the empty one included", reports)
		}
		c := got["classrooms"]
		if c.Open != 2 || c.Transferred != 1 || c.Pending != 1 || c.InProgress != 2 || c.Total != 6 ||
			c.Closed != 2 || c.ClosedDone != 1 || c.ClosedNotDone != 1 || len(c.ClosedTickets) != 2 {
			t.Errorf("classrooms: %+v", c)
		}
		if c.MedianResolution != (2*time.Hour+7*time.Hour)/2 || c.Surveys != 1 || c.AvgService != 4 || c.AvgStaff != 5 {
			t.Errorf("classrooms: median resolution %s, surveys %d (%.1f/%.1f); want 4h30m, 1 (4/5)", c.MedianResolution, c.Surveys, c.AvgService, c.AvgStaff)
		}
		m := got["maintenance_center"]
		if m.InProgress != 1 || m.Total != 1 || m.Closed != 1 || m.Breaches != 1 || m.MedianResolution != 4*time.Hour {
			t.Errorf("maintenance: %+v", m)
		}
	})
}

// The weekly report job: run twice, and by two "replicas" at once on
// PostgreSQL, each department head gets the week's report once; a
// department without a head is recorded and mailed to nobody.
func TestWeeklyReportOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store, dsn string) {
		ctx := context.Background()
		f := newFixture(t, st)
		f.ticket(ticketSpec{dept: "classrooms", status: InProgress, created: "2026-11-09 09:00"})
		head := store.User{Email: "classrooms-head@uni.example", Name: "Head", Role: store.RoleAgent, Language: "ar", PasswordHash: "x", Active: true,
			Departments: []string{"classrooms"}}
		if err := st.CreateUser(ctx, &head); err != nil {
			t.Fatal(err)
		}
		if err := st.SetDepartmentHead(ctx, head.ID, "classrooms", true); err != nil {
			t.Fatal(err)
		}
		cal := bankCalendar(t)
		worker := func(s *store.Store) *ReportWorker {
			jobs, err := river.NewClient(s.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return &ReportWorker{Store: s, Clock: cal, Jobs: jobs, Departments: []string{"classrooms", "maintenance_center"},
				Schedule: ReportSchedule{Day: time.Sunday, At: 7*time.Hour + 30*time.Minute, Zone: cal.Location()},
				Now:      func() time.Time { return riyadhTime(t, "2026-11-15 07:31") }}
		}
		w := worker(st)
		for range 2 {
			if _, err := w.Send(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if st.Dialect() == store.Postgres {
			// Two more replicas at once, each with its own connections.
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			for range 2 {
				other, err := store.Open(ctx, dsn, t.TempDir(), slog.New(slog.DiscardHandler))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { other.Close() })
				wg.Add(1)
				go func(w *ReportWorker) {
					defer wg.Done()
					_, err := w.Send(ctx)
					errs <- err
				}(worker(other))
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
		}
		mails, err := st.StaffMails(ctx, "weekly:")
		if err != nil {
			t.Fatal(err)
		}
		if len(mails) != 1 || mails[0].To != head.Email || mails[0].Key != "weekly:classrooms:2026-11-08" {
			t.Fatalf("weekly mails %+v, want one to the classrooms head for the week of 2026-11-08", mails)
		}
		rows, _ := st.WeeklyReports(ctx, "2026-11-08")
		if len(rows) != 2 || rows[1].Recipient != "" {
			t.Errorf("report rows %+v: want classrooms and maintenance (no head, no recipient)", rows)
		}
		var numbers DepartmentReport
		if err := json.Unmarshal([]byte(rows[0].Numbers), &numbers); err != nil || numbers.InProgress != 1 || numbers.Total != 1 {
			t.Errorf("recorded numbers %s (%v)", rows[0].Numbers, err)
		}
		m := mails[0]
		if !strings.Contains(m.Subject, "التقرير الأسبوعي") || !strings.Contains(m.Text, "تحت الإجراء: 1") || !strings.Contains(m.Text, "الإجمالي: 1") {
			t.Errorf("the Arabic report's text:\n%s\n%s", m.Subject, m.Text)
		}
		svgtest.CheckChart(t, m.HTML)
	})
}

// The SLA check records each state once per ticket and clock, with a
// ticket event and a mail to the assignee and the head, however often it
// runs.
func TestSLACheckOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st *store.Store, _ string) {
		ctx := context.Background()
		f := newFixture(t, st)
		tk := f.ticket(ticketSpec{dept: "maintenance_center", status: InProgress, created: "2026-11-08 07:30", target: "1d"})
		head := store.User{Email: "head@uni.example", Name: "Head", Role: store.RoleAgent, Language: "en", PasswordHash: "x", Active: true, Departments: []string{"maintenance_center"}}
		tech := store.User{Email: "tech@uni.example", Name: "Tech", Role: store.RoleAgent, Language: "ar", PasswordHash: "x", Active: true, Departments: []string{"maintenance_center"}}
		for _, u := range []*store.User{&head, &tech} {
			if err := st.CreateUser(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.SetDepartmentHead(ctx, head.ID, "maintenance_center", true); err != nil {
			t.Fatal(err)
		}
		if err := st.InTx(ctx, func(tx *store.Tx) error { return tx.SetAssignee(ctx, tk.ConversationID, tech.ID) }); err != nil {
			t.Fatal(err)
		}
		jobs, err := river.NewClient(st.RiverDriver(), &river.Config{Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		now := riyadhTime(t, "2026-11-08 13:30") // 6 of 7 working hours: at risk
		w := &SLAWorker{Store: st, Flow: f.flow, Jobs: jobs, Now: func() time.Time { return now }}
		for range 2 {
			if _, err := w.Check(ctx); err != nil {
				t.Fatal(err)
			}
		}
		notices, _ := st.SLANotices(ctx, tk.ID)
		mails, _ := st.StaffMails(ctx, "sla:")
		if len(notices) != 1 || notices[0] != "resolution:at_risk" || len(mails) != 2 {
			t.Fatalf("after two checks at risk: notices %q, %d mails; want one at_risk notice, a mail to the assignee and one to the head", notices, len(mails))
		}
		now = riyadhTime(t, "2026-11-09 08:00")
		for range 2 {
			if _, err := w.Check(ctx); err != nil {
				t.Fatal(err)
			}
		}
		notices, _ = st.SLANotices(ctx, tk.ID)
		mails, _ = st.StaffMails(ctx, "sla:")
		if len(notices) != 2 || notices[1] != "resolution:breached" || len(mails) != 4 {
			t.Errorf("after breaching: notices %q, %d mails", notices, len(mails))
		}
		_, events, _ := st.Ticket(ctx, tk.ID)
		n := 0
		for _, e := range events {
			if e.Kind == store.EventSLA {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d SLA events, want 2", n)
		}
	})
}

// The charts are SVG that parses, with every label escaped, right to left
// in Arabic.
func TestCharts(t *testing.T) {
	bar := BarChart{Title: `<script>"x"</script>`, Labels: []string{"قسم الفصول الدراسية", "A & B"},
		Series: []Series{{Name: "مفتوحة", Color: "#000", Values: []float64{3, 0}}, {Name: "معلّقة", Color: "#111", Values: []float64{1, 2}}}, RTL: true}
	line := LineChart{Title: "messages", Labels: []string{"2026-11-01", "2026-11-02", "2026-11-03"},
		Series: []Series{{Name: "email", Color: "#000", Values: []float64{1, 5, 2}}}, RTL: true}
	for _, svg := range []string{bar.SVG(), line.SVG()} {
		if strings.Contains(svg, "<script>") {
			t.Error("a label was not escaped")
		}
		var doc struct {
			XMLName xml.Name
			Dir     string `xml:"direction,attr"`
		}
		if err := xml.Unmarshal([]byte(svg), &doc); err != nil || doc.XMLName.Local != "svg" || doc.Dir != "rtl" {
			t.Errorf("chart: %v, root %q dir %q\n%s", err, doc.XMLName.Local, doc.Dir, svg)
		}
	}
}
