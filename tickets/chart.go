package tickets

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// The report charts are small SVG documents written here rather than with
// a charting library: they must read the same inline in a mail client and
// in the inbox, right to left in Arabic (bars growing from the right, the
// time axis running right to left), with Arabic labels the viewer's own
// fonts shape. A library that lays text out with an embedded Latin font
// measures Arabic labels wrong and has no right-to-left layout; two chart
// kinds are a hundred lines of SVG.

// Series is one coloured set of values: a ticket state across
// departments, a channel across days.
type Series struct {
	Name   string
	Color  string // CSS colour
	Values []float64
}

// BarChart is horizontal stacked bars, one row per label (a department),
// one segment per series (a state).
type BarChart struct {
	Title  string
	Labels []string
	Series []Series
	RTL    bool
}

const (
	chartWidth = 640
	chartFont  = `font-family="Tahoma, 'Noto Sans Arabic', Arial, sans-serif"`
)

func esc(s string) string { return html.EscapeString(s) }

// svgOpen starts a chart; dir sets the text direction the viewer shapes
// labels in. Under direction rtl a text's start is its right edge, so a
// label anchored at the right margin keeps the default anchor (start).
func svgOpen(b *strings.Builder, w, h int, title string, rtl bool) {
	dir := "ltr"
	if rtl {
		dir = "rtl"
	}
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="%s" direction="%s" %s font-size="13">`,
		w, h, w, h, esc(title), dir, chartFont)
	fmt.Fprintf(b, `<title>%s</title><rect width="%d" height="%d" fill="#ffffff"/>`, esc(title), w, h)
}

// legend writes the series' names and colours in a row under the title.
func legend(b *strings.Builder, series []Series, y int, rtl bool) {
	x := 10
	for _, s := range series {
		w := 24 + 8*len([]rune(s.Name))
		if rtl {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" text-anchor="start">%s</text>`,
				chartWidth-x-12, y-10, s.Color, chartWidth-x-18, y, esc(s.Name))
		} else {
			fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`,
				x, y-10, s.Color, x+18, y, esc(s.Name))
		}
		x += w
	}
}

// SVG renders the chart as a standalone SVG document.
func (c BarChart) SVG() string {
	const top, row, labelW, pad = 56, 30, 190, 10
	h := top + row*max(1, len(c.Labels)) + 10
	var b strings.Builder
	svgOpen(&b, chartWidth, h, c.Title, c.RTL)
	titleX := pad
	if c.RTL {
		titleX = chartWidth - pad
	}
	fmt.Fprintf(&b, `<text x="%d" y="20" font-weight="bold" font-size="15">%s</text>`, titleX, esc(c.Title))
	legend(&b, c.Series, 44, c.RTL)
	maxTotal := 0.0
	for i := range c.Labels {
		maxTotal = math.Max(maxTotal, rowTotal(c.Series, i))
	}
	span := float64(chartWidth - labelW - 3*pad - 30) // room for the total
	for i, label := range c.Labels {
		y := top + i*row
		if c.RTL {
			fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`, chartWidth-pad, y+18, esc(label))
		} else {
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW, y+18, esc(label))
		}
		at := 0.0
		for _, s := range c.Series {
			v := value(s.Values, i)
			if v <= 0 || maxTotal == 0 {
				continue
			}
			w := v / maxTotal * span
			x := float64(labelW+pad) + at
			if c.RTL {
				x = float64(chartWidth-labelW-pad) - at - w
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="20" fill="%s"><title>%s: %s</title></rect>`,
				x, y+4, w, s.Color, esc(s.Name), num(v))
			if w >= 18 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#ffffff" font-size="11">%s</text>`, x+w/2, y+18, num(v))
			}
			at += w
		}
		total := rowTotal(c.Series, i)
		if c.RTL {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-weight="bold">%s</text>`, float64(chartWidth-labelW-2*pad)-at, y+18, num(total))
		} else {
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-weight="bold">%s</text>`, float64(labelW+2*pad)+at, y+18, num(total))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func rowTotal(series []Series, i int) float64 {
	t := 0.0
	for _, s := range series {
		t += math.Max(0, value(s.Values, i))
	}
	return t
}

func value(v []float64, i int) float64 {
	if i < len(v) {
		return v[i]
	}
	return 0
}

func num(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// LineChart is one line per series (a channel) over the labels (days).
type LineChart struct {
	Title  string
	Labels []string
	Series []Series
	RTL    bool
}

// SVG renders the chart as a standalone SVG document.
func (c LineChart) SVG() string {
	const top, plotH, left, right, bottom = 56, 200, 40, 20, 40
	h := top + plotH + bottom
	var b strings.Builder
	svgOpen(&b, chartWidth, h, c.Title, c.RTL)
	titleX := 10
	if c.RTL {
		titleX = chartWidth - 10
	}
	fmt.Fprintf(&b, `<text x="%d" y="20" font-weight="bold" font-size="15">%s</text>`, titleX, esc(c.Title))
	legend(&b, c.Series, 44, c.RTL)
	maxV := 1.0
	for _, s := range c.Series {
		for _, v := range s.Values {
			maxV = math.Max(maxV, v)
		}
	}
	plotW := float64(chartWidth - left - right)
	x := func(i int) float64 {
		step := 0.0
		if n := len(c.Labels); n > 1 {
			step = plotW / float64(n-1)
		}
		if c.RTL {
			return float64(chartWidth-left) - float64(i)*step
		}
		return float64(left) + float64(i)*step
	}
	y := func(v float64) float64 { return float64(top+plotH) - v/maxV*float64(plotH) }
	// Axes and the scale: 0 and the maximum.
	axisX := left
	if c.RTL {
		axisX = chartWidth - left
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999"/>`, left, top+plotH, chartWidth-right, top+plotH)
	if c.RTL {
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999"/>`, right, top+plotH, chartWidth-left, top+plotH)
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#999999"/>`, axisX, top, axisX, top+plotH)
	// Left of the axis in LTR, right of it in RTL: the text's end either way.
	labelAnchor := "end"
	labelX := axisX - 4
	if c.RTL {
		labelX = axisX + 4
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="%s" font-size="11">%s</text>`, labelX, top+4, labelAnchor, num(maxV))
	fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="%s" font-size="11">0</text>`, labelX, top+plotH, labelAnchor)
	every := max(1, (len(c.Labels)+7)/8) // at most about eight day labels
	for i, l := range c.Labels {
		if i%every != 0 && i != len(c.Labels)-1 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" font-size="11" direction="ltr">%s</text>`, x(i), top+plotH+18, esc(l))
	}
	for _, s := range c.Series {
		var pts []string
		for i := range c.Labels {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(value(s.Values, i))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, s.Color, strings.Join(pts, " "), esc(s.Name))
		for i := range c.Labels {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s %s: %s</title></circle>`,
				x(i), y(value(s.Values, i)), s.Color, esc(s.Name), esc(c.Labels[i]), num(value(s.Values, i)))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// StateColor is a ticket state's colour in every chart.
func StateColor(s Status) string {
	switch s {
	case Open:
		return "#1d4ed8"
	case Transferred:
		return "#7c3aed"
	case Pending:
		return "#d97706"
	case InProgress:
		return "#0b6e4f"
	}
	return "#6b7280"
}

// ChannelColor is a channel's colour in the charts.
func ChannelColor(kind string) string {
	switch kind {
	case "email":
		return "#1d4ed8"
	case "sms":
		return "#d97706"
	case "whatsapp":
		return "#16a34a"
	}
	return "#6b7280"
}
