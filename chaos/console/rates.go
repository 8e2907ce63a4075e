package console

import (
	"math"
	"sort"
	"strconv"
	"strings"

	dto "github.com/prometheus/client_model/go"

	"github.com/faultlab/faultlab/chaos"
)

// counts are the request and error counters of one series group.
type counts struct{ total, errs float64 }

// classify maps a series' labels to its group and whether it counts as an
// error; ok false leaves the series out.
type classify func(labels map[string]string) (group string, isErr, ok bool)

func labelsOf(m *dto.Metric) map[string]string {
	out := make(map[string]string, len(m.GetLabel()))
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// sumCounters adds up the counters of name over every endpoint, by group.
func sumCounters(fams []chaos.MetricFamilies, name string, f classify) map[string]counts {
	out := map[string]counts{}
	for _, mf := range fams {
		for _, m := range mf[name].GetMetric() {
			g, isErr, ok := f(labelsOf(m))
			if !ok {
				continue
			}
			c := out[g]
			v := m.GetCounter().GetValue()
			c.total += v
			if isErr {
				c.errs += v
			}
			out[g] = c
		}
	}
	return out
}

// sumBuckets adds up the cumulative buckets of histogram name over every
// endpoint, by group: upper bound → count, +Inf included.
func sumBuckets(fams []chaos.MetricFamilies, name string, f classify) map[string]map[float64]float64 {
	out := map[string]map[float64]float64{}
	for _, mf := range fams {
		for _, m := range mf[name].GetMetric() {
			g, _, ok := f(labelsOf(m))
			if !ok || m.GetHistogram() == nil {
				continue
			}
			if out[g] == nil {
				out[g] = map[float64]float64{}
			}
			h := m.GetHistogram()
			for _, b := range h.GetBucket() {
				// The text format lists +Inf as a bucket; the sample count
				// is the same number, counted once below.
				if !math.IsInf(b.GetUpperBound(), 1) {
					out[g][b.GetUpperBound()] += float64(b.GetCumulativeCount())
				}
			}
			out[g][math.Inf(1)] += float64(h.GetSampleCount())
		}
	}
	return out
}

// quantile estimates the q-quantile from cumulative bucket counts, as
// Prometheus' histogram_quantile does: linear within the bucket, the
// highest finite bound when the rank falls in +Inf. ok is false without
// observations.
func quantile(q float64, buckets map[float64]float64) (float64, bool) {
	bounds := make([]float64, 0, len(buckets))
	for b := range buckets {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 || buckets[bounds[len(bounds)-1]] <= 0 {
		return 0, false
	}
	rank := q * buckets[bounds[len(bounds)-1]]
	lower, below := 0.0, 0.0
	for _, b := range bounds {
		c := buckets[b]
		if c >= rank && c > below {
			if math.IsInf(b, 1) {
				return lower, true
			}
			return lower + (b-lower)*(rank-below)/(c-below), true
		}
		lower, below = b, c
	}
	return lower, true
}

// traffic is the rate between two readings dt seconds apart. A counter that
// went down was reset (a restart): its current value is the delta.
func traffic(prev, cur counts, pb, cb map[float64]float64, dt float64) Traffic {
	var t Traffic
	if dt <= 0 {
		return t
	}
	d := delta(prev.total, cur.total)
	if d > 0 {
		t.RPS = d / dt
		t.ErrorRate = min(1, delta(prev.errs, cur.errs)/d)
	}
	db := map[float64]float64{}
	for b, c := range cb {
		db[b] = delta(pb[b], c)
	}
	if v, ok := quantile(0.99, db); ok {
		ms := v * 1000
		t.P99Ms = &ms
	}
	return t
}

func delta(prev, cur float64) float64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func seconds(prev, cur *scrape) float64 {
	if prev == nil {
		return 0
	}
	return cur.at.Sub(prev.at).Seconds()
}

// hopTraffic reads the caller's resilience client for callee.
func hopTraffic(prev, cur *scrape, caller, callee string) Traffic {
	f := func(l map[string]string) (string, bool, bool) {
		return "", l["outcome"] != "success", l["name"] == callee
	}
	if prev == nil {
		return Traffic{}
	}
	pc, cc := sumCounters(prev.fams[caller], metricClientRequests, f), sumCounters(cur.fams[caller], metricClientRequests, f)
	pb, cb := sumBuckets(prev.fams[caller], metricClientDuration, f), sumBuckets(cur.fams[caller], metricClientDuration, f)
	return traffic(pc[""], cc[""], pb[""], cb[""], seconds(prev, cur))
}

// ownRoutes are the routes the console's own scrapes hit, left out.
var ownRoutes = []string{"/metrics", "/healthz", "/readyz", "/internal/faults"}

// routeTraffic reads every service's RED metrics, by route.
func routeTraffic(prev, cur *scrape, services []string) []RouteState {
	out := []RouteState{}
	if prev == nil {
		return out
	}
	f := func(l map[string]string) (string, bool, bool) {
		r := l["route"]
		for _, own := range ownRoutes {
			if strings.Contains(r, own) {
				return "", false, false
			}
		}
		code, _ := strconv.Atoi(l["code"])
		return r, code >= 500, r != ""
	}
	dt := seconds(prev, cur)
	for _, svc := range services {
		pc, cc := sumCounters(prev.fams[svc], metricHTTPRequests, f), sumCounters(cur.fams[svc], metricHTTPRequests, f)
		pb, cb := sumBuckets(prev.fams[svc], metricHTTPDuration, f), sumBuckets(cur.fams[svc], metricHTTPDuration, f)
		routes := make([]string, 0, len(cc))
		for r := range cc {
			routes = append(routes, r)
		}
		sort.Strings(routes)
		for _, r := range routes {
			out = append(out, RouteState{Service: svc, Route: r, Traffic: traffic(pc[r], cc[r], pb[r], cb[r], dt)})
		}
	}
	return out
}

// breakerRank orders states from best to worst.
var breakerRank = map[chaos.BreakerState]int{chaos.BreakerUnknown: 0, chaos.BreakerClosed: 1, chaos.BreakerHalfOpen: 2, chaos.BreakerOpen: 3}

// breakerState is the worst state of the caller's breaker for callee over
// the caller's endpoints; unknown when none exports it.
func breakerState(fams []chaos.MetricFamilies, callee string) chaos.BreakerState {
	worst := chaos.BreakerUnknown
	for _, mf := range fams {
		for _, s := range []chaos.BreakerState{chaos.BreakerOpen, chaos.BreakerHalfOpen, chaos.BreakerClosed} {
			if v, ok := mf.Gauge(metricBreakerState, map[string]string{"name": callee, "state": string(s)}); ok && v == 1 {
				if breakerRank[s] > breakerRank[worst] {
					worst = s
				}
				break
			}
		}
	}
	return worst
}
