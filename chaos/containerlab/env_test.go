package containerlab

import (
	"testing"
	"time"

	"github.com/faultlab/faultlab/resilience"
)

func TestPolicyEnv(t *testing.T) {
	for _, tc := range []struct {
		p    resilience.Policy
		want string
	}{
		{resilience.Policy{}, ""},
		{resilience.Policy{BreakerOpenTimeout: 2 * time.Second, BreakerMinRequests: 6}, "breaker-min-requests=6,breaker-open=2s"},
		{resilience.Policy{Timeout: 2 * time.Second, AttemptTimeout: 800 * time.Millisecond, MaxAttempts: 2,
			BudgetRatio: 0.25, DisableBreaker: true},
			"timeout=2s,attempt-timeout=800ms,attempts=2,budget-ratio=0.25,breaker=off"},
	} {
		if got := PolicyEnv(tc.p); got != tc.want {
			t.Errorf("PolicyEnv(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

// TestServiceEnv: with a lab policy, each caller gets it for each of its
// upstreams, with the in-process lab's layered timeouts; Config.Env wins.
func TestServiceEnv(t *testing.T) {
	cfg := Config{Policy: testPolicy, Env: map[string]map[string]string{"order": {"FAULTLAB_POLICY_USER": "breaker=off"}}}
	cfg.defaults()
	want := map[string]map[string]string{
		"gateway": {
			"FAULTLAB_ORDER_URL":      "http://toxiproxy:21003",
			"FAULTLAB_POLICY_ORDER":   "timeout=10s,attempt-timeout=6s,max-retry-after=250ms,breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
			"FAULTLAB_POLICY_PAYMENT": "breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
		},
		"order": {
			"FAULTLAB_PAYMENT_URL":    "http://toxiproxy:21008",
			"FAULTLAB_POLICY_PAYMENT": "timeout=2s,attempt-timeout=800ms,breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
			"FAULTLAB_POLICY_USER":    "breaker=off",
		},
		"user": {"FAULTLAB_LISTEN": "0.0.0.0:8081", "FAULTLAB_POLICY_USER": ""},
	}
	for _, s := range services {
		env := serviceEnv(s, cfg)
		for k, v := range want[s.name] {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", s.name, k, env[k], v)
			}
		}
	}
	if env := serviceEnv(services[1], Config{}); env["FAULTLAB_POLICY_USER"] != "" {
		t.Errorf("without a policy: FAULTLAB_POLICY_USER=%q, want unset", env["FAULTLAB_POLICY_USER"])
	}
}
