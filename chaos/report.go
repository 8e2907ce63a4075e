package chaos

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Word is the verdict in one word: PASS, FAIL or SKIP.
func (v Verdict) Word() string {
	switch {
	case v.Skipped:
		return "SKIP"
	case v.Pass:
		return "PASS"
	}
	return "FAIL"
}

// Status is the result in one word: PASSED or FAILED.
func (r *Result) Status() string {
	if r.Passed() {
		return "PASSED"
	}
	return "FAILED"
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteMarkdown writes r as a Markdown report.
func WriteMarkdown(w io.Writer, r *Result) error {
	var b strings.Builder
	pass, fail, skip := r.Counts()
	fmt.Fprintf(&b, "# %s: %s\n\n", r.Scenario.Name, r.Status())
	if r.Scenario.Description != "" {
		fmt.Fprintf(&b, "%s\n\n", r.Scenario.Description)
	}
	fmt.Fprintf(&b, "Started %s, took %s. Verdicts: %d passed, %d failed, %d skipped.\n\n",
		r.Started.UTC().Format(time.RFC3339), r.Elapsed.Round(100*time.Millisecond), pass, fail, skip)
	if r.Aborted != "" {
		fmt.Fprintf(&b, "**Aborted:** %s\n\n", r.Aborted)
	}
	if l := r.Load; l != nil {
		fmt.Fprintf(&b, "Load: %d requests (%.1f/s), %.1f%% successful, %d dropped; p50 %s, p90 %s, p99 %s, max %s.\n\n",
			l.Total, l.RPS, 100*l.SuccessRate(), l.Dropped, rd(l.Latency.P50), rd(l.Latency.P90), rd(l.Latency.P99), rd(l.Latency.Max))
	}
	b.WriteString("## Verdicts\n\n| result | check | phase | measured | want | note |\n|---|---|---|---|---|---|\n")
	for _, v := range r.Verdicts {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", v.Word(), mdEscape(v.Check), v.Phase, mdEscape(v.Measured), mdEscape(v.Want), mdEscape(v.Note))
	}
	if len(r.Detections) > 0 {
		b.WriteString("\n## Alerts\n\n| alert | first fault | seen firing | Prometheus active | time to detect |\n|---|---|---|---|---|\n")
		for _, d := range r.Detections {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEscape(d.Alert), rd(d.Fault), rd(d.Firing), rdActive(d.ActiveAt), detectWord(d))
		}
	}
	if h := r.History; h != nil {
		fmt.Fprintf(&b, "\n## History\n\n%s (%d orders tried, %d in the stores).\n", h.Summary(), h.Keys, h.Orders)
		if len(h.Anomalies) > 0 {
			b.WriteString("\n| order | kind | key | detail |\n|---|---|---|---|\n")
			for _, a := range h.Anomalies {
				id := a.OrderID
				if id == "" {
					id = "product " + a.ProductID
				}
				fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", mdEscape(id), a.Kind, mdEscape(a.Key), mdEscape(a.Detail))
			}
		}
	}
	if len(r.Windows) > 0 {
		b.WriteString("\n## Faults\n\n| step | fault | from | to | error |\n|---|---|---|---|---|\n")
		for _, win := range r.Windows {
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", mdEscape(win.Step), mdEscape(win.Fault), rd(win.Start), rd(win.End), mdEscape(win.Error))
		}
	}
	if len(r.Timeline) > 0 {
		keys := breakerKeys(r.Timeline)
		b.WriteString("\n## Timeline\n\n| s | req | ok % | p99 | faults |")
		for _, k := range keys {
			b.WriteString(" " + k + " |")
		}
		b.WriteString("\n|---|---|---|---|---|" + strings.Repeat("---|", len(keys)) + "\n")
		for _, p := range r.Timeline {
			fmt.Fprintf(&b, "| %d | %d | %.1f | %s | %s |", p.Offset, p.Requests, 100*p.SuccessRate(), rd(p.P99), strings.Join(p.Faults, ", "))
			for _, k := range keys {
				b.WriteString(" " + p.Breakers[k].String() + " |")
			}
			b.WriteString("\n")
		}
	}
	if len(r.Failures) > 0 {
		b.WriteString("\n## Sample failed requests\n\n| call | at | status | latency | trace id | error |\n|---|---|---|---|---|---|\n")
		for _, f := range r.Failures {
			fmt.Fprintf(&b, "| %s | %s | %d | %s | `%s` | %s |\n", f.Call, rd(f.Start.Sub(r.LoadStart)), f.Status, rd(f.Latency), f.TraceID, mdEscape(f.Error))
		}
	}
	if len(r.Errors) > 0 {
		b.WriteString("\n## Errors\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// detectWord is a Detection's time to detect as a report shows it.
func detectWord(d Detection) string {
	switch ttd := d.TimeToDetect(); {
	case d.Firing < 0:
		return "never fired"
	case ttd < 0:
		return "already firing"
	default:
		return rd(ttd)
	}
}

func rdActive(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return rd(d)
}

func rd(d time.Duration) string {
	switch {
	case d < 0:
		return "-"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func breakerKeys(tl []Point) []string {
	var keys []string
	for _, p := range tl {
		for k := range p.Breakers {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// SVG geometry.
const (
	svgW, svgLeft, svgRight = 900, 70, 20
	panelH, panelGap        = 80, 24
	rowH                    = 16
	panelTop                = 20 // room for the first panel's title
	// charW is about the width of one character at font-size 11, to make
	// room for the longest breaker label.
	charW = 6.5
)

// svgMargin is the left margin: svgLeft, or wider for long breaker labels.
func svgMargin(keys []string) float64 {
	m := float64(svgLeft)
	for _, k := range keys {
		m = max(m, float64(utf8.RuneCountInString(breakerLabel(k)))*charW+12)
	}
	return m
}

func breakerLabel(key string) string { return "breaker " + key }

// perSecond is p's requests per second: a last, partial second counts
// for its span only.
func perSecond(p Point) float64 {
	if p.Span > 0 && p.Span < time.Second {
		return float64(p.Requests) / p.Span.Seconds()
	}
	return float64(p.Requests)
}

// TimelineSVG renders the timeline: requests/s, success rate, p99 and one
// row per breaker, with fault windows shaded (rect class="fault").
func TimelineSVG(r *Result) string {
	tl := r.Timeline
	secs := max(len(tl), int((r.Scenario.Load.Duration+time.Second-1)/time.Second), 1)
	keys := breakerKeys(tl)
	left := svgMargin(keys)
	pw := svgW - left - svgRight
	x := func(sec float64) float64 { return left + sec/float64(secs)*pw }
	h := panelTop + 3*(panelH+panelGap) + len(keys)*rowH + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="11">`, svgW, h, svgW, h)
	// Fault windows, behind everything.
	for _, w := range r.Windows {
		end := w.End
		if end < 0 {
			end = time.Duration(secs) * time.Second
		}
		x0, x1 := x(w.Start.Seconds()), x(end.Seconds())
		fmt.Fprintf(&b, `<rect class="fault" x="%.1f" y="0" width="%.1f" height="%d" fill="#f4a261" fill-opacity="0.25"><title>%s</title></rect>`,
			x0, max(x1-x0, 1), h-20, html.EscapeString(w.Step+": "+w.Fault))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#9c4a00">%s</text>`, x0+2, h-8, html.EscapeString(w.Step))
	}
	type series struct {
		title string
		val   func(Point) float64
		max   float64
		unit  string
		color string
	}
	maxReq, maxP99 := 1.0, 1.0
	for _, p := range tl {
		maxReq = max(maxReq, perSecond(p))
		maxP99 = max(maxP99, float64(p.P99.Milliseconds()))
	}
	panels := []series{
		{"requests/s", perSecond, maxReq, "", "#264653"},
		{"success %", func(p Point) float64 { return 100 * p.SuccessRate() }, 100, "%", "#2a9d8f"},
		{"p99 ms", func(p Point) float64 { return float64(p.P99.Milliseconds()) }, maxP99, "ms", "#e76f51"},
	}
	for i, s := range panels {
		top := float64(panelTop + i*(panelH+panelGap))
		fmt.Fprintf(&b, `<g class="panel" data-series="%s">`, html.EscapeString(s.title))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-weight="bold">%s</text>`, left, top-6, html.EscapeString(s.title))
		// Ticks at 0, half and the top, with faint grid lines.
		for _, f := range []float64{0, 0.5, 1} {
			y := top + panelH - f*panelH
			fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end" fill="#666">%s%s</text>`, left-4, y+4, tickLabel(f*s.max), s.unit)
			stroke := `stroke="#eee"`
			if f == 0 {
				stroke = `stroke="#999"`
			}
			fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%d" y2="%.1f" %s/>`, left, y, svgW-svgRight, y, stroke)
		}
		var pts []string
		for _, p := range tl {
			y := top + panelH - s.val(p)/s.max*panelH
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(p.Offset)+0.5), y))
		}
		if len(pts) > 0 {
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`, s.color, strings.Join(pts, " "))
		}
		b.WriteString(`</g>`)
	}
	writeBreakerRows(&b, tl, keys, panelTop+3*(panelH+panelGap), x, pw/float64(secs))
	for s := 0; s <= secs; s += max(1, secs/10) {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#666">%ds</text>`, x(float64(s)), h-22, s)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// writeBreakerRows draws one row per breaker from top: each second in the
// worst state seen, x placing a second and w its width.
func writeBreakerRows(b *strings.Builder, tl []Point, keys []string, top int, x func(float64) float64, w float64) {
	colors := map[BreakerState]string{BreakerClosed: "#2a9d8f", BreakerHalfOpen: "#e9c46a", BreakerOpen: "#e63946", BreakerUnknown: "#ccc"}
	for i, k := range keys {
		y := top + i*rowH
		fmt.Fprintf(b, `<g class="breaker" data-breaker="%s"><text x="4" y="%d">%s</text>`, html.EscapeString(k), y+12, html.EscapeString(breakerLabel(k)))
		for _, p := range tl {
			st, ok := p.Breakers[k]
			if !ok {
				continue
			}
			fmt.Fprintf(b, `<rect class="state-%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%ds: %s</title></rect>`,
				st, x(float64(p.Offset)), y+2, w, rowH-4, colors[st], p.Offset, st)
		}
		b.WriteString(`</g>`)
	}
}

// tickLabel writes an axis value: whole numbers plain, small ones with a
// decimal.
func tickLabel(v float64) string {
	if v == float64(int64(v)) || v >= 10 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{
	"word":     Verdict.Word,
	"lower":    strings.ToLower,
	"rd":       rd,
	"rdActive": rdActive,
	"detect":   detectWord,
	"since":    func(r *Result, t time.Time) string { return rd(t.Sub(r.LoadStart)) },
	"pct":      func(l interface{ SuccessRate() float64 }) float64 { return 100 * l.SuccessRate() },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.R.Scenario.Name}}: {{.Status}}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:960px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
tr.pass td.result{color:#1b7f3b;font-weight:bold}tr.fail td.result{color:#c1121f;font-weight:bold}tr.skip td.result{color:#777}
.status-PASSED{color:#1b7f3b}.status-FAILED{color:#c1121f}code{font-size:12px}
</style></head><body>
<h1>{{.R.Scenario.Name}}: <span class="status-{{.Status}}">{{.Status}}</span></h1>
<p>{{.R.Scenario.Description}}</p>
{{with .R.Aborted}}<p><strong>Aborted:</strong> {{.}}</p>{{end}}
{{with .R.Load}}<p>Load: {{.Total}} requests ({{printf "%.1f" .RPS}}/s), {{printf "%.1f" (pct .)}}% successful, {{.Dropped}} dropped; p50 {{rd .Latency.P50}}, p99 {{rd .Latency.P99}}.</p>{{end}}
<h2>Timeline</h2>
{{.SVG}}
<h2>Verdicts</h2>
<table class="verdicts"><tr><th>result</th><th>check</th><th>phase</th><th>measured</th><th>want</th><th>note</th></tr>
{{range .R.Verdicts}}<tr class="{{lower (word .)}}"><td class="result">{{word .}}</td><td>{{.Check}}</td><td>{{.Phase}}</td><td>{{.Measured}}</td><td>{{.Want}}</td><td>{{.Note}}</td></tr>
{{end}}</table>
{{if .R.Detections}}<h2>Alerts</h2><table class="alerts"><tr><th>alert</th><th>first fault</th><th>seen firing</th><th>Prometheus active</th><th>time to detect</th></tr>
{{range .R.Detections}}<tr><td>{{.Alert}}</td><td>{{rd .Fault}}</td><td>{{rd .Firing}}</td><td>{{rdActive .ActiveAt}}</td><td>{{detect .}}</td></tr>
{{end}}</table>{{end}}
{{with .R.History}}<h2>History</h2><p>{{.Summary}} ({{.Keys}} orders tried, {{.Orders}} in the stores).</p>
{{if .Anomalies}}<table class="history"><tr><th>order</th><th>kind</th><th>key</th><th>detail</th></tr>
{{range .Anomalies}}<tr><td>{{if .OrderID}}{{.OrderID}}{{else}}product {{.ProductID}}{{end}}</td><td>{{.Kind}}</td><td>{{.Key}}</td><td>{{.Detail}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if .R.Windows}}<h2>Faults</h2><table class="faults"><tr><th>step</th><th>fault</th><th>from</th><th>to</th><th>error</th></tr>
{{range .R.Windows}}<tr><td>{{.Step}}</td><td>{{.Fault}}</td><td>{{rd .Start}}</td><td>{{rd .End}}</td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Failures}}<h2>Sample failed requests</h2><table class="failures"><tr><th>call</th><th>at</th><th>status</th><th>latency</th><th>trace id</th><th>error</th></tr>
{{range .R.Failures}}<tr><td>{{.Call}}</td><td>{{since $.R .Start}}</td><td>{{.Status}}</td><td>{{rd .Latency}}</td><td><code class="trace">{{.TraceID}}</code></td><td>{{.Error}}</td></tr>
{{end}}</table>{{end}}
{{if .R.Errors}}<h2>Errors</h2><ul>{{range .R.Errors}}<li>{{.}}</li>{{end}}</ul>{{end}}
</body></html>
`))

// WriteHTML writes r as a self-contained HTML page: the timeline as inline
// SVG, the verdicts, the fault windows and sample failed requests.
func WriteHTML(w io.Writer, r *Result) error {
	return page.Execute(w, struct {
		R      *Result
		Status string
		SVG    template.HTML
	}{r, r.Status(), template.HTML(TimelineSVG(r))}) // TimelineSVG escapes every text it writes
}
