package chaos_test

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/load"
)

func sampleResult() *chaos.Result {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return &chaos.Result{
		Scenario:  chaos.Scenario{Name: "payment-down", Description: "payment <down> & out", Load: chaos.LoadProfile{Duration: 4 * time.Second}},
		Started:   t0,
		LoadStart: t0,
		Load:      &load.Report{Total: 100, Successes: 90, RPS: 25},
		Verdicts: []chaos.Verdict{
			{Check: "success rate of list_products", Phase: "during", Pass: true, Measured: "100%", Want: "≥ 99%"},
			{Check: "breaker order→payment opens", Phase: "overall", Measured: "never seen open", Want: "open within 3s"},
			{Check: "alert fires", Phase: "overall", Skipped: true, Measured: "unknown", Note: "not supported"},
		},
		Windows: []chaos.Window{{Step: "payment down", Fault: "down on order-to-payment", Start: time.Second, End: 3 * time.Second}},
		Timeline: []chaos.Point{
			{Offset: 0, Requests: 25, Successes: 25, P99: 5 * time.Millisecond, Breakers: map[string]chaos.BreakerState{"order→payment": "closed"}},
			{Offset: 1, Requests: 25, Successes: 15, P99: 9 * time.Millisecond, Breakers: map[string]chaos.BreakerState{"order→payment": "open"}, Faults: []string{"payment down"}},
			{Offset: 2, Requests: 25, Successes: 25, P99: 5 * time.Millisecond, Breakers: map[string]chaos.BreakerState{"order→payment": "half_open"}, Faults: []string{"payment down"}},
			{Offset: 3, Requests: 25, Successes: 25, P99: 5 * time.Millisecond, Breakers: map[string]chaos.BreakerState{"order→payment": "closed"}},
		},
		Failures: []load.Sample{{Call: "create_order", Start: t0.Add(1500 * time.Millisecond), Status: 503, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}},
	}
}

// xmlElems counts elements by name and class in an XML document.
func xmlElems(t *testing.T, doc string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	dec := xml.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v\n%s", err, doc)
		}
		if se, ok := tok.(xml.StartElement); ok {
			counts[se.Name.Local]++
			for _, a := range se.Attr {
				if a.Name.Local == "class" {
					counts[se.Name.Local+"."+a.Value]++
				}
			}
		}
	}
	return counts
}

func TestWriteHTML(t *testing.T) {
	r := sampleResult()
	var b bytes.Buffer
	if err := chaos.WriteHTML(&b, r); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	i, j := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	if i < 0 || j < i {
		t.Fatal("no inline SVG")
	}
	svg := xmlElems(t, page[i:j+len("</svg>")])
	tests := []struct {
		elem string
		want int
	}{
		{"rect.fault", 1},
		{"polyline", 3},
		{"rect.state-open", 1},
		{"rect.state-half_open", 1},
		{"rect.state-closed", 2},
	}
	for _, tt := range tests {
		if svg[tt.elem] != tt.want {
			t.Errorf("%s: %d, want %d", tt.elem, svg[tt.elem], tt.want)
		}
	}
	for _, want := range []string{`<tr class="pass">`, `<tr class="fail">`, `<tr class="skip">`, "4bf92f3577b34da6a3ce929d0e0e4736", "FAILED", "payment &lt;down&gt; &amp; out"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Count(page, "<tr class=") != 3 {
		t.Errorf("want 3 verdict rows")
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := chaos.WriteMarkdown(&b, sampleResult()); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{"# payment-down: FAILED", "| PASS | success rate of list_products | during |", "| FAIL |", "| SKIP |", "`4bf92f3577b34da6a3ce929d0e0e4736`", "| payment down | down on order-to-payment | 1s | 3s |", "| 1 | 25 | 60.0 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
}

// Regressions from trying the report as a new user: long breaker labels
// were cut off, the success and p99 axes showed only their maximum, and
// the last, partial second was drawn as a collapse in requests/s.
func TestTimelineSVGLabelsAndAxes(t *testing.T) {
	r := sampleResult()
	r.Scenario.Load.Duration = 3500 * time.Millisecond
	r.Timeline[3].Requests, r.Timeline[3].Successes, r.Timeline[3].Span = 12, 12, 500*time.Millisecond
	r.Timeline[0].Breakers["gateway→order-replica"] = "closed"
	svg := chaos.TimelineSVG(r)
	if n := xmlElems(t, svg)["text.tick"]; n != 9 {
		t.Errorf("%d tick labels, want 3 per panel", n)
	}
	for _, want := range []string{">0%<", ">50%<", ">100%<", ">0ms<", ">4.5ms<", ">9ms<", ">breaker gateway→order-replica<"} {
		if !strings.Contains(svg, want) {
			t.Errorf("SVG lacks %q", want)
		}
	}
	// Every series starts right of the longest label (22 runes at ~6.5px).
	var polys []string
	for _, p := range strings.Split(svg, `points="`)[1:] {
		polys = append(polys, p[:strings.IndexByte(p, '"')])
	}
	if len(polys) != 3 {
		t.Fatalf("%d polylines", len(polys))
	}
	var fx, y0, lx, yLast float64
	pts := strings.Fields(polys[0])
	fmt.Sscanf(pts[0], "%f,%f", &fx, &y0)
	fmt.Sscanf(pts[len(pts)-1], "%f,%f", &lx, &yLast)
	if fx < 22*6.5 {
		t.Errorf("first point at x=%.1f: under the breaker labels", fx)
	}
	// 12 requests in half a second is 24/s, as high as the 25/s before.
	if yLast-y0 > 5 {
		t.Errorf("last, partial second drawn at y=%.1f, the first at %.1f: a false collapse", yLast, y0)
	}
}
