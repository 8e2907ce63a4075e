package chaos

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/load"
)

// judgeAll judges every check into res.Verdicts. With aborted, only the
// before checks are judged; the others are skipped.
func (rn *run) judgeAll(ctx context.Context, aborted bool) {
	for _, c := range rn.sc.Hypothesis {
		if aborted && c.phase() != PhaseBefore {
			rn.res.Verdicts = append(rn.res.Verdicts, Verdict{Check: c.String(), Kind: c.Kind, Phase: c.phase(),
				Skipped: true, Measured: "not run", Want: "-", Note: "aborted: " + rn.res.Aborted})
			continue
		}
		rn.res.Verdicts = append(rn.res.Verdicts, rn.judge(ctx, c))
	}
}

// records returns the results of a phase; "during" is the main load's
// results that started inside a fault window.
func (rn *run) records(phase string) []record {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if phase != PhaseDuring {
		return rn.phases[phase]
	}
	var out []record
	for _, r := range rn.phases[PhaseOverall] {
		for _, w := range rn.windows {
			end := w.End
			if end < 0 {
				end = 1<<63 - 1
			}
			if r.off >= w.Start && r.off < end {
				out = append(out, r)
				break
			}
		}
	}
	return out
}

func pct(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

// judge evaluates one check.
func (rn *run) judge(ctx context.Context, c Check) Verdict {
	v := Verdict{Check: c.String(), Kind: c.Kind, Phase: c.phase()}
	if rn.opt.SteadyState < 0 && (v.Phase == PhaseBefore || v.Phase == PhaseAfter) {
		v.Skipped, v.Measured, v.Want, v.Note = true, "not run", "-", "steady-state probes are off"
		return v
	}
	switch c.Kind {
	case CheckSuccessRate, CheckLatency, CheckStatusSeen, CheckStatusAbsent, CheckHeader:
		rn.judgeRequests(c, &v)
	case CheckBreakerOpens, CheckBreakerCloses, CheckBreakerHalfOpen:
		rn.judgeBreaker(c, &v)
	case CheckBreakerStaysClosed:
		rn.judgeStaysClosed(c, &v)
	case CheckRetryAmplification:
		rn.judgeAmplification(c, &v)
	case CheckMetricIncrease:
		d := rn.delta(c.Service, c.Metric, c.Labels)
		v.Want = fmt.Sprintf("≥ +%g", c.minCount())
		v.Measured = fmt.Sprintf("+%g", d)
		v.Pass = d >= c.minCount()
	case CheckNoDoubleCharge:
		rn.judgeCharges(ctx, &v)
	case CheckStockConsistent:
		rn.judgeStock(ctx, &v)
	case CheckHistory:
		rn.judgeHistory(ctx, c, &v)
	case CheckLogEvent:
		rn.judgeLogEvent(ctx, c, &v)
	case CheckAlertFires:
		rn.judgeAlert(ctx, c, &v)
	}
	return v
}

// judgeAmplification judges amplification: attempts per logical call on Service to Upstream.
func (rn *run) judgeAmplification(c Check, v *Verdict) {
	v.Want = fmt.Sprintf("≤ %.2f attempts per call", c.Max)
	attempts := rn.delta(c.Service, "faultlab_client_attempts_total", map[string]string{"name": c.Upstream})
	calls := rn.delta(c.Service, "faultlab_client_requests_total", map[string]string{"name": c.Upstream})
	if calls == 0 {
		v.Measured = "no calls"
		v.Note = "no logical calls were counted, so amplification is unknown"
		return
	}
	ratio := attempts / calls
	v.Measured = fmt.Sprintf("%.2f (%.0f attempts / %.0f calls)", ratio, attempts, calls)
	v.Pass = ratio <= c.Max
}

// judgeCharges judges no double charge: Env.Charges has no duplicates.
func (rn *run) judgeCharges(ctx context.Context, v *Verdict) {
	v.Want = "0 duplicates"
	cs, err := rn.env.Charges(ctx)
	if rn.envErr(v, err) {
		return
	}
	v.Measured = fmt.Sprintf("%d duplicates in %d charges", cs.Duplicates, cs.Total)
	v.Pass = cs.Duplicates == 0
}

// judgeStock judges stock consistent: Env.Stock adds up.
func (rn *run) judgeStock(ctx context.Context, v *Verdict) {
	v.Want = "available + reserved + sold = initial"
	s, err := rn.env.Stock(ctx)
	if rn.envErr(v, err) {
		return
	}
	v.Measured = fmt.Sprintf("%d + %d + %d = %d of %d", s.Available, s.Reserved, s.Sold, s.Available+s.Reserved+s.Sold, s.Initial)
	v.Pass = s.Consistent()
}

// judgeHistory judges history: the clients' answers agree with the stores once settled.
func (rn *run) judgeHistory(ctx context.Context, c Check, v *Verdict) {
	v.Want = "0 anomalies"
	rep, err := VerifyHistory(ctx, rn.env, rn.rec.Ops(), c.Within)
	if rn.envErr(v, err) {
		return
	}
	rn.res.History = &rep
	v.Measured = rep.Summary()
	v.Pass = rep.OK()
	if !v.Pass {
		v.Note = historyNote(rep)
	}
}

// judgeLogEvent judges log event: enough events with the action.
func (rn *run) judgeLogEvent(ctx context.Context, c Check, v *Verdict) {
	v.Want = fmt.Sprintf("≥ %g events", c.minCount())
	evs, err := rn.env.Events(ctx, c.Action, rn.res.Started)
	if rn.envErr(v, err) {
		return
	}
	n := 0
	for _, e := range evs {
		if c.Service == "" || e["service.name"] == c.Service {
			n++
		}
	}
	v.Measured = fmt.Sprintf("%d events", n)
	v.Pass = float64(n) >= c.minCount()
}

// judgeAlert judges alert fires: the alert was seen firing; records the Detection.
func (rn *run) judgeAlert(ctx context.Context, c Check, v *Verdict) {
	v.Want = "firing"
	if _, err := rn.env.Alerts(ctx); err == nil {
		rn.sample(ctx, nil, true)
	}
	rn.mu.Lock()
	f, fired := rn.alerts[c.Alert]
	aerr := rn.alertErr
	faultAt, hasFault := rn.firstFault()
	rn.mu.Unlock()
	if aerr != nil {
		v.Skipped, v.Measured, v.Note = true, "unknown", "alerts not supported by this environment: "+aerr.Error()
		return
	}
	v.Measured = "not seen firing"
	d := Detection{Alert: c.Alert, Fault: faultAt, Firing: -1}
	if fired {
		d.Firing, d.ActiveAt = f.seen, f.activeAt
		v.Measured = "seen firing"
		if hasFault {
			v.Measured = fmt.Sprintf("firing %s after the fault began", d.TimeToDetect().Round(10*time.Millisecond))
			if d.TimeToDetect() < 0 {
				v.Measured = "already firing before the fault"
			}
		}
	}
	if hasFault {
		rn.mu.Lock()
		rn.res.Detections = append(rn.res.Detections, d)
		rn.mu.Unlock()
	}
	v.Pass = fired
}

// firstFault returns when the first fault was applied, from the start of
// the main load. Call with rn.mu held.
func (rn *run) firstFault() (time.Duration, bool) {
	first, ok := time.Duration(0), false
	for _, w := range rn.windows {
		if w.Error != "" && w.End == w.Start { // never applied
			continue
		}
		if !ok || w.Start < first {
			first, ok = w.Start, true
		}
	}
	return first, ok
}

// envErr fills v for an Env error and reports whether there was one.
func (rn *run) envErr(v *Verdict, err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrNotSupported):
		v.Skipped, v.Measured, v.Note = true, "unknown", "not supported by this environment"
	default:
		v.Measured, v.Note = "error", err.Error()
	}
	return true
}

// historyNote counts the anomalies by kind, e.g. "lost-ack 2, oversold 1".
func historyNote(rep history.Report) string {
	counts := rep.Counts()
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	return strings.Join(parts, ", ") + " (see History)"
}

func (rn *run) delta(service, metric string, labels map[string]string) float64 {
	return rn.endM[service].CounterSum(metric, labels) - rn.startM[service].CounterSum(metric, labels)
}

func (rn *run) judgeRequests(c Check, v *Verdict) {
	sel := rn.selected(c)
	n := len(sel)
	count := func(f func(record) bool) int {
		k := 0
		for _, r := range sel {
			if f(r) {
				k++
			}
		}
		return k
	}
	if n == 0 && c.Kind != CheckStatusAbsent {
		v.Measured, v.Want, v.Note = "no requests", "-", "no "+c.target()+" requests in this phase"
		return
	}
	switch c.Kind {
	case CheckSuccessRate:
		ok := count(func(r record) bool { return r.ok })
		rate := float64(ok) / float64(n)
		v.Want = "≥ " + pct(c.Min)
		v.Measured = fmt.Sprintf("%s (%d/%d)", pct(rate), ok, n)
		v.Pass = rate >= c.Min
	case CheckLatency:
		rn.judgeLatency(c, sel, v)
	case CheckStatusSeen:
		k := count(func(r record) bool { return r.r.Status == c.Status })
		v.Measured = fmt.Sprintf("%d of %d (%s)", k, n, pct(float64(k)/float64(n)))
		if c.Min == 0 {
			v.Want = "at least one"
			v.Pass = k > 0
		} else {
			v.Want = "≥ " + pct(c.Min)
			v.Pass = float64(k)/float64(n) >= c.Min
		}
	case CheckStatusAbsent:
		k := count(func(r record) bool { return r.r.Status == c.Status })
		v.Want = "none"
		v.Measured = fmt.Sprintf("%d of %d", k, n)
		v.Pass = k == 0
	case CheckHeader:
		rn.judgeHeader(c, sel, v)
	}
}

// selected returns the results of the check's phase and Call.
func (rn *run) selected(c Check) []record {
	var sel []record
	recs := rn.records(c.phase())
	if isAbuseCall(c.Call) { // abuse runs only in its window: any phase sees all of it
		rn.mu.Lock()
		recs = rn.phases[phaseAbuse]
		rn.mu.Unlock()
	}
	for _, r := range recs {
		if c.Call == "" || r.r.Call == c.Call {
			sel = append(sel, r)
		}
	}
	return sel
}

// judgeLatency judges CheckLatency over sel, absolute or against the same
// call's quantile before the faults.
func (rn *run) judgeLatency(c Check, sel []record, v *Verdict) {
	ds := make([]time.Duration, len(sel))
	for i, r := range sel {
		ds[i] = r.r.Latency
	}
	q := load.Summarize(ds)
	got := map[float64]time.Duration{0.5: q.P50, 0.9: q.P90, 0.99: q.P99}[c.quantile()]
	limit := c.MaxLatency
	v.Want = "≤ " + c.MaxLatency.String()
	if c.Max > 0 { // relative to the same call's quantile before the faults
		var base []time.Duration
		for _, r := range rn.records(PhaseBefore) {
			if c.Call == "" || r.r.Call == c.Call {
				base = append(base, r.r.Latency)
			}
		}
		if len(base) == 0 {
			v.Skipped, v.Measured, v.Want, v.Note = true, "no baseline", "-", "no "+c.target()+" requests before the faults"
			return
		}
		bq := load.Summarize(base)
		b := map[float64]time.Duration{0.5: bq.P50, 0.9: bq.P90, 0.99: bq.P99}[c.quantile()]
		limit = max(time.Duration(c.Max*float64(b)), c.MaxLatency)
		v.Want = fmt.Sprintf("≤ %g × %s before = %s", c.Max, b.Round(100*time.Microsecond), limit.Round(100*time.Microsecond))
		if c.MaxLatency > 0 {
			v.Want += fmt.Sprintf(" (floor %s)", c.MaxLatency)
		}
	}
	v.Measured = fmt.Sprintf("%s (n=%d)", got.Round(100*time.Microsecond), len(sel))
	v.Pass = got <= limit
}

// judgeHeader judges CheckHeader over sel.
func (rn *run) judgeHeader(c Check, sel []record, v *Verdict) {
	var with, of int
	for _, r := range sel {
		if c.Status != 0 && r.r.Status != c.Status {
			continue
		}
		of++
		h := rn.cap.header(r.r.TraceID)
		if val := h.Get(c.Header); val != "" && (c.Value == "" || val == c.Value) {
			with++
		}
	}
	v.Measured = fmt.Sprintf("%d of %d", with, of)
	if c.Min == 0 {
		v.Want = "at least one"
		v.Pass = with > 0
	} else {
		v.Want = "≥ " + pct(c.Min)
		v.Pass = of > 0 && float64(with)/float64(of) >= c.Min
	}
}

// window returns the window of the check's step (the first by default).
func (rn *run) window(c Check) (Window, bool) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	for _, w := range rn.windows {
		if c.Step == "" || w.Step == c.Step {
			return w, w.Error == "" || w.End > w.Start
		}
	}
	return Window{}, false
}

func (rn *run) judgeBreaker(c Check, v *Verdict) {
	key := c.Service + "→" + c.Upstream
	w, ok := rn.window(c)
	switch c.Kind {
	case CheckBreakerOpens:
		v.Want = "open within " + c.Within.String() + " of the fault"
	case CheckBreakerCloses:
		v.Want = "closed within " + c.Within.String() + " of recovery"
	default:
		v.Want = "half-open after recovery"
	}
	if !ok {
		v.Measured = "no fault window"
		return
	}
	rn.mu.Lock()
	var ss []BreakerSample
	for _, s := range rn.samples {
		if s.Breaker == key {
			ss = append(ss, s)
		}
	}
	rn.mu.Unlock()
	last := "no samples"
	if len(ss) > 0 {
		last = ss[len(ss)-1].State.String()
	}
	switch c.Kind {
	case CheckBreakerOpens:
		for _, s := range ss {
			if s.At >= w.Start && s.State == BreakerOpen {
				d := s.At - w.Start
				v.Measured = "open after " + d.Round(10*time.Millisecond).String()
				v.Pass = d <= c.Within
				return
			}
		}
		v.Measured = "never seen open (last: " + last + ")"
	case CheckBreakerCloses:
		opened := false
		for _, s := range ss {
			if s.At >= w.Start && s.State == BreakerOpen {
				opened = true
			}
			if opened && s.At >= w.End && s.State == BreakerClosed {
				d := s.At - w.End
				v.Measured = "closed after " + d.Round(10*time.Millisecond).String()
				v.Pass = d <= c.Within
				return
			}
		}
		if !opened {
			v.Measured = "never opened"
			return
		}
		v.Measured = "not closed after recovery (last: " + last + ")"
	case CheckBreakerHalfOpen:
		for _, s := range ss {
			if s.At >= w.End && s.State == BreakerHalfOpen {
				v.Measured, v.Pass = "seen half-open", true
				return
			}
		}
		if d := rn.delta(c.Service, "faultlab_circuitbreaker_transitions_total", map[string]string{"name": c.Upstream, "from": "half_open", "to": "closed"}); d > 0 {
			v.Measured, v.Pass = fmt.Sprintf("%g half_open→closed transitions", d), true
			return
		}
		v.Measured = "never seen half-open (last: " + last + ")"
	}
}

// judgeStaysClosed passes when the breaker neither counted a transition to
// open over the run nor was sampled in another state than closed.
func (rn *run) judgeStaysClosed(c Check, v *Verdict) {
	v.Want = "no transition to open"
	if rn.startM[c.Service] == nil || rn.endM[c.Service] == nil {
		v.Measured = "no metrics of " + c.Service
		return
	}
	opened := rn.delta(c.Service, "faultlab_circuitbreaker_transitions_total", map[string]string{"name": c.Upstream, "to": "open"})
	key := c.Service + "→" + c.Upstream
	rn.mu.Lock()
	other := ""
	for _, s := range rn.samples {
		if s.Breaker == key && s.State != BreakerClosed && other == "" {
			other = s.State.String()
		}
	}
	rn.mu.Unlock()
	switch {
	case opened > 0:
		v.Measured = fmt.Sprintf("opened %g times", opened)
	case other != "":
		v.Measured = "seen " + other
	default:
		v.Measured, v.Pass = "closed throughout", true
	}
}

// timeline builds the per-second view of the main load.
func (rn *run) timeline() {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.res.Windows = append([]Window(nil), rn.windows...)
	rn.res.Breakers = append([]BreakerSample(nil), rn.samples...)
	if rn.res.Load == nil {
		return
	}
	rank := map[BreakerState]int{BreakerUnknown: 0, BreakerClosed: 1, BreakerHalfOpen: 2, BreakerOpen: 3}
	for _, s := range rn.res.Load.Seconds {
		p := Point{Offset: s.Offset, Requests: s.Requests, Successes: s.Successes, Dropped: s.Dropped, P99: s.P99}
		from, to := time.Duration(s.Offset)*time.Second, time.Duration(s.Offset+1)*time.Second
		if n := len(rn.res.Timeline); from >= rn.sc.Load.Duration && n > 0 {
			// Requests sent a hair after the load's end belong to its last
			// second, not to a second of their own that looks like a collapse.
			last := &rn.res.Timeline[n-1]
			last.Requests += p.Requests
			last.Successes += p.Successes
			last.Dropped += p.Dropped
			last.P99 = max(last.P99, p.P99)
			continue
		}
		if left := rn.sc.Load.Duration - from; left < time.Second {
			p.Span = left
		}
		for _, b := range rn.samples {
			if b.At < from || b.At >= to {
				continue
			}
			if p.Breakers == nil {
				p.Breakers = map[string]BreakerState{}
			}
			if rank[b.State] >= rank[p.Breakers[b.Breaker]] {
				p.Breakers[b.Breaker] = b.State
			}
		}
		for _, w := range rn.windows {
			end := w.End
			if end < 0 {
				end = 1<<63 - 1
			}
			if w.Start < to && end > from {
				p.Faults = append(p.Faults, w.Step)
			}
		}
		rn.res.Timeline = append(rn.res.Timeline, p)
	}
}
