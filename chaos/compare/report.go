package compare

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"strings"
	"time"
)

// metric is one row of the report: how to read it from a Summary and how
// to write it.
type metric struct {
	Name string
	// Better says which way is better, for the reader: "higher" or "lower".
	Better string
	value  func(Summary) (float64, bool) // false: not measured
	format func(float64) string
}

func durationMetric(name string, get func(Summary) time.Duration) metric {
	return metric{Name: name, Better: "lower",
		value:  func(s Summary) (float64, bool) { d := get(s); return d.Seconds(), d != Never },
		format: func(v float64) string { return round(time.Duration(v * float64(time.Second))).String() }}
}

var metrics = []metric{
	{Name: "checks passed", Better: "higher",
		value:  func(s Summary) (float64, bool) { return float64(s.Passed), true },
		format: func(v float64) string { return fmt.Sprintf("%.0f", v) }},
	{Name: "success rate", Better: "higher",
		value:  func(s Summary) (float64, bool) { return 100 * s.SuccessRate, true },
		format: func(v float64) string { return fmt.Sprintf("%.1f%%", v) }},
	durationMetric("p99", func(s Summary) time.Duration { return s.P99 }),
	{Name: "retry amplification", Better: "lower",
		value:  func(s Summary) (float64, bool) { return s.Amplification, s.Amplification > 0 },
		format: func(v float64) string { return fmt.Sprintf("%.2f×", v) }},
	durationMetric("time to detect", func(s Summary) time.Duration { return s.TimeToDetect }),
	durationMetric("time to recover", func(s Summary) time.Duration { return s.TimeToRecover }),
}

func round(d time.Duration) time.Duration {
	if d < time.Second {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}

// cell is a metric's text for one run.
func (m metric) cell(s Summary) string {
	v, ok := m.value(s)
	if !ok {
		if m.Name == "time to detect" || m.Name == "time to recover" {
			return "never"
		}
		return "-"
	}
	return m.format(v)
}

// verdictRows is every check of the scenario with each run's word.
func (c *Comparison) verdictRows() [][]string {
	var rows [][]string
	for i := range c.Runs[0].Result.Verdicts {
		v := c.Runs[0].Result.Verdicts[i]
		row := []string{v.Check + " (" + v.Phase + ")"}
		for _, r := range c.Runs {
			word := "-"
			if i < len(r.Result.Verdicts) {
				word = r.Result.Verdicts[i].Word()
			}
			row = append(row, word)
		}
		rows = append(rows, row)
	}
	return rows
}

func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteMarkdown writes c as a Markdown report: the figures side by side,
// then every verdict.
func WriteMarkdown(w io.Writer, c *Comparison) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s: policy comparison\n\n%s\n\n", c.Scenario.Name, c.Scenario.Description)
	fmt.Fprintf(&b, "Started %s. Each variant ran against a fresh in-process lab; amplification and time to detect are on %s.\n\n",
		c.Started.UTC().Format(time.RFC3339), strings.Join(c.Upstreams, ", "))
	header := "| metric | better |"
	rule := "|---|---|"
	for _, r := range c.Runs {
		header += " " + mdCell(r.Variant.Name) + " |"
		rule += "---|"
	}
	b.WriteString(header + "\n" + rule + "\n")
	for _, m := range metrics {
		fmt.Fprintf(&b, "| %s | %s |", m.Name, m.Better)
		for _, r := range c.Runs {
			b.WriteString(" " + m.cell(r.Summary) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n## Verdicts\n\n" + strings.Replace(header, "| metric | better |", "| check |", 1) + "\n" + strings.Replace(rule, "|---|---|", "|---|", 1) + "\n")
	if len(c.Runs) > 0 {
		for _, row := range c.verdictRows() {
			b.WriteString("| " + mdCell(row[0]) + " | " + strings.Join(row[1:], " | ") + " |\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Bar chart geometry.
const (
	chartW, labelW, barH, barGap = 420, 170, 16, 6
)

// chartSVG draws one metric as a horizontal bar per run.
func chartSVG(m metric, runs []Run) string {
	top := 0.0
	for _, r := range runs {
		if v, ok := m.value(r.Summary); ok {
			top = max(top, v)
		}
	}
	h := len(runs)*(barH+barGap) + barGap
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`, chartW, h)
	for i, r := range runs {
		y := barGap + i*(barH+barGap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, labelW-6, y+12, html.EscapeString(r.Variant.Name))
		v, ok := m.value(r.Summary)
		width := 0.0
		if ok && top > 0 {
			width = v / top * float64(chartW-labelW-70)
		}
		fmt.Fprintf(&b, `<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`, labelW, y, width, barH, barColor(i))
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" fill="#333">%s</text>`, float64(labelW)+width+4, y+12, html.EscapeString(m.cell(r.Summary)))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

func barColor(i int) string {
	colors := []string{"#264653", "#e76f51", "#2a9d8f", "#e9c46a", "#8d99ae"}
	return colors[i%len(colors)]
}

var page = template.Must(template.New("compare").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.C.Scenario.Name}}: policy comparison</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:960px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;font-size:13px}
td.PASS{color:#1b7f3b;font-weight:bold}td.FAIL{color:#c1121f;font-weight:bold}td.SKIP{color:#777}
.charts{display:grid;grid-template-columns:repeat(2,440px);gap:8px 16px}.charts h3{margin:.5em 0 0;font-size:14px}
</style></head><body>
<h1>{{.C.Scenario.Name}}: policy comparison</h1>
<p>{{.C.Scenario.Description}}</p>
<p>Each variant ran against a fresh in-process lab; retry amplification and time to detect are on {{.Upstreams}}.</p>
<table class="metrics"><tr><th>metric</th><th>better</th>{{range .C.Runs}}<th>{{.Variant.Name}}</th>{{end}}</tr>
{{range .Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<div class="charts">{{range .Charts}}<div><h3>{{.Name}} <small>({{.Better}} is better)</small></h3>{{.SVG}}</div>{{end}}</div>
<h2>Verdicts</h2>
<table class="verdicts"><tr><th>check</th>{{range .C.Runs}}<th>{{.Variant.Name}}</th>{{end}}</tr>
{{range .Verdicts}}<tr><td>{{index . 0}}</td>{{range slice . 1}}<td class="{{.}}">{{.}}</td>{{end}}</tr>
{{end}}</table>
</body></html>
`))

type chart struct {
	Name, Better string
	SVG          template.HTML
}

// WriteHTML writes c as a self-contained HTML page: the figures, an SVG
// bar chart per metric, and every verdict.
func WriteHTML(w io.Writer, c *Comparison) error {
	var rows [][]string
	var charts []chart
	for _, m := range metrics {
		row := []string{m.Name, m.Better}
		for _, r := range c.Runs {
			row = append(row, m.cell(r.Summary))
		}
		rows = append(rows, row)
		charts = append(charts, chart{m.Name, m.Better, template.HTML(chartSVG(m, c.Runs))}) // chartSVG escapes its text
	}
	var verdicts [][]string
	if len(c.Runs) > 0 {
		verdicts = c.verdictRows()
	}
	return page.Execute(w, struct {
		C         *Comparison
		Upstreams string
		Rows      [][]string
		Charts    []chart
		Verdicts  [][]string
	}{c, strings.Join(c.Upstreams, ", "), rows, charts, verdicts})
}
