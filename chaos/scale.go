package chaos

import (
	"fmt"
	"time"
)

// OrderShare is the share of the load mix's calls that create an order.
func (l LoadProfile) OrderShare() float64 {
	var all, orders int
	for _, m := range l.Mix {
		all += m.Weight
		if m.Call == CallCreateOrder || m.Call == CallCreateOrderRetrying {
			orders += m.Weight
		}
	}
	if all == 0 {
		return 0
	}
	return float64(orders) / float64(all)
}

// ScaleToOrders returns sc stretched so that its main load sends about n
// orders at the same rate: the load lasts n / (rate × order share), and
// every fault step's At, Ramp and Until stretch by the same factor, so the
// faults cover the same part of the load. The scenario needs an open-loop
// rate and create_order calls in its mix.
func ScaleToOrders(sc Scenario, n int) (Scenario, error) {
	share := sc.Load.OrderShare()
	if n <= 0 || sc.Load.Rate <= 0 || share == 0 {
		return sc, fmt.Errorf("%w: %s: scaling to %d orders needs n > 0, an open-loop rate and create_order calls", ErrScenario, sc.Name, n)
	}
	d := time.Duration(float64(n) / (sc.Load.Rate * share) * float64(time.Second)).Round(100 * time.Millisecond)
	f := float64(d) / float64(sc.Load.Duration)
	stretch := func(x time.Duration) time.Duration { return time.Duration(float64(x) * f).Round(time.Millisecond) }
	out := sc
	out.Load.Duration = d
	out.Faults = make([]Step, len(sc.Faults))
	for i, st := range sc.Faults {
		st.At, st.Ramp, st.Until = stretch(st.At), stretch(st.Ramp), stretch(st.Until)
		out.Faults[i] = st
	}
	out.Hypothesis = append([]Check(nil), sc.Hypothesis...)
	return out, out.Validate()
}
