package chaos

import (
	"time"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/topology"
)

// The lab's hops, named <caller>-to-<callee> after the topology's
// services (topology.Hops lists them with their proxy ports).
const (
	HopGatewayToUser    = topology.Gateway + "-to-" + topology.User
	HopGatewayToProduct = topology.Gateway + "-to-" + topology.Product
	HopGatewayToOrder   = topology.Gateway + "-to-" + topology.Order
	HopGatewayToPayment = topology.Gateway + "-to-" + topology.Payment
	HopProductToUser    = topology.Product + "-to-" + topology.User
	HopOrderToUser      = topology.Order + "-to-" + topology.User
	HopOrderToProduct   = topology.Order + "-to-" + topology.Product
	HopOrderToPayment   = topology.Order + "-to-" + topology.Payment
	HopPaymentToUser    = topology.Payment + "-to-" + topology.User
)

const s = time.Second

func toxicStep(name string, at, until time.Duration, t toxi.Toxic) Step {
	return Step{Name: name, At: at, Until: until, Fault: FaultSpec{Kind: FaultToxic, Hop: t.Hop, Toxic: t}}
}

// w is one entry of a load's mix: call, weight times out of the sum.
func w(call string, weight int) MixEntry { return MixEntry{Call: call, Weight: weight} }

func mix(entries ...MixEntry) []MixEntry { return entries }

// Checks shared by several scenarios.
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

func p99During(call string, max time.Duration) Check {
	return Check{Kind: CheckLatency, Phase: PhaseDuring, Call: call, Quantile: 0.99, MaxLatency: max}
}

// claim is what a hypothesis lists: a Check or a checkGroup.
type claim interface{ checks() []Check }

func (c Check) checks() []Check { return []Check{c} }

// checkGroup is several Checks that go together in hypotheses.
type checkGroup []Check

func (g checkGroup) checks() []Check { return g }

func hyp(claims ...claim) []Check {
	var out []Check
	for _, c := range claims {
		out = append(out, c.checks()...)
	}
	return out
}

// Catalogue returns the lab's scenarios, each a fresh copy. Thresholds are
// first guesses, to be tuned against the running lab.
func Catalogue() []Scenario {
	return []Scenario{
		{
			Name:        "payment-down",
			Description: "order-to-payment is down: orders fail fast with 503 and Retry-After, order's payment breaker opens within ~3s and closes after recovery; nothing is charged twice, stock adds up, and the catalogue is unaffected.",
			Short:       true,
			Faults:      []Step{toxicStep("payment down", 2*s, 4500*time.Millisecond, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.Down})},
			Load:        LoadProfile{Rate: 30, Duration: 7 * s, Concurrency: 16, Mix: mix(w(CallListProducts, 2), w(CallGetProduct, 1), w(CallCreateOrder, 2))},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallListProducts, 0.99),
				successDuring(CallGetProduct, 0.99),
				Check{Kind: CheckStatusSeen, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503, Min: 0.5},
				Check{Kind: CheckHeader, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503, Header: "Retry-After", Min: 0.99},
				p99During(CallCreateOrder, 3*time.Second),
				Check{Kind: CheckLatency, Phase: PhaseDuring, Call: CallCreateOrder, Quantile: 0.5, MaxLatency: 250 * time.Millisecond, Description: "orders fail fast once the breaker is open: p50 of create_order"},
				Check{Kind: CheckBreakerOpens, Service: "order", Upstream: "payment", Within: 3 * s},
				Check{Kind: CheckBreakerCloses, Service: "order", Upstream: "payment", Within: 4 * s},
				// order answers for payment (503 + X-Dependency-Unavailable):
				// the gateway must not take a healthy order for a dead one.
				Check{Kind: CheckBreakerStaysClosed, Service: "gateway", Upstream: "order"},
				Check{Kind: CheckLogEvent, Action: "breaker.state_change", Service: "order"},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "payment-latency",
			Description: "2s of latency on order-to-payment: order's attempts time out and its breaker opens; browsing the catalogue stays fast.",
			Faults:      []Step{toxicStep("payment slow", 2*s, 6*s, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.Latency, LatencyMs: 2000})},
			Load:        LoadProfile{Rate: 30, Duration: 8 * s, Concurrency: 32, Mix: mix(w(CallListProducts, 2), w(CallGetProduct, 1), w(CallCreateOrder, 2))},
			Hypothesis: hyp(steadyBefore(),
				p99During(CallListProducts, 1500*time.Millisecond),
				p99During(CallGetProduct, 1500*time.Millisecond),
				p99During(CallCreateOrder, 6*time.Second),
				Check{Kind: CheckMetricIncrease, Service: "order", Metric: "faultlab_client_attempts_total", Labels: map[string]string{"name": "payment", "outcome": "timeout"}},
				Check{Kind: CheckBreakerOpens, Service: "order", Upstream: "payment", Within: 5 * s},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "user-down",
			Description: "Every hop to user is down: requests with a token seen before still succeed through the token cache; logins and unseen tokens get 503, never 401.",
			Short:       true,
			Faults: []Step{
				toxicStep("gateway→user down", 2*s, 4500*time.Millisecond, toxi.Toxic{Hop: HopGatewayToUser, Kind: toxi.Down}),
				toxicStep("product→user down", 2*s, 4500*time.Millisecond, toxi.Toxic{Hop: HopProductToUser, Kind: toxi.Down}),
				toxicStep("order→user down", 2*s, 4500*time.Millisecond, toxi.Toxic{Hop: HopOrderToUser, Kind: toxi.Down}),
				toxicStep("payment→user down", 2*s, 4500*time.Millisecond, toxi.Toxic{Hop: HopPaymentToUser, Kind: toxi.Down}),
			},
			Load: LoadProfile{Rate: 30, Duration: 7 * s, Concurrency: 16, Mix: mix(w(CallListProducts, 2), w(CallGetProduct, 1), w(CallCreateOrder, 2), w(CallLogin, 1))},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallCreateOrder, 0.95),
				successDuring(CallListProducts, 0.99),
				Check{Kind: CheckStatusSeen, Phase: PhaseDuring, Call: CallLogin, Status: 503},
				Check{Kind: CheckStatusAbsent, Phase: PhaseOverall, Status: 401, Description: "no request is refused as unauthenticated"},
				Check{Kind: CheckMetricIncrease, Service: "order", Metric: "faultlab_token_cache_requests_total", Labels: map[string]string{"result": "hit"}},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "product-slow",
			Description: "Latency with jitter on gateway-to-product: the gateway answers the catalogue from its last-known-good copy (X-Cache-Status: stale) within its deadline.",
			Faults:      []Step{toxicStep("product slow", 2*s, 6*s, toxi.Toxic{Hop: HopGatewayToProduct, Kind: toxi.Latency, LatencyMs: 1500, JitterMs: 500})},
			Load:        LoadProfile{Rate: 30, Duration: 8 * s, Concurrency: 32, Mix: mix(w(CallListProducts, 3), w(CallGetProduct, 1))},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallListProducts, 0.95),
				Check{Kind: CheckHeader, Phase: PhaseDuring, Call: CallListProducts, Header: "X-Cache-Status", Value: "stale"},
				p99During(CallListProducts, 1500*time.Millisecond),
				Check{Kind: CheckMetricIncrease, Service: "gateway", Metric: "faultlab_fallback_total", Labels: map[string]string{"name": "catalogue", "kind": "stale"}},
				Check{Kind: CheckLogEvent, Action: "fallback.stale_catalogue", Service: "gateway"},
				steadyAfter()),
		},
		{
			Name:        "order-payment-reset",
			Description: "order-to-payment resets connections mid-request: charges may land without order seeing the answer; retries with the same idempotency key must not charge twice, and stock must add up.",
			Faults:      []Step{toxicStep("payment resets", 2*s, 6*s, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.ResetPeer, TimeoutMs: 20})},
			Load:        LoadProfile{Rate: 30, Duration: 8 * s, Concurrency: 16, Mix: mix(w(CallCreateOrder, 3), w(CallGetOrder, 1), w(CallListProducts, 1))},
			Hypothesis: hyp(steadyBefore(),
				Check{Kind: CheckMetricIncrease, Service: "order", Metric: "faultlab_client_retries_total", Labels: map[string]string{"name": "payment"}},
				Check{Kind: CheckRetryAmplification, Service: "order", Upstream: "payment", Max: 3},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "payment-flapping",
			Description: "Half of order-to-payment's connections are reset: retries hide most failures, amplification stays bounded, nothing is charged twice.",
			Faults:      []Step{toxicStep("payment flapping", 2*s, 7*s, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.ResetPeer, Toxicity: 0.5})},
			Load:        LoadProfile{Rate: 30, Duration: 9 * s, Concurrency: 16, Mix: mix(w(CallCreateOrder, 3), w(CallListProducts, 1))},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallCreateOrder, 0.8),
				Check{Kind: CheckRetryAmplification, Service: "order", Upstream: "payment", Max: 3},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "payment-503-burst",
			Description: "payment answers 503 with Retry-After: 1: order's retries honour Retry-After (see retry.attempt labels.delay_ms), amplification stays bounded, and orders fail with 503.",
			Short:       true,
			Faults: []Step{{Name: "payment 503", At: 2 * s, Until: 4 * s, Fault: FaultSpec{Kind: FaultHTTP, Service: "payment",
				HTTP: fault.Fault{Name: "payment-503-burst", Kind: fault.KindStatus, Status: 503, RetryAfter: 1}}}},
			Load: LoadProfile{Rate: 30, Duration: 7 * s, Concurrency: 16, Mix: mix(w(CallCreateOrder, 3), w(CallListProducts, 1))},
			Hypothesis: hyp(steadyBefore(),
				Check{Kind: CheckStatusSeen, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503},
				Check{Kind: CheckMetricIncrease, Service: "order", Metric: "faultlab_client_attempts_total", Labels: map[string]string{"name": "payment", "outcome": "status_5xx"}},
				Check{Kind: CheckRetryAmplification, Service: "order", Upstream: "payment", Max: 2.5},
				Check{Kind: CheckLogEvent, Action: "fault.injected", Service: "payment"},
				successDuring(CallListProducts, 0.99),
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "product-slicer-bandwidth",
			Description: "gateway-to-product slices responses into small pieces and caps bandwidth: answers arrive slower but complete and correct.",
			Faults: []Step{
				toxicStep("product sliced", 1*s, 6*s, toxi.Toxic{Hop: HopGatewayToProduct, Kind: toxi.Slicer, AverageSize: 64, SizeVariation: 32, DelayUs: 200}),
				toxicStep("product throttled", 1*s, 6*s, toxi.Toxic{Hop: HopGatewayToProduct, Kind: toxi.Bandwidth, RateKBps: 64}),
			},
			Load: LoadProfile{Rate: 20, Duration: 7 * s, Concurrency: 16, Mix: mix(w(CallListProducts, 1), w(CallGetProduct, 1))},
			Hypothesis: hyp(steadyBefore(),
				successDuring("", 0.99),
				p99During("", time.Second),
				steadyAfter()),
		},
		{
			Name:        "recovery",
			Description: "After order-to-payment comes back, order's breaker goes half-open, its probes succeed, and it closes; orders succeed again.",
			Faults:      []Step{toxicStep("payment down", 1*s, 3*s, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.Down})},
			Load:        LoadProfile{Rate: 30, Duration: 9 * s, Concurrency: 16, Mix: mix(w(CallCreateOrder, 3), w(CallListProducts, 1))},
			Hypothesis: hyp(steadyBefore(),
				Check{Kind: CheckBreakerOpens, Service: "order", Upstream: "payment", Within: 2 * s},
				Check{Kind: CheckBreakerHalfOpen, Service: "order", Upstream: "payment"},
				Check{Kind: CheckBreakerCloses, Service: "order", Upstream: "payment", Within: 4 * s},
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "gateway-overload",
			Description: "gateway-to-order is slow under high concurrency: the gateway's order bulkhead sheds the excess with 503 while healthy routes keep low latency.",
			Faults:      []Step{toxicStep("order slow", 1*s, 6*s, toxi.Toxic{Hop: HopGatewayToOrder, Kind: toxi.Latency, LatencyMs: 1500})},
			Load:        LoadProfile{Rate: 60, Duration: 8 * s, Concurrency: 96, Mix: mix(w(CallCreateOrder, 2), w(CallListProducts, 1))},
			Hypothesis: hyp(steadyBefore(),
				Check{Kind: CheckMetricIncrease, Service: "gateway", Metric: "faultlab_bulkhead_rejections_total", Labels: map[string]string{"name": "order"}},
				Check{Kind: CheckStatusSeen, Phase: PhaseDuring, Call: CallCreateOrder, Status: 503},
				successDuring(CallListProducts, 0.99),
				p99During(CallListProducts, 1500*time.Millisecond),
				dataIntact(), steadyAfter()),
		},
		{
			Name:        "login-abuse",
			Description: "One client sends wrong passwords at 100/s and 20 addresses spray unknown emails, while the demo customer logs in and shops: abusers get 429 (or a shed 503), legitimate logins succeed, the gateway's breaker on user stays closed, the catalogue keeps its latency.",
			// Rates, not flat out: the load generator shares the lab's
			// process and cores, so a flat-out client measures the
			// generator's CPU, not the lab's defences.
			Faults: []Step{
				abuseStep("wrong passwords", 2*s, 6500*time.Millisecond, Abuse{Call: CallAbuseWrongPassword, Rate: 100, Concurrency: 4}),
				abuseStep("unknown emails", 2*s, 6500*time.Millisecond, Abuse{Call: CallAbuseUnknownEmail, Rate: 50, Concurrency: 16, Sources: 20}),
			},
			Load: LoadProfile{Rate: 30, Duration: 8 * s, Concurrency: 16, Mix: mix(w(CallListProducts, 3), w(CallGetProduct, 1), w(CallCreateOrder, 1), w(CallLogin, 2))},
			Hypothesis: hyp(steadyBefore(),
				successDuring(CallLogin, 0.99), successDuring(CallListProducts, 0.99), successDuring(CallCreateOrder, 0.99),
				Check{Kind: CheckLatency, Phase: PhaseDuring, Call: CallListProducts, Max: 2, MaxLatency: 250 * time.Millisecond, Description: "catalogue p99 within 2× its baseline"},
				Check{Kind: CheckStatusSeen, Call: CallAbuseWrongPassword, Status: 429, Min: 0.9},
				Check{Kind: CheckStatusSeen, Call: CallAbuseUnknownEmail, Status: 429, Min: 0.2},
				Check{Kind: CheckStatusAbsent, Call: CallAbuseUnknownEmail, Status: 500},
				Check{Kind: CheckBreakerStaysClosed, Service: "gateway", Upstream: "user"},
				Check{Kind: CheckMetricIncrease, Service: "user", Metric: "faultlab_login_refused_total", Labels: map[string]string{"reason": "client_limit"}},
				dataIntact(), steadyAfter()),
		},
		CompoundFaults(),
	}
}

// CompoundFaults is issue 10's combination: 300ms on order-to-payment,
// product's reservation commits and releases answering 503 half the time,
// payment's /payments 503 30% of the time, and for part of it
// order-to-payment resetting 30% of its connections; two thirds of the
// orders from retrying clients (the same Idempotency-Key until a final
// answer), a third one-shot, as issue 10's ten and five clients; up to 64
// in flight, so that clients waiting to retry do not crowd out new orders.
// Every client's answer must agree with the stores afterwards.
func CompoundFaults() Scenario {
	const d = 8 * s
	http503 := func(name, service, prefix string, p float64) Step {
		return Step{Name: name, At: 1 * s, Until: d, Fault: FaultSpec{Kind: FaultHTTP, Service: service,
			HTTP: fault.Fault{Name: name, Kind: fault.KindStatus, Status: 503, Probability: p, PathPrefix: prefix}}}
	}
	return Scenario{
		Name: "compound-faults",
		Description: "Combined faults on three hops at once (payment slow and flaky, reservation commits and releases failing, connections reset): " +
			"retrying clients get a final answer, and once the faults are off and the shop is quiet, every 201 is a confirmed order with what the client was told, " +
			"every confirmed order has exactly one charge of its total, stock sold and reserved match the orders, and no order left a final state.",
		Faults: []Step{
			toxicStep("payment slow", 1*s, d, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.Latency, LatencyMs: 300}),
			http503("reservations-503", "product", "/internal/reservations/", 0.5),
			http503("payments-503", "payment", "/payments", 0.3),
			toxicStep("payment resets", 3*s, 6*s, toxi.Toxic{Hop: HopOrderToPayment, Kind: toxi.ResetPeer, Toxicity: 0.3}),
		},
		Load: LoadProfile{Rate: 15, Duration: d, Concurrency: 64, RetryFor: DefaultRetryFor,
			Mix: mix(w(CallCreateOrderRetrying, 2), w(CallCreateOrder, 1))},
		Hypothesis: hyp(steadyBefore(),
			Check{Kind: CheckSuccessRate, Call: CallCreateOrderRetrying, Min: 0.95, Description: "retrying clients end with a 201"},
			Check{Kind: CheckStatusAbsent, Call: CallCreateOrderRetrying, Status: 500, Description: "no retrying client ends with a 500"},
			dataIntact(), steadyAfter()),
	}
}

func abuseStep(name string, at, until time.Duration, a Abuse) Step {
	return Step{Name: name, At: at, Until: until, Fault: FaultSpec{Kind: FaultAbuse, Abuse: a}}
}

// Lookup returns the catalogue scenario called name.
func Lookup(name string) (Scenario, bool) {
	for _, sc := range Catalogue() {
		if sc.Name == name {
			return sc, true
		}
	}
	return Scenario{}, false
}
