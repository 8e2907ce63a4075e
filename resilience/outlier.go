package resilience

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/observability"
)

// outlierMinHosts is how many endpoints with enough answers the
// success-rate rule needs before it judges any (Envoy's
// success_rate_minimum_hosts, smaller because labs run few replicas).
const outlierMinHosts = 3

// outlier is the outlier detector of one upstream, after Envoy's: an
// endpoint that fails OutlierConsecutive5xx times in a row (any 5xx,
// timeout or connection error), or OutlierConsecutiveGateway times in a row
// (502, 503, 504, timeout or connection error), is ejected for
// OutlierBaseEjection × its ejection count (at most OutlierMaxEjection);
// with OutlierSuccessStdev, every OutlierInterval an endpoint whose success
// rate is below mean − stdev × OutlierSuccessStdev is ejected too.
//
// At most OutlierMaxPercent of the endpoints are out at once, but at least
// one may be; a set of one is never ejected (there is nowhere else to go:
// the breaker deals with it). An ejected endpoint returns lazily, at the
// first pick after its time. Each quiet OutlierBaseEjection in service
// takes one from its ejection count. It is safe for concurrent use.
type outlier struct {
	t    *Transport
	b    *balancer
	p    Policy
	mu   sync.Mutex   // ejections and returns
	eval atomic.Int64 // Clock UnixNano of the next success-rate evaluation
}

func newOutlier(t *Transport, b *balancer) *outlier {
	o := &outlier{t: t, b: b, p: t.p}
	o.eval.Store(t.clock.Now().Add(t.p.OutlierInterval).UnixNano())
	return o
}

// Kinds of answer, as the detector sees them.
const (
	outlierIgnore  = iota // says nothing of the endpoint
	outlierOK             // it answered
	outlier5xx            // a 5xx other than 502-504
	outlierGateway        // 502-504, a timeout, a connection error
)

func outlierKind(class int, status int) int {
	switch class {
	case attemptSuccess, attempt4xx, attempt429, attemptDependency, attemptShed:
		return outlierOK
	case attemptTimeout, attemptError:
		return outlierGateway
	case attempt5xx:
		if retryableStatus(status) {
			return outlierGateway
		}
		return outlier5xx
	}
	return outlierIgnore
}

// record counts one attempt's outcome against ep.
func (o *outlier) record(ep *endpoint, res result) {
	if o.p.DisableOutlier {
		return
	}
	status := 0
	if res.resp != nil {
		status = res.resp.StatusCode
	}
	kind := outlierKind(res.class, status)
	if kind == outlierIgnore {
		return
	}
	reason := ""
	ep.mu.Lock()
	switch kind {
	case outlierOK:
		ep.consec5xx, ep.consecGateway = 0, 0
		ep.okN++
	case outlierGateway:
		ep.consec5xx++
		ep.consecGateway++
		ep.failN++
	default:
		ep.consec5xx++
		ep.consecGateway = 0
		ep.failN++
	}
	switch {
	case ep.consecGateway >= o.p.OutlierConsecutiveGateway:
		reason = "consecutive_gateway"
	case ep.consec5xx >= o.p.OutlierConsecutive5xx:
		reason = "consecutive_5xx"
	}
	ep.mu.Unlock()
	now := o.t.clock.Now()
	if reason != "" {
		o.eject(ep, reason, now)
	}
	if o.p.OutlierSuccessStdev > 0 && now.UnixNano() >= o.eval.Load() {
		o.evaluate(now)
	}
}

// eject takes ep out of service, if the cap allows.
func (o *outlier) eject(ep *endpoint, reason string, now time.Time) {
	eps := *o.b.set.Load()
	o.mu.Lock()
	defer o.mu.Unlock()
	if ep.until.Load() != 0 || len(eps) < 2 {
		return
	}
	out := 0
	for _, e := range eps {
		if e.until.Load() != 0 {
			out++
		}
	}
	if out >= max(1, len(eps)*o.p.OutlierMaxPercent/100) {
		return
	}
	ep.mu.Lock()
	if !ep.returnedAt.IsZero() && o.p.OutlierBaseEjection > 0 {
		quiet := int(now.Sub(ep.returnedAt) / o.p.OutlierBaseEjection)
		ep.ejections = max(ep.ejections-quiet, 0)
	}
	ep.ejections++
	ep.consec5xx, ep.consecGateway = 0, 0
	n := ep.ejections
	ep.mu.Unlock()
	d := min(time.Duration(n)*o.p.OutlierBaseEjection, max(o.p.OutlierMaxEjection, o.p.OutlierBaseEjection))
	ep.until.Store(now.Add(d).UnixNano())
	ep.ejectedG.Set(1)
	o.t.m.m.endpointEjections.WithLabelValues(o.t.name, ep.host, reason).Inc()
	o.t.log.LogAttrs(context.Background(), slog.LevelWarn, "endpoint "+ep.host+" of "+o.t.name+" ejected for "+d.String(),
		slog.String(observability.FieldEventAction, "endpoint.ejected"),
		slog.String(observability.FieldUpstream, o.t.name),
		slog.String("labels.endpoint", ep.host),
		slog.String("labels.reason", reason),
		slog.Int("labels.count", n),
		slog.Int64("labels.ejection_ms", d.Milliseconds()))
}

// returnDue puts back the endpoints whose ejection time has passed.
func (o *outlier) returnDue(eps []*endpoint, now time.Time) {
	for _, ep := range eps {
		u := ep.until.Load()
		if u == 0 || now.UnixNano() < u {
			continue
		}
		o.mu.Lock()
		if ep.until.CompareAndSwap(u, 0) {
			ep.mu.Lock()
			ep.returnedAt = now
			ep.mu.Unlock()
			ep.ejectedG.Set(0)
			o.t.log.LogAttrs(context.Background(), slog.LevelInfo, "endpoint "+ep.host+" of "+o.t.name+" returned",
				slog.String(observability.FieldEventAction, "endpoint.returned"),
				slog.String(observability.FieldUpstream, o.t.name),
				slog.String("labels.endpoint", ep.host))
		}
		o.mu.Unlock()
	}
}

// evaluate is the success-rate rule, run by the first answer after each
// OutlierInterval.
func (o *outlier) evaluate(now time.Time) {
	due := o.eval.Load()
	if !o.eval.CompareAndSwap(due, now.Add(o.p.OutlierInterval).UnixNano()) {
		return
	}
	eps := *o.b.set.Load()
	rates := make([]float64, len(eps))
	var judged []*endpoint
	var sum float64
	for _, ep := range eps {
		ep.mu.Lock()
		total := ep.okN + ep.failN
		if total >= int64(o.p.OutlierSuccessMinRequests) && ep.until.Load() == 0 {
			rates[len(judged)] = float64(ep.okN) / float64(total)
			sum += rates[len(judged)]
			judged = append(judged, ep)
		}
		ep.okN, ep.failN = 0, 0
		ep.mu.Unlock()
	}
	if len(judged) < outlierMinHosts {
		return
	}
	mean := sum / float64(len(judged))
	var sq float64
	for _, r := range rates[:len(judged)] {
		sq += (r - mean) * (r - mean)
	}
	limit := mean - o.p.OutlierSuccessStdev*math.Sqrt(sq/float64(len(judged)))
	for i, ep := range judged {
		if rates[i] < limit {
			o.eject(ep, "success_rate", now)
		}
	}
}
