package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/faultlab/faultlab/resilience"
)

// policyFlagsFromEnv reads per-upstream policy overrides from
// FAULTLAB_POLICY_<UPSTREAM>, e.g.
//
//	FAULTLAB_POLICY_PAYMENT="attempts=2,attempt-timeout=300ms,breaker-open=3s"
func policyFlagsFromEnv(getenv func(string) string) (map[string]resilience.Policy, error) {
	out := map[string]resilience.Policy{}
	for _, up := range []string{"user", "product", "order", "payment"} {
		key := "FAULTLAB_POLICY_" + strings.ToUpper(up)
		if v := getenv(key); v != "" {
			p, err := parsePolicy(v)
			if err != nil {
				return nil, usagef("%s: %v", key, err)
			}
			out[up] = p
		}
	}
	return out, nil
}

// parsePolicy reads "key=value,…" into a Policy. Unknown keys are errors.
func parsePolicy(s string) (resilience.Policy, error) {
	var p resilience.Policy
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("%q: want key=value", kv)
		}
		var err error
		dur := func(d *time.Duration) { *d, err = time.ParseDuration(v) }
		num := func(n *int) { *n, err = strconv.Atoi(v) }
		u32 := func(n *uint32) {
			var x uint64
			x, err = strconv.ParseUint(v, 10, 32)
			*n = uint32(x)
		}
		flt := func(f *float64) { *f, err = strconv.ParseFloat(v, 64) }
		switch k {
		case "timeout":
			dur(&p.Timeout)
		case "attempt-timeout":
			dur(&p.AttemptTimeout)
		case "attempts":
			num(&p.MaxAttempts)
		case "backoff-initial":
			dur(&p.BackoffInitial)
		case "backoff-max":
			dur(&p.BackoffMax)
		case "max-retry-after":
			dur(&p.MaxRetryAfter)
		case "budget-ratio":
			flt(&p.BudgetRatio)
		case "budget-min-retries":
			num(&p.BudgetMinRetries)
		case "budget-window":
			dur(&p.BudgetWindow)
		case "breaker-window":
			dur(&p.BreakerWindow)
		case "breaker-min-requests":
			u32(&p.BreakerMinRequests)
		case "breaker-failure-ratio":
			flt(&p.BreakerFailureRatio)
		case "breaker-open":
			dur(&p.BreakerOpenTimeout)
		case "breaker-probes":
			u32(&p.BreakerHalfOpenProbes)
		case "max-concurrent":
			num(&p.MaxConcurrent)
		case "breaker":
			switch v {
			case "on":
			case "off":
				p.DisableBreaker = true
			default:
				err = fmt.Errorf("want on or off")
			}
		default:
			return p, fmt.Errorf("unknown policy key %q", k)
		}
		if err != nil {
			return p, fmt.Errorf("%s=%q: %v", k, v, err)
		}
	}
	return p, nil
}
