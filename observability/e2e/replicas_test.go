package e2e_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/observability/promapi"
	"github.com/faultlab/faultlab/topology"
)

// localConfig is what `make observe` runs Prometheus on.
const localConfig = "../prometheus/prometheus.local.yml"

// TestObserveFindsReplicas runs the real Prometheus on `make observe`'s
// config, pointed at a lab with two payment replicas: replica 1 is in the
// file, replica 2 comes from the lab's admin API (http_sd_configs), and
// both are scraped up.
func TestObserveFindsReplicas(t *testing.T) {
	l := labtest.Start(t, lab.Config{AdminAddr: "127.0.0.1:0", Replicas: map[string]int{topology.Payment: 2}})
	cfg := localConfigFor(t, l)
	prom := runPrometheus(t, cfg)
	addrs := l.ReplicaAddrs(topology.Payment)
	want := slices.Sorted(slices.Values(addrs))
	pollUntil(t, 30*time.Second, "both payment replicas scraped up", func() (bool, string) {
		ts, err := promapi.Targets(t.Context(), nil, prom)
		up := promapi.Up(ts, topology.Payment)
		return err == nil && slices.Equal(up, want), fmt.Sprintf("up %v, want %v, err %v", up, want, err)
	})

	// The discovery endpoint needs no key, lists only the replicas after
	// the first, and refuses an unknown service with a problem.
	for _, tc := range []struct {
		service string
		status  int
		body    string
	}{
		{topology.Payment, http.StatusOK, `[{"targets":["` + addrs[1] + `"],"labels":{}}]`},
		{topology.User, http.StatusOK, `[]`},
		{"nope", http.StatusNotFound, `"status":404`},
	} {
		resp, err := http.Get("http://" + l.AdminAddr + lab.AdminTargetsPath + "?service=" + tc.service)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("%s: %d %s (%v), want %d with %s", tc.service, resp.StatusCode, b, err, tc.status, tc.body)
		}
	}
}

// localConfigFor is prometheus.local.yml with the lab's addresses: each
// job's static target becomes the lab's replica 1, the discovery URL the
// lab's admin API, the rules an absolute path; no Alertmanager.
func localConfigFor(t *testing.T, l *lab.Lab) string {
	t.Helper()
	b, err := os.ReadFile(localConfig)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []any{rules}
	delete(cfg, "alerting")
	cfg["global"] = map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name, _ := job["job_name"].(string)
		if addrs := l.ReplicaAddrs(name); len(addrs) > 0 {
			job["static_configs"] = []any{map[string]any{"targets": []any{addrs[0]}}}
		}
		sds, _ := job["http_sd_configs"].([]any)
		for _, sd := range sds {
			m, _ := sd.(map[string]any)
			u, err := url.Parse(fmt.Sprint(m["url"]))
			if err != nil || u.Path != lab.AdminTargetsPath || u.Query().Get("service") != name {
				t.Fatalf("%s: job %s discovers at %v, want %s?service=%s on the admin API", localConfig, name, m["url"], lab.AdminTargetsPath, name)
			}
			u.Host = l.AdminAddr
			m["url"], m["refresh_interval"] = u.String(), "1s"
		}
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
