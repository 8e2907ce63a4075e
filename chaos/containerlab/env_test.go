package containerlab

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/chaos"
)

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

// TestReplicatedServiceEnv: with replicas, each caller gets its proxy to
// every replica of a callee, in order, as one list.
func TestReplicatedServiceEnv(t *testing.T) {
	cfg := Config{Replicas: chaos.ReplicaLayout}
	cfg.defaults()
	want := map[string]map[string]string{
		"gateway": {
			"FAULTLAB_USER_URL":    "http://toxiproxy:21001",
			"FAULTLAB_ORDER_URL":   "http://toxiproxy:21003,http://toxiproxy:31003",
			"FAULTLAB_PAYMENT_URL": "http://toxiproxy:21004,http://toxiproxy:31004,http://toxiproxy:41004",
		},
		"order": {"FAULTLAB_PRODUCT_URL": "http://toxiproxy:21007,http://toxiproxy:31007,http://toxiproxy:41007"},
	}
	for _, s := range services {
		env := serviceEnv(s, cfg)
		for k, v := range want[s.name] {
			if env[k] != v {
				t.Errorf("%s: %s=%q, want %q", s.name, k, env[k], v)
			}
		}
	}
}

// TestProxiesMatchCompose: on docker-compose.yml's layout the lab's
// Toxiproxy has exactly the proxies of docker/toxiproxy/toxiproxy.json
// (which deploy checks against CONTRACTS.md), and without replicas the
// unnumbered hops of CONTRACTS.md.
func TestProxiesMatchCompose(t *testing.T) {
	type proxy struct{ Name, Listen, Upstream string }
	decode := func(b []byte) []proxy {
		t.Helper()
		var ps []proxy
		if err := json.Unmarshal(b, &ps); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(ps, func(a, b proxy) int { return strings.Compare(a.Name, b.Name) })
		return ps
	}
	file, err := os.ReadFile("../../docker/toxiproxy/toxiproxy.json")
	if err != nil {
		t.Fatal(err)
	}
	counts, err := replicaCounts(chaos.ReplicaLayout)
	if err != nil {
		t.Fatal(err)
	}
	gen, err := toxiproxyConfig(counts)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := decode(gen), decode(file); !slices.Equal(got, want) {
		t.Errorf("lab proxies\n%v\ntoxiproxy.json\n%v", got, want)
	}
	one, _ := replicaCounts(nil)
	gen, _ = toxiproxyConfig(one)
	for _, px := range decode(gen) {
		if px.Name == "order-to-payment" && px.Listen == "0.0.0.0:21008" && px.Upstream == "payment:8084" {
			return
		}
	}
	t.Errorf("without replicas: no order-to-payment on 21008 to payment:8084 in %s", gen)
}
