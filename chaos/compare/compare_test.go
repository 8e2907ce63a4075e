package compare

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/resilience"
)

func TestParseVariant(t *testing.T) {
	base := resilience.Policy{BreakerOpenTimeout: 2 * time.Second}
	ups := []string{"payment", "product", "user"}
	v, err := ParseVariant("payment:breaker=off,attempts=1; product:attempt-timeout=300ms", base, ups)
	if err != nil {
		t.Fatal(err)
	}
	p, q := v.Policies["payment"], v.Policies["product"]
	if !p.DisableBreaker || p.MaxAttempts != 1 || p.BreakerOpenTimeout != 2*time.Second || q.AttemptTimeout != 300*time.Millisecond || len(v.Policies) != 2 {
		t.Fatalf("variant %+v", v)
	}
	for _, bad := range []string{"", "payment", "payment:", ":breaker=off", "order:breaker=off", "payment:breaker=maybe", "payment:nope=1", "payment:attempts=1;payment:breaker=off"} {
		if _, err := ParseVariant(bad, base, ups); !errors.Is(err, ErrVariant) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ParseVariant(%q) = %v, want a one-line ErrVariant", bad, err)
		}
	}
}

// result is a run of a 4s load with a fault from 1s to 2.5s.
func result(openAt time.Duration, rates ...float64) *chaos.Result {
	r := &chaos.Result{
		Load:    &load.Report{Total: 100, Successes: 80, Latency: load.Quantiles{P99: 250 * time.Millisecond}},
		Windows: []chaos.Window{{Step: "down", Start: time.Second, End: 2500 * time.Millisecond}},
		Verdicts: []chaos.Verdict{
			{Check: "breaker order→payment opens", Phase: "overall", Pass: openAt >= 0},
			{Check: "alert", Phase: "overall", Skipped: true},
		},
	}
	if openAt >= 0 {
		r.Breakers = []chaos.BreakerSample{{At: 500 * time.Millisecond, Breaker: "order→payment", State: chaos.BreakerClosed},
			{At: openAt, Breaker: "gateway→user", State: chaos.BreakerOpen}, // not a compared upstream
			{At: openAt, Breaker: "order→payment", State: chaos.BreakerOpen}}
	}
	for i, rate := range rates {
		r.Timeline = append(r.Timeline, chaos.Point{Offset: i, Requests: 100, Successes: int(rate * 100)})
	}
	return r
}

func TestSummarize(t *testing.T) {
	ups := []string{"payment"}
	before := map[string]calls{"order→payment": {attempts: 10, requests: 10}}
	after := map[string]calls{"order→payment": {attempts: 70, requests: 40}}
	s := summarize(result(1400*time.Millisecond, 1, 0.5, 0.6, 0.995), ups, before, after)
	want := Summary{Passed: 1, Failed: 0, Skipped: 1, SuccessRate: 0.8, P99: 250 * time.Millisecond, Amplification: 2,
		TimeToDetect: 400 * time.Millisecond, TimeToRecover: 1500 * time.Millisecond}
	if s != want {
		t.Errorf("summary\n %+v\nwant\n %+v", s, want)
	}
	s = summarize(result(-1, 1, 0.5, 0.6, 0.9), ups, nil, nil)
	if s.TimeToDetect != Never || s.TimeToRecover != Never || s.Amplification != 0 || s.Failed != 1 {
		t.Errorf("no breaker, no recovery: %+v", s)
	}
}

func TestReports(t *testing.T) {
	c := &Comparison{Scenario: chaos.Scenario{Name: "payment-down", Description: "payment <down>"}, Upstreams: []string{"payment"},
		Runs: []Run{
			{Variant: Variant{Name: DefaultName}, Result: result(1400*time.Millisecond, 1, 0.5, 1),
				Summary: Summary{Passed: 1, SuccessRate: 0.8, P99: 250 * time.Millisecond, Amplification: 1.2, TimeToDetect: 400 * time.Millisecond, TimeToRecover: 500 * time.Millisecond}},
			{Variant: Variant{Name: "payment:breaker=off"}, Result: result(-1, 1, 0.5, 1),
				Summary: Summary{Failed: 1, SuccessRate: 0.7, P99: 2 * time.Second, Amplification: 2.9, TimeToDetect: Never, TimeToRecover: Never}},
		}}
	var md bytes.Buffer
	if err := WriteMarkdown(&md, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| metric | better | default | payment:breaker=off |",
		"| success rate | higher | 80.0% | 70.0% |",
		"| p99 | lower | 250ms | 2s |",
		"| retry amplification | lower | 1.20× | 2.90× |",
		"| time to detect | lower | 400ms | never |",
		"| time to recover | lower | 500ms | never |",
		"| breaker order→payment opens (overall) | PASS | FAIL |",
	} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, c); err != nil {
		t.Fatal(err)
	}
	h := page.String()
	if strings.Count(h, `<svg class="chart"`) != len(metrics) || strings.Count(h, `<rect class="bar"`) != 2*len(metrics) {
		t.Errorf("want one chart per metric with a bar per variant")
	}
	if !strings.Contains(h, "payment &lt;down&gt;") || !strings.Contains(h, `<td class="FAIL">FAIL</td>`) {
		t.Errorf("page does not escape or lacks verdicts")
	}
}
