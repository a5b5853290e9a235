package web

import (
	"encoding/csv"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/wasl-dev/wasl/inbox"
	"github.com/wasl-dev/wasl/store"
	"github.com/wasl-dev/wasl/tickets"
)

type reportsData struct {
	Week          tickets.Week
	WeekKey       string
	PrevKey       string
	NextKey       string
	Reports       inbox.Reports
	StateChart    template.HTML
	From, To      string // the channel report's period, YYYY-MM-DD (To inclusive)
	Days          []tickets.ChannelDay
	Channels      []tickets.ChannelSummary
	ChannelChart  template.HTML
	Shortages     []shortage
	Error, Notice string
}

type shortage struct {
	Department string
	Tickets    []store.Ticket
}

// reportPeriod reads the page's week (?week=YYYY-MM-DD, a day in it; this
// week by default) and the channel report's days (?from=&to=, inclusive;
// the week's by default), in the bank's zone.
func (h *Handler) reportPeriod(r *http.Request) (tickets.Week, time.Time, time.Time, error) {
	zone := h.svc.Zone()
	day := func(name string) (time.Time, bool, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return time.Time{}, false, nil
		}
		t, err := time.ParseInLocation(time.DateOnly, v, zone)
		if err != nil {
			return time.Time{}, false, inbox.Invalid("bad value for " + name + ": want YYYY-MM-DD")
		}
		return t, true, nil
	}
	at, ok, err := day("week")
	if err != nil {
		return tickets.Week{}, time.Time{}, time.Time{}, err
	}
	if !ok {
		at = h.now()
	}
	week := tickets.WeekOf(at, zone)
	from, ok, err := day("from")
	if err != nil {
		return week, time.Time{}, time.Time{}, err
	}
	if !ok {
		from = week.Start
	}
	to, ok, err := day("to")
	if err != nil {
		return week, time.Time{}, time.Time{}, err
	}
	if ok {
		to = to.AddDate(0, 0, 1)
	} else {
		to = week.End
	}
	return week, from, to, nil
}

func (h *Handler) showReports(w http.ResponseWriter, r *http.Request) {
	notice := r.URL.Query().Get("notice")
	switch notice {
	case "reports.supply.sent", "reports.supply.already", "reports.supply.reopened":
	default:
		notice = ""
	}
	h.renderReports(w, r, http.StatusOK, "", notice)
}

func (h *Handler) renderReports(w http.ResponseWriter, r *http.Request, status int, errText, notice string) {
	p := h.newPage(r, "")
	p.Title, p.Nav = p.T("reports.title"), "reports"
	week, from, to, err := h.reportPeriod(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	pr := principal(r)
	reps, err := h.svc.WeeklyReports(r.Context(), pr, week)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	days, sums, err := h.svc.ChannelReport(r.Context(), from, to)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	short, err := h.svc.SupplyShortages(r.Context(), pr)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	d := reportsData{Week: week, WeekKey: week.Key(), PrevKey: week.Previous().Key(),
		NextKey: tickets.WeekOf(week.End, week.Start.Location()).Key(), Reports: reps,
		From: from.Format(time.DateOnly), To: to.AddDate(0, 0, -1).Format(time.DateOnly),
		Days: days, Channels: sums, Error: errText, Notice: notice}
	var names []string
	for _, rep := range reps.Departments {
		names = append(names, p.Department(rep.Department))
	}
	// Our own SVG: every text in it is escaped where it is written.
	d.StateChart = template.HTML(tickets.StateChart(p.Lang, p.T("reports.by_state"), names, reps.Departments)) //nolint:gosec // escaped in BarChart
	d.ChannelChart = template.HTML(channelChart(p, days, from, to))                                            //nolint:gosec // escaped in LineChart
	for dep, ts := range short {
		d.Shortages = append(d.Shortages, shortage{Department: dep, Tickets: ts})
	}
	sort.Slice(d.Shortages, func(i, j int) bool { return d.Shortages[i].Department < d.Shortages[j].Department })
	p.Data = d
	h.render(w, r, status, "reports", p)
}

// channelChart is the line of messages per day per channel over the
// period, every day shown (a quiet day is a zero, not a gap).
func channelChart(p *page, days []tickets.ChannelDay, from, to time.Time) string {
	var labels []string
	index := map[string]int{}
	for d := from; d.Before(to) && len(labels) < 366; d = d.AddDate(0, 0, 1) {
		k := d.Format(time.DateOnly)
		index[k] = len(labels)
		labels = append(labels, d.Format("01-02"))
	}
	var series []tickets.Series
	byKind := map[string]int{}
	for _, d := range days {
		i, ok := byKind[string(d.Channel)]
		if !ok {
			i = len(series)
			byKind[string(d.Channel)] = i
			series = append(series, tickets.Series{Name: p.T("channel." + string(d.Channel)), Color: tickets.ChannelColor(string(d.Channel)),
				Values: make([]float64, len(labels))})
		}
		if j, ok := index[d.Day]; ok {
			series[i].Values[j] = float64(d.Messages)
		}
	}
	return tickets.LineChart{Title: p.T("reports.per_day"), Labels: labels, Series: series, RTL: p.Lang != "en"}.SVG()
}

// weeklyCSV is the week's department reports as CSV, one row per
// department, the columns the catalogue asks for.
func (h *Handler) weeklyCSV(w http.ResponseWriter, r *http.Request) {
	week, _, _, err := h.reportPeriod(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	reps, err := h.svc.WeeklyReports(r.Context(), principal(r), week)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows := [][]string{{"week", "department", "open", "transferred", "pending", "in_progress", "total",
		"closed", "closed_done", "closed_not_done", "sla_breaches", "median_first_response_hours", "median_resolution_hours",
		"surveys", "avg_service", "avg_staff"}}
	for _, d := range reps.Departments {
		rows = append(rows, []string{week.Key(), d.Department, intText(d.Open), intText(d.Transferred), intText(d.Pending), intText(d.InProgress),
			intText(d.Total), intText(d.Closed), intText(d.ClosedDone), intText(d.ClosedNotDone), intText(d.Breaches),
			hours(d.MedianFirstResponse), hours(d.MedianResolution), intText(d.Surveys), rating(d.AvgService), rating(d.AvgStaff)})
	}
	writeCSV(w, "wasl-weekly-"+week.Key()+".csv", rows)
}

// channelsCSV is the channel report's summary as CSV, one row per channel.
func (h *Handler) channelsCSV(w http.ResponseWriter, r *http.Request) {
	_, from, to, err := h.reportPeriod(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	_, sums, err := h.svc.ChannelReport(r.Context(), from, to)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	rows := [][]string{{"from", "to", "channel", "messages", "in_scope", "out_of_scope", "auto_answered",
		"replies_auto", "replies_staff", "median_first_human_reply_hours", "referrals"}}
	for _, s := range sums {
		var refs []string
		for k, n := range s.Referrals {
			refs = append(refs, fmt.Sprintf("%s=%d", k, n))
		}
		sort.Strings(refs)
		ref := ""
		for i, x := range refs {
			if i > 0 {
				ref += ";"
			}
			ref += x
		}
		rows = append(rows, []string{from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly), string(s.Channel),
			intText(s.Messages), intText(s.InScope), intText(s.OutOfScope), intText(s.AutoAnswered), intText(s.RepliesAuto), intText(s.RepliesStaff),
			hours(s.MedianFirstHand), ref})
	}
	writeCSV(w, "wasl-channels-"+from.Format(time.DateOnly)+".csv", rows)
}

func intText(n int) string { return strconv.Itoa(n) }

func hours(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return strconv.FormatFloat(d.Hours(), 'f', 2, 64)
}

func rating(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', 2, 64)
}

// writeCSV answers with rows as a CSV download; a UTF-8 byte-order mark
// first, so spreadsheet programs read the Arabic right.
func writeCSV(w http.ResponseWriter, name string, rows [][]string) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	_, _ = w.Write([]byte("\ufeff"))
	cw := csv.NewWriter(w)
	_ = cw.WriteAll(rows) // the client went away: nothing to tell it
}

// sendSupplyList mails a department's supply list to its head.
func (h *Handler) sendSupplyList(w http.ResponseWriter, r *http.Request) {
	h.reportAction(w, r, func(dep string) (string, error) {
		sent, err := h.svc.SendSupplyList(r.Context(), principal(r), dep)
		if err != nil || !sent {
			return "reports.supply.already", err
		}
		return "reports.supply.sent", nil
	})
}

// supplyArrived reopens a department's tickets waiting on supply.
func (h *Handler) supplyArrived(w http.ResponseWriter, r *http.Request) {
	h.reportAction(w, r, func(dep string) (string, error) {
		_, err := h.svc.SupplyArrived(r.Context(), principal(r), dep, r.PostForm.Get("message"))
		return "reports.supply.reopened", err
	})
}

func (h *Handler) reportAction(w http.ResponseWriter, r *http.Request, fn func(department string) (string, error)) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	notice, err := fn(r.PathValue("department"))
	if err != nil {
		var inv *inbox.InvalidError
		if errors.As(err, &inv) {
			h.renderReports(w, r, http.StatusBadRequest, err.Error(), "")
			return
		}
		h.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/reports?notice="+url.QueryEscape(notice), http.StatusSeeOther)
}
