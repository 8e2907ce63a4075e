package resilience

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// policyKey is one key of a Policy's text form: set reads a value into its
// field, value formats the field and reports whether it is set.
type policyKey struct {
	key   string
	set   func(p *Policy, v string) error
	value func(p Policy) (string, bool)
}

// policyKeys are the keys of the text form, in the order MarshalText
// writes them.
var policyKeys = []policyKey{
	durKey("timeout", func(p *Policy) *time.Duration { return &p.Timeout }),
	durKey("attempt-timeout", func(p *Policy) *time.Duration { return &p.AttemptTimeout }),
	intKey("attempts", func(p *Policy) *int { return &p.MaxAttempts }),
	durKey("backoff-initial", func(p *Policy) *time.Duration { return &p.BackoffInitial }),
	durKey("backoff-max", func(p *Policy) *time.Duration { return &p.BackoffMax }),
	durKey("max-retry-after", func(p *Policy) *time.Duration { return &p.MaxRetryAfter }),
	ratioKey("budget-ratio", 0, func(p *Policy) *float64 { return &p.BudgetRatio }),
	intKey("budget-min-retries", func(p *Policy) *int { return &p.BudgetMinRetries }),
	durKey("budget-window", func(p *Policy) *time.Duration { return &p.BudgetWindow }),
	durKey("breaker-window", func(p *Policy) *time.Duration { return &p.BreakerWindow }),
	u32Key("breaker-min-requests", func(p *Policy) *uint32 { return &p.BreakerMinRequests }),
	ratioKey("breaker-failure-ratio", 1, func(p *Policy) *float64 { return &p.BreakerFailureRatio }),
	durKey("breaker-open", func(p *Policy) *time.Duration { return &p.BreakerOpenTimeout }),
	u32Key("breaker-probes", func(p *Policy) *uint32 { return &p.BreakerHalfOpenProbes }),
	intKey("max-concurrent", func(p *Policy) *int { return &p.MaxConcurrent }),
	onOffKey("breaker", true, func(p *Policy) *bool { return &p.DisableBreaker }),
	{
		key: "lb",
		set: func(p *Policy, v string) error {
			switch b := Balancer(v); b {
			case BalancerP2C, BalancerRoundRobin:
				p.Balancer = b
				return nil
			}
			return fmt.Errorf("want %s or %s", BalancerP2C, BalancerRoundRobin)
		},
		value: func(p Policy) (string, bool) { return string(p.Balancer), p.Balancer != "" },
	},
	onOffKey("outlier", true, func(p *Policy) *bool { return &p.DisableOutlier }),
	intKey("outlier-5xx", func(p *Policy) *int { return &p.OutlierConsecutive5xx }),
	intKey("outlier-gateway", func(p *Policy) *int { return &p.OutlierConsecutiveGateway }),
	durKey("outlier-base-ejection", func(p *Policy) *time.Duration { return &p.OutlierBaseEjection }),
	durKey("outlier-max-ejection", func(p *Policy) *time.Duration { return &p.OutlierMaxEjection }),
	percentKey("outlier-max-percent", func(p *Policy) *int { return &p.OutlierMaxPercent }),
	durKey("outlier-interval", func(p *Policy) *time.Duration { return &p.OutlierInterval }),
	ratioKey("outlier-success-stdev", 0, func(p *Policy) *float64 { return &p.OutlierSuccessStdev }),
	intKey("outlier-success-min-requests", func(p *Policy) *int { return &p.OutlierSuccessMinRequests }),
	durKey("hedge-delay", func(p *Policy) *time.Duration { return &p.HedgeDelay }),
	ratioKey("hedge-quantile", 1, func(p *Policy) *float64 { return &p.HedgeQuantile }),
	durKey("hedge-min-delay", func(p *Policy) *time.Duration { return &p.HedgeMinDelay }),
	durKey("hedge-max-delay", func(p *Policy) *time.Duration { return &p.HedgeMaxDelay }),
	onOffKey("hedge-posts", false, func(p *Policy) *bool { return &p.HedgePosts }),
}

// MarshalText writes p's non-zero fields as "key=value,…", the form
// UnmarshalText reads and FAULTLAB_POLICY_<UPSTREAM> takes.
func (p Policy) MarshalText() ([]byte, error) {
	var kv []string
	for _, k := range policyKeys {
		if v, ok := k.value(p); ok {
			kv = append(kv, k.key+"="+v)
		}
	}
	return []byte(strings.Join(kv, ",")), nil
}

// String is MarshalText's text.
func (p Policy) String() string {
	b, _ := p.MarshalText()
	return string(b)
}

// UnmarshalText reads "key=value,…" and sets the fields it names, leaving
// the others as they were, so that a text patches a base policy:
//
//	timeout, attempt-timeout, backoff-initial, backoff-max, max-retry-after,
//	budget-window, breaker-window, breaker-open   durations ("800ms", "2s"), > 0
//	attempts, budget-min-retries, max-concurrent,
//	breaker-min-requests, breaker-probes          integers ≥ 1
//	budget-ratio                                   a number > 0 (retries per call)
//	breaker-failure-ratio                          a number in (0, 1]
//	breaker, outlier, hedge-posts                  on or off
//	lb                                             p2c or round-robin
//	outlier-base-ejection, outlier-max-ejection,
//	outlier-interval, hedge-delay,
//	hedge-min-delay, hedge-max-delay               durations, > 0
//	outlier-5xx, outlier-gateway,
//	outlier-success-min-requests                   integers ≥ 1
//	outlier-max-percent                            an integer in [1, 100]
//	outlier-success-stdev                          a number > 0 (standard deviations)
//	hedge-quantile                                 a number in (0, 1]
//
// An unknown key, a repeated key or a bad value is an error naming it, and
// then p is left unchanged.
func (p *Policy) UnmarshalText(text []byte) error {
	next := *p
	seen := map[string]bool{}
	for _, kv := range strings.Split(string(text), ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("policy: %q: want key=value", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if seen[k] {
			return fmt.Errorf("policy: %s is given twice", k)
		}
		seen[k] = true
		i := policyKeyIndex(k)
		if i < 0 {
			return fmt.Errorf("policy: unknown key %q (want one of %s)", k, strings.Join(PolicyKeys(), ", "))
		}
		if err := policyKeys[i].set(&next, v); err != nil {
			return fmt.Errorf("policy: %s=%q: %w", k, v, err)
		}
	}
	*p = next
	return nil
}

// PolicyKeys lists the keys of the text form.
func PolicyKeys() []string {
	out := make([]string, len(policyKeys))
	for i, k := range policyKeys {
		out[i] = k.key
	}
	return out
}

func policyKeyIndex(key string) int {
	for i, k := range policyKeys {
		if k.key == key {
			return i
		}
	}
	return -1
}

func durKey(key string, field func(*Policy) *time.Duration) policyKey {
	return policyKey{
		key: key,
		set: func(p *Policy, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("want a duration such as 800ms or 2s")
			}
			if d <= 0 {
				return fmt.Errorf("must be positive")
			}
			*field(p) = d
			return nil
		},
		value: func(p Policy) (string, bool) { d := *field(&p); return d.String(), d != 0 },
	}
}

func intKey(key string, field func(*Policy) *int) policyKey {
	return policyKey{
		key: key,
		set: func(p *Policy, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("want an integer ≥ 1")
			}
			*field(p) = n
			return nil
		},
		value: func(p Policy) (string, bool) { n := *field(&p); return strconv.Itoa(n), n != 0 },
	}
}

func u32Key(key string, field func(*Policy) *uint32) policyKey {
	return policyKey{
		key: key,
		set: func(p *Policy, v string) error {
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil || n < 1 {
				return fmt.Errorf("want an integer ≥ 1")
			}
			*field(p) = uint32(n)
			return nil
		},
		value: func(p Policy) (string, bool) { n := *field(&p); return strconv.FormatUint(uint64(n), 10), n != 0 },
	}
}

// ratioKey reads a number > 0, and at most max unless max is 0.
func ratioKey(key string, max float64, field func(*Policy) *float64) policyKey {
	return policyKey{
		key: key,
		set: func(p *Policy, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			switch {
			case err != nil || !(f > 0) || math.IsInf(f, 0):
				return fmt.Errorf("want a number > 0")
			case max > 0 && f > max:
				return fmt.Errorf("want a number in (0, %g]", max)
			}
			*field(p) = f
			return nil
		},
		value: func(p Policy) (string, bool) {
			f := *field(&p)
			return strconv.FormatFloat(f, 'g', -1, 64), f != 0
		},
	}
}

// onOffKey reads on or off into a bool field; inverted fields (Disable…)
// hold true for off.
func onOffKey(key string, inverted bool, field func(*Policy) *bool) policyKey {
	return policyKey{
		key: key,
		set: func(p *Policy, v string) error {
			switch v {
			case "on", "off":
				*field(p) = (v == "on") != inverted
				return nil
			}
			return fmt.Errorf("want on or off")
		},
		value: func(p Policy) (string, bool) {
			if inverted {
				return "off", *field(&p)
			}
			return "on", *field(&p)
		},
	}
}

func percentKey(key string, field func(*Policy) *int) policyKey {
	k := intKey(key, field)
	set := k.set
	k.set = func(p *Policy, v string) error {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			return fmt.Errorf("want an integer in [1, 100]")
		}
		return set(p, v)
	}
	return k
}
