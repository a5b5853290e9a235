package web

import (
	"encoding/csv"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
)

// checkSVG parses every inline <svg> of a page as XML and returns how many.
func checkSVG(t *testing.T, body string) int {
	t.Helper()
	svgs := regexp.MustCompile(`(?s)<svg .*?</svg>`).FindAllString(body, -1)
	for _, s := range svgs {
		d := xml.NewDecoder(strings.NewReader(s))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("chart is not well-formed XML: %v\n%s", err, s)
			}
		}
	}
	return len(svgs)
}

func readCSV(t *testing.T, c *http.Client, u string) [][]string {
	t.Helper()
	code, hdr, body := get(t, c, u)
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/csv") || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("GET %s: %d %v", u, code, hdr)
	}
	rows, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff"))).ReadAll()
	if err != nil {
		t.Fatalf("%s: %v\n%s", u, err, body)
	}
	return rows
}

// row finds the CSV row whose column col is v, as a map by header.
func row(t *testing.T, rows [][]string, col, v string) map[string]string {
	t.Helper()
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		if m[col] == v {
			return m
		}
	}
	t.Fatalf("no row with %s=%s in %v", col, v, rows)
	return nil
}

// The reports page: the departments' tickets by state with the bar chart,
// in English for the operator (every department) and in Arabic, right to
// left, for a department's agent (their own only); the channel report
// with its line chart; both CSV exports with their columns and numbers;
// and the supply list's actions: a ticket closed "item unavailable" is
// listed, mailing a department without a head is refused on the page, and
// "supply arrived" reopens it.
func TestReportsPage(t *testing.T) {
	w := newWorld(t)
	op := w.client(t, "op@uni.example")
	agent := w.client(t, "class@uni.example")

	code, _, body := get(t, op, w.srv.URL+"/reports")
	if code != http.StatusOK || !strings.Contains(body, `dir="ltr"`) {
		t.Fatalf("operator's reports: %d\n%s", code, body)
	}
	for _, dep := range []string{"classrooms", "maintenance_center"} {
		if !strings.Contains(body, `data-department="`+dep+`"`) {
			t.Errorf("the operator's report lacks %s", dep)
		}
	}
	if n := checkSVG(t, body); n != 2 {
		t.Errorf("%d charts, want the state bars and the channel line", n)
	}
	for _, ch := range []string{"email", "sms"} {
		if !strings.Contains(body, `data-channel="`+ch+`"`) {
			t.Errorf("channel report lacks %s", ch)
		}
	}

	code, _, body = get(t, agent, w.srv.URL+"/reports")
	if code != http.StatusOK || !strings.Contains(body, `lang="ar" dir="rtl"`) || !strings.Contains(body, `direction="rtl"`) {
		t.Fatalf("agent's reports not in Arabic, right to left: %d\n%s", code, body)
	}
	if !strings.Contains(body, `data-department="classrooms"`) || strings.Contains(body, `data-department="maintenance_center"`) {
		t.Error("the agent's report is not their department's alone")
	}
	checkSVG(t, body)

	rows := readCSV(t, op, w.srv.URL+"/reports/weekly.csv")
	want := []string{"week", "department", "open", "transferred", "pending", "in_progress", "total", "closed", "closed_done",
		"closed_not_done", "sla_breaches", "median_first_response_hours", "median_resolution_hours", "surveys", "avg_service", "avg_staff"}
	if strings.Join(rows[0], ",") != strings.Join(want, ",") {
		t.Fatalf("weekly CSV columns %v, want %v", rows[0], want)
	}
	if r := row(t, rows, "department", "classrooms"); r["open"] != "1" || r["total"] != "1" || r["closed"] != "0" {
		t.Errorf("classrooms row %v", r)
	}
	rows = readCSV(t, op, w.srv.URL+"/reports/channels.csv")
	if rows[0][2] != "channel" || rows[0][3] != "messages" {
		t.Fatalf("channel CSV columns %v", rows[0])
	}
	if r := row(t, rows, "channel", "sms"); r["messages"] != "1" || r["in_scope"] != "1" {
		t.Errorf("sms row %v", r)
	}
	if code, _, _ := get(t, op, w.srv.URL+"/reports?week=tomorrow"); code != http.StatusBadRequest {
		t.Errorf("a bad week: %d, want 400", code)
	}

	// Closed "not done: item unavailable" from the conversation page.
	conv := itoa(w.convs["maintenance"])
	post := func(c *http.Client, path string, form url.Values) (int, string) {
		t.Helper()
		resp, err := c.PostForm(w.srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(op, "/conversations/"+conv+"/close", url.Values{"outcome": {"unavailable"}, "reply": {"No lamps in stock."}}); code != http.StatusSeeOther {
		t.Fatalf("close as unavailable: %d\n%s", code, body)
	}
	_, _, body = get(t, op, w.srv.URL+"/reports")
	tk, _, err := w.st.Ticket(t.Context(), ticketOf(t, w, w.convs["maintenance"]))
	if err != nil {
		t.Fatal(err)
	}
	if tk.OutcomeReason != store.ReasonUnavailable || !strings.Contains(body, tk.Ref) || !strings.Contains(body, "/reports/supply/maintenance_center/send") {
		t.Fatalf("supply list: reason %q, page lacks %s:\n%s", tk.OutcomeReason, tk.Ref, body)
	}
	// In Arabic the list says "item unavailable" in Arabic too.
	if code, _ := post(op, "/language", url.Values{"back": {"/reports"}}); code != http.StatusSeeOther {
		t.Fatalf("switch to Arabic: %d", code)
	}
	_, _, body = get(t, op, w.srv.URL+"/reports")
	if !strings.Contains(body, `lang="ar"`) {
		t.Fatal("the reports are not in Arabic after the switch")
	}
	supply := body[strings.Index(body, `id="supply"`):]
	supply = supply[:strings.Index(supply, "</section>")]
	if !strings.Contains(supply, "المستلزم غير متوفر") || strings.Contains(supply, store.ReasonUnavailable) {
		t.Errorf("the Arabic supply list's reason:\n%s", supply)
	}
	if code, body := post(op, "/reports/supply/maintenance_center/send", nil); code != http.StatusBadRequest || !strings.Contains(body, "no department head") {
		t.Errorf("mailing a department without a head: %d", code)
	}
	if code, _ := post(agent, "/reports/supply/maintenance_center/arrived", url.Values{"message": {"Arrived."}}); code != http.StatusForbidden {
		t.Errorf("another department's agent reopened: %d, want 403", code)
	}
	if code, body := post(op, "/reports/supply/maintenance_center/arrived", url.Values{"message": {"The lamps have arrived."}}); code != http.StatusSeeOther {
		t.Fatalf("supply arrived: %d\n%s", code, body)
	}
	if tk, _, _ = w.st.Ticket(t.Context(), tk.ID); tk.Status != store.TicketOpen {
		t.Errorf("after supply arrived: %s, want open", tk.Status)
	}
	// The reopen's note, in the Arabic conversation, is Arabic.
	_, _, body = get(t, op, w.srv.URL+"/conversations/"+conv)
	if !strings.Contains(body, "وصل التوريد، وأعيد فتح التذكرة") || strings.Contains(body, inbox.NoteSupplyArrived) {
		t.Errorf("the Arabic conversation's reopen note:\n%s", body)
	}
}

func ticketOf(t *testing.T, w *world, conv int64) int64 {
	t.Helper()
	c, err := w.st.InboxConversation(t.Context(), conv, 0)
	if err != nil {
		t.Fatal(err)
	}
	return c.TicketID
}
