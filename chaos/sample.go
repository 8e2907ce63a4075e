package chaos

import (
	"context"
	"errors"
	"slices"
	"time"
)

// sampleDuring samples breakers and alerts while f runs.
func (rn *run) sampleDuring(ctx context.Context, f func()) {
	breakers := map[string][]string{} // service → upstreams
	needAlerts := false
	for _, c := range rn.sc.Hypothesis {
		switch c.Kind {
		case CheckBreakerOpens, CheckBreakerCloses, CheckBreakerHalfOpen, CheckBreakerStaysClosed:
			if !slices.Contains(breakers[c.Service], c.Upstream) {
				breakers[c.Service] = append(breakers[c.Service], c.Upstream)
			}
		case CheckAlertFires:
			needAlerts = true
		}
	}
	if len(breakers) == 0 && !needAlerts {
		f()
		return
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(rn.opt.SampleEvery)
		defer tick.Stop()
		for {
			rn.sample(ctx, breakers, needAlerts)
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	f()
	close(stop)
	<-done
	rn.sample(ctx, breakers, needAlerts)
}

func (rn *run) sample(ctx context.Context, breakers map[string][]string, alerts bool) {
	for svc, ups := range breakers {
		mf, err := rn.env.Metrics(ctx, svc)
		at := rn.opt.Now().Sub(rn.t0)
		for _, up := range ups {
			state := BreakerUnknown
			if err == nil {
				for _, s := range []BreakerState{BreakerOpen, BreakerHalfOpen, BreakerClosed} {
					if v, ok := mf.Gauge("faultlab_circuitbreaker_state", map[string]string{"name": up, "state": string(s)}); ok && v == 1 {
						state = s
						break
					}
				}
			}
			rn.mu.Lock()
			rn.samples = append(rn.samples, BreakerSample{At: at, Breaker: svc + "→" + up, State: state})
			rn.mu.Unlock()
		}
	}
	rn.mu.Lock()
	skip := !alerts || rn.alertErr != nil
	rn.mu.Unlock()
	if skip {
		return
	}
	as, err := rn.env.Alerts(ctx)
	rn.mu.Lock()
	defer rn.mu.Unlock()
	if err != nil {
		if errors.Is(err, ErrNotSupported) {
			rn.alertErr = err
		}
		return
	}
	at := rn.opt.Now().Sub(rn.t0)
	for _, a := range as {
		if a.State != "firing" {
			continue
		}
		f, seen := rn.alerts[a.Name]
		if !seen {
			f = firing{seen: at}
		}
		if !a.ActiveAt.IsZero() {
			if act := a.ActiveAt.Sub(rn.wall); f.activeAt == 0 || act < f.activeAt {
				f.activeAt = act
			}
		}
		rn.alerts[a.Name] = f
	}
}

// firing is when an alert was first seen firing and Prometheus' activeAt,
// both from the start of the main load.
type firing struct {
	seen, activeAt time.Duration
}

// snapshot scrapes the services whose counters checks compare.
func (rn *run) snapshot(ctx context.Context) map[string]MetricFamilies {
	out := map[string]MetricFamilies{}
	for _, c := range rn.sc.Hypothesis {
		switch c.Kind {
		case CheckRetryAmplification, CheckMetricIncrease, CheckBreakerHalfOpen, CheckBreakerStaysClosed:
			if _, ok := out[c.Service]; ok {
				continue
			}
			mf, err := rn.env.Metrics(ctx, c.Service)
			if err != nil {
				rn.errorf("metrics of %s: %v", c.Service, err)
			}
			out[c.Service] = mf
		}
	}
	return out
}
