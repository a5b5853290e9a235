package tickets

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
	"time"
)

// reportWords are the weekly report's words in both languages.
func reportWords(lang string) map[string]string {
	if lang == "en" {
		return map[string]string{
			"subject": "Weekly ticket report: %s, week of %s", "title": "Weekly ticket report", "week": "Week from %s to %s",
			"now": "Tickets by state now", "open": "Open / transferred", "pending": "Pending", "in_progress": "In progress",
			"total": "Total", "closed": "Closed this week", "done": "done", "not_done": "not done", "breaches": "SLA breaches this week",
			"first": "Median first response", "resolution": "Median resolution", "satisfaction": "Average satisfaction",
			"answers": "answers", "service": "service", "staff": "staff", "none": "—", "hours": "working hours",
			"state": "State", "count": "Tickets", "ticket": "Ticket", "outcome": "Outcome", "more": "The report with charts: %s",
			"transferred": "Transferred", "open_only": "Open",
		}
	}
	return map[string]string{
		"subject": "التقرير الأسبوعي للتذاكر: %s، أسبوع %s", "title": "التقرير الأسبوعي للتذاكر", "week": "الأسبوع من %s إلى %s",
		"now": "التذاكر حسب الحالة الآن", "open": "مفتوحة / محوّلة", "pending": "معلّقة", "in_progress": "تحت الإجراء",
		"total": "الإجمالي", "closed": "المغلقة هذا الأسبوع", "done": "تم الإنجاز", "not_done": "لم يتم الإنجاز", "breaches": "تجاوز المهلة هذا الأسبوع",
		"first": "وسيط زمن أول رد", "resolution": "وسيط زمن الإنجاز", "satisfaction": "متوسط رضا العملاء",
		"answers": "تقييمات", "service": "الخدمة", "staff": "الموظف", "none": "—", "hours": "ساعة عمل",
		"state": "الحالة", "count": "التذاكر", "ticket": "التذكرة", "outcome": "النتيجة", "more": "التقرير مع الرسوم البيانية: %s",
		"transferred": "محوّلة", "open_only": "مفتوحة",
	}
}

// WorkingHours words a working-time duration: "3.5 working hours".
func WorkingHours(d time.Duration, lang string) string {
	if d <= 0 {
		return reportWords(lang)["none"]
	}
	return fmt.Sprintf("%s %s", num(float64(d.Round(6*time.Minute))/float64(time.Hour)), reportWords(lang)["hours"])
}

// StateChart is the bar chart of departments' tickets by state (open,
// transferred, pending, in progress), in lang.
func StateChart(lang, title string, names []string, reports []DepartmentReport) string {
	w := reportWords(lang)
	series := []Series{
		{Name: w["open_only"], Color: StateColor(Open)},
		{Name: w["transferred"], Color: StateColor(Transferred)},
		{Name: w["pending"], Color: StateColor(Pending)},
		{Name: w["in_progress"], Color: StateColor(InProgress)},
	}
	for _, r := range reports {
		series[0].Values = append(series[0].Values, float64(r.Open))
		series[1].Values = append(series[1].Values, float64(r.Transferred))
		series[2].Values = append(series[2].Values, float64(r.Pending))
		series[3].Values = append(series[3].Values, float64(r.InProgress))
	}
	return BarChart{Title: title, Labels: names, Series: series, RTL: lang != "en"}.SVG()
}

var reportHTML = template.Must(template.New("report").Parse(`<!doctype html>
<html lang="{{.Lang}}" dir="{{.Dir}}"><head><meta charset="utf-8"><title>{{.Subject}}</title></head>
<body><div dir="{{.Dir}}" lang="{{.Lang}}" style="font-family: Tahoma, Arial, sans-serif; font-size: 15px; line-height: 1.6; text-align: {{.Align}};">
<h1 style="font-size: 18px;">{{.W.title}} — {{.Name}}</h1>
<p>{{.WeekText}}</p>
<div>{{.Chart}}</div>
<h2 style="font-size: 16px;">{{.W.now}}</h2>
<table cellpadding="6" style="border-collapse: collapse; border: 1px solid #cccccc;">
<tr><th style="text-align: {{.Align}};">{{.W.state}}</th><th>{{.W.count}}</th></tr>
<tr><td>{{.W.open}}</td><td>{{.OpenTransferred}}</td></tr>
<tr><td>{{.W.pending}}</td><td>{{.R.Pending}}</td></tr>
<tr><td>{{.W.in_progress}}</td><td>{{.R.InProgress}}</td></tr>
<tr><td><strong>{{.W.total}}</strong></td><td><strong>{{.R.Total}}</strong></td></tr>
</table>
<h2 style="font-size: 16px;">{{.W.closed}}: {{.R.Closed}} ({{.W.done}} {{.R.ClosedDone}}{{.Sep}}{{.W.not_done}} {{.R.ClosedNotDone}})</h2>
{{if .R.ClosedTickets}}<table cellpadding="6" style="border-collapse: collapse; border: 1px solid #cccccc;">
<tr><th style="text-align: {{.Align}};">{{.W.ticket}}</th><th style="text-align: {{.Align}};">{{.W.outcome}}</th></tr>
{{range .Closed}}<tr><td dir="auto"><span dir="ltr">{{.Ref}}</span> {{.Subject}}</td><td dir="auto">{{.Outcome}}</td></tr>
{{end}}</table>{{end}}
<p>{{.W.breaches}}: {{.R.Breaches}}<br>{{.W.first}}: {{.First}}<br>{{.W.resolution}}: {{.Resolution}}<br>{{.W.satisfaction}}: {{.Satisfaction}}</p>
{{with .Link}}<p><a href="{{.}}">{{$.LinkText}}</a></p>{{end}}
</div></body></html>
`))

// ReportMail renders a department's weekly report for its head: subject,
// text, and HTML with the chart inline as SVG.
func ReportMail(lang, name string, week Week, r DepartmentReport, inboxURL string) (subject, text, htmlBody string, err error) {
	if lang != "en" {
		lang = "ar"
	}
	w := reportWords(lang)
	start, end := week.Start.Format(time.DateOnly), week.End.AddDate(0, 0, -1).Format(time.DateOnly)
	subject = fmt.Sprintf(w["subject"], name, start)
	sep := "، "
	if lang == "en" {
		sep = ", "
	}
	outcome := func(c ClosedLine) string {
		if c.Outcome == "not_done" {
			s := w["not_done"]
			if c.Reason != "" {
				s += ": " + c.Reason
			}
			return s
		}
		s := w["done"]
		if c.Date != "" {
			s += " (" + c.Date + ")"
		}
		return s
	}
	satisfaction := w["none"]
	if r.Surveys > 0 {
		satisfaction = fmt.Sprintf("%s %.1f / 5%s%s %.1f / 5 (%d %s)", w["service"], r.AvgService, sep, w["staff"], r.AvgStaff, r.Surveys, w["answers"])
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s — %s\n%s\n\n", w["title"], name, fmt.Sprintf(w["week"], start, end))
	fmt.Fprintf(&b, "%s:\n%s: %d\n%s: %d\n%s: %d\n%s: %d\n\n", w["now"], w["open"], r.Open+r.Transferred, w["pending"], r.Pending,
		w["in_progress"], r.InProgress, w["total"], r.Total)
	fmt.Fprintf(&b, "%s: %d (%s %d%s%s %d)\n", w["closed"], r.Closed, w["done"], r.ClosedDone, sep, w["not_done"], r.ClosedNotDone)
	for _, c := range r.ClosedTickets {
		fmt.Fprintf(&b, "- %s %s — %s\n", c.Ref, c.Subject, outcome(c))
	}
	fmt.Fprintf(&b, "\n%s: %d\n%s: %s\n%s: %s\n%s: %s\n", w["breaches"], r.Breaches, w["first"], WorkingHours(r.MedianFirstResponse, lang),
		w["resolution"], WorkingHours(r.MedianResolution, lang), w["satisfaction"], satisfaction)
	reportLink := ""
	if inboxURL != "" {
		reportLink = strings.TrimSuffix(inboxURL, "/") + "/reports?week=" + week.Key()
		fmt.Fprintf(&b, "\n%s\n", fmt.Sprintf(w["more"], reportLink))
	}
	type line struct{ Ref, Subject, Outcome string }
	var closed []line
	for _, c := range r.ClosedTickets {
		closed = append(closed, line{c.Ref, c.Subject, outcome(c)})
	}
	dir, align := "rtl", "right"
	if lang == "en" {
		dir, align = "ltr", "left"
	}
	var h bytes.Buffer
	err = reportHTML.Execute(&h, map[string]any{
		"Lang": lang, "Dir": dir, "Align": align, "Sep": sep, "Subject": subject, "W": w, "Name": name, "R": r, "Closed": closed,
		"WeekText": fmt.Sprintf(w["week"], start, end), "OpenTransferred": r.Open + r.Transferred,
		// Our own SVG: every text in it is escaped where it is written.
		"Chart": template.HTML(StateChart(lang, w["now"], []string{name}, []DepartmentReport{r})), //nolint:gosec // escaped in BarChart
		"First": WorkingHours(r.MedianFirstResponse, lang), "Resolution": WorkingHours(r.MedianResolution, lang),
		"Satisfaction": satisfaction, "Link": reportLink, "LinkText": strings.TrimSpace(strings.TrimSuffix(fmt.Sprintf(w["more"], ""), ": ")),
	})
	if err != nil {
		return "", "", "", fmt.Errorf("weekly report mail: %w", err)
	}
	return subject, b.String(), h.String(), nil
}
