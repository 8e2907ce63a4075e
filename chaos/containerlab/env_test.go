package containerlab

import "testing"

// TestServiceEnv: with a lab policy, each caller gets it for each of its
// upstreams (each service layers its per-hop timeouts on top itself);
// Config.Env wins.
func TestServiceEnv(t *testing.T) {
	cfg := Config{Policy: testPolicy, Env: map[string]map[string]string{"order": {"FAULTLAB_POLICY_USER": "breaker=off"}}}
	cfg.defaults()
	want := map[string]map[string]string{
		"gateway": {
			"FAULTLAB_ORDER_URL":      "http://toxiproxy:21003",
			"FAULTLAB_POLICY_ORDER":   "breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
			"FAULTLAB_POLICY_PAYMENT": "breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
		},
		"order": {
			"FAULTLAB_PAYMENT_URL":    "http://toxiproxy:21008",
			"FAULTLAB_POLICY_PAYMENT": "breaker-window=5s,breaker-min-requests=6,breaker-open=2s",
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
