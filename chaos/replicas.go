package chaos

import (
	"time"

	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/topology"
)

// ReplicaLayout is the replica count each of ReplicaScenarios needs
// (`faultlab up --replicas product=3,order=2,payment=3`).
var ReplicaLayout = map[string]int{topology.Product: 3, topology.Order: 2, topology.Payment: 3}

const sec = time.Second

func step(name string, at, until time.Duration, f FaultSpec) Step {
	return Step{Name: name, At: at, Until: until, Fault: f}
}

func weights(calls ...any) []MixEntry {
	var out []MixEntry
	for i := 0; i+1 < len(calls); i += 2 {
		out = append(out, MixEntry{Call: calls[i].(string), Weight: calls[i+1].(int)})
	}
	return out
}

// checkGroup is several Checks that go together in hypotheses.
type checkGroup []Check

func hyp(claims ...any) []Check {
	var out []Check
	for _, c := range claims {
		switch c := c.(type) {
		case Check:
			out = append(out, c)
		case checkGroup:
			out = append(out, c...)
		}
	}
	return out
}

func steadyBefore() Check {
	return Check{Kind: CheckSuccessRate, Phase: PhaseBefore, Min: 0.99, Description: "steady state before: success rate"}
}

func steadyAfter() Check {
	return Check{Kind: CheckSuccessRate, Phase: PhaseAfter, Min: 0.99, Description: "steady state after: success rate"}
}

func dataIntact() checkGroup {
	return checkGroup{{Kind: CheckNoDoubleCharge}, {Kind: CheckStockConsistent}, {Kind: CheckHistory}}
}

func successDuring(call string, min float64) Check {
	return Check{Kind: CheckSuccessRate, Phase: PhaseDuring, Call: call, Min: min}
}

// no5xx claims that no client saw a server error for a request another
// replica could have served.
func no5xx() checkGroup {
	var g checkGroup
	for _, st := range []int{500, 502, 503, 504} {
		g = append(g, Check{Kind: CheckStatusAbsent, Phase: PhaseOverall, Status: st})
	}
	return g
}

// ejected claims that service's outlier detector took an endpoint out
// (from the log, which every replica of service writes to).
func ejected(service string) Check {
	return Check{Kind: CheckLogEvent, Action: "endpoint.ejected", Service: service}
}

// ReplicaScenarios are the scenarios of a replicated lab (ReplicaLayout):
// they stop, slow and restart single replicas, and prove balancing,
// outlier ejection, retries on another replica and hedging.
func ReplicaScenarios() []Scenario {
	orders := weights(CallCreateOrder, 3, CallGetOrder, 1, CallListProducts, 1)
	return []Scenario{
		{
			Name:        "replica-kill",
			Description: "One of three payment replicas is killed (listener and connections cut, like SIGKILL) under load, then started again: order retries the charge on another replica and ejects the dead one; no client sees a 5xx, nothing is charged twice, the history has 0 anomalies.",
			Faults:      []Step{KillReplica("payment-2 killed", "payment-2", 2*sec, 5*sec)},
			Load:        LoadProfile{Rate: 30, Duration: 7 * sec, Concurrency: 16, Mix: orders},
			Hypothesis: hyp(steadyBefore(), successDuring("", 1), no5xx(),
				ejected(topology.Order),
				Check{Kind: CheckRetryAmplification, Service: topology.Order, Upstream: topology.Payment, Max: 1.3},
				Check{Kind: CheckBreakerStaysClosed, Service: topology.Order, Upstream: topology.Payment},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "replica-slow",
			Description: "One of three product replicas answers the gateway 800 ms late: hedged reads keep the catalogue's p99 within 1.5× its healthy p99 (or, on a loaded machine, under half the injected latency).",
			Faults:      []Step{step("product-2 slow", 2*sec, 6*sec, FaultSpec{Kind: FaultToxic, Toxic: toxi.Toxic{Hop: topology.ReplicaHopName(topology.Gateway, topology.Product, 2, 3), Kind: toxi.Latency, LatencyMs: 800}})},
			Load:        LoadProfile{Rate: 40, Duration: 8 * sec, Concurrency: 16, Mix: weights(CallListProducts, 3, CallGetProduct, 1)},
			Hypothesis: hyp(steadyBefore(), successDuring("", 1),
				Check{Kind: CheckLatency, Phase: PhaseDuring, Call: CallListProducts, Quantile: 0.99, Max: 1.5, MaxLatency: 400 * time.Millisecond,
					Description: "catalogue p99 within 1.5× its healthy p99, or under half the injected 800ms (floor 400ms: a loaded shared machine)"},
				steadyAfter()),
		},
		{
			Name:        "replica-flap",
			Description: "One payment replica dies and comes back three times: each time order moves its charges to the others; no 5xx, nothing charged twice, 0 anomalies.",
			Faults: []Step{
				KillReplica("payment-3 down (1)", "payment-3", 1500*time.Millisecond, 2500*time.Millisecond),
				KillReplica("payment-3 down (2)", "payment-3", 3500*time.Millisecond, 4500*time.Millisecond),
				KillReplica("payment-3 down (3)", "payment-3", 5500*time.Millisecond, 6500*time.Millisecond),
			},
			Load: LoadProfile{Rate: 30, Duration: 8 * sec, Concurrency: 16, Mix: orders},
			Hypothesis: hyp(steadyBefore(), successDuring("", 1), no5xx(),
				Check{Kind: CheckBreakerStaysClosed, Service: topology.Order, Upstream: topology.Payment},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "rolling-restart",
			Description: "Every product and payment replica is drained (graceful stop) and started again in turn under load: 0 errors.",
			Faults:      rollingRestart(map[string]int{topology.Product: 3, topology.Payment: 3}, sec, 1200*time.Millisecond),
			Load:        LoadProfile{Rate: 30, Duration: 9 * sec, Concurrency: 16, Mix: weights(CallCreateOrder, 2, CallListProducts, 2, CallGetProduct, 1)},
			Hypothesis:  hyp(steadyBefore(), successDuring("", 1), no5xx(), dataIntact(), steadyAfter()),
		},
		{
			Name:        "all-replicas-down",
			Description: "All three payment replicas are killed: as with one payment down, orders fail fast with 503 and Retry-After, order's payment breaker opens and closes after recovery, the catalogue is unaffected, nothing is charged twice.",
			Faults: []Step{
				KillReplica("payment-1 killed", "payment-1", 2*sec, 4500*time.Millisecond),
				KillReplica("payment-2 killed", "payment-2", 2*sec, 4500*time.Millisecond),
				KillReplica("payment-3 killed", "payment-3", 2*sec, 4500*time.Millisecond),
			},
			Load: LoadProfile{Rate: 30, Duration: 7 * sec, Concurrency: 16, Mix: weights(CallListProducts, 2, CallGetProduct, 1, CallCreateOrder, 2)},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallListProducts, 0.99),
				Check{Kind: CheckStatusSeen, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503, Min: 0.5},
				Check{Kind: CheckHeader, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503, Header: "Retry-After", Min: 0.99},
				Check{Kind: CheckBreakerOpens, Service: topology.Order, Upstream: topology.Payment, Within: 3 * sec},
				Check{Kind: CheckBreakerCloses, Service: topology.Order, Upstream: topology.Payment, Within: 6 * sec},
				Check{Kind: CheckBreakerStaysClosed, Service: topology.Gateway, Upstream: topology.Order},
				dataIntact(), steadyAfter()),
		},
	}
}

// rollingRestart drains and restarts each replica of each service in turn,
// one at a time, from start, each down for down.
func rollingRestart(counts map[string]int, start, down time.Duration) []Step {
	var steps []Step
	at := start
	for _, svc := range topology.Replicable() {
		for n := 1; n <= counts[svc]; n++ {
			name := topology.ReplicaName(svc, n)
			steps = append(steps, DrainReplica(name+" restarted", name, at, at+down))
			at += down
		}
	}
	return steps
}
