package deploy

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/topology"
)

const (
	promCompose = "../observability/prometheus/prometheus.yml"
	promLocal   = "../observability/prometheus/prometheus.local.yml"
)

// promHosts are the two Prometheus configs and how each reaches a service:
// by compose service name, or on loopback (faultlab up).
var promHosts = map[string]func(string) string{
	promCompose: func(name string) string { return name },
	promLocal:   func(string) string { return topology.Loopback },
}

// TestContractsMatchTopology: the service and hop tables of CONTRACTS.md
// are the topology's, in order, with the same ports.
func TestContractsMatchTopology(t *testing.T) {
	got, want := contracts(t), FromTopology(topology.Default)
	if !maps.Equal(got.Ports, want.Ports) {
		t.Errorf("CONTRACTS.md ports %v, topology %v", got.Ports, want.Ports)
	}
	if !slices.Equal(got.Hops, want.Hops) {
		t.Errorf("CONTRACTS.md hops\n%v\ntopology\n%v", got.Hops, want.Hops)
	}
}

// TestToxiproxyAPIPortMatchesTopology: CONTRACTS.md and the chaos overlay
// put Toxiproxy's API where the topology does.
func TestToxiproxyAPIPortMatchesTopology(t *testing.T) {
	want := topology.ToxiproxyAddr()
	b := readFile(t, "../docs/CONTRACTS.md")
	if !strings.Contains(b, "| Toxiproxy API | "+want+" |") {
		t.Errorf("CONTRACTS.md has no row | Toxiproxy API | %s |", want)
	}
	p := load(t, base, chaos)
	tp, ok := p.Services["toxiproxy"]
	if !ok {
		t.Fatal("the chaos overlay has no toxiproxy service")
	}
	var ports []string
	for _, port := range tp.Ports {
		ports = append(ports, port.String())
	}
	if !slices.Equal(ports, Published["toxiproxy"]) {
		t.Errorf("toxiproxy publishes %v, want %v", ports, Published["toxiproxy"])
	}
}

// TestFilesMatchTopology runs the compose, Toxiproxy and Prometheus checks
// against the contracts the topology implies (not CONTRACTS.md's tables).
func TestFilesMatchTopology(t *testing.T) {
	c := FromTopology(topology.Default)
	for _, tt := range []struct {
		name  string
		files []string
	}{
		{"base", []string{base}},
		{"base+chaos", []string{base, chaos}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, tt.files...)
			if err := CheckCore(p, c); err != nil {
				t.Errorf("core check:\n%v", err)
			}
			if err := CheckHops(p, c, proxies(t)); err != nil {
				t.Errorf("hops check:\n%v", err)
			}
			if err := CheckPorts(p); err != nil {
				t.Errorf("ports check:\n%v", err)
			}
		})
	}
	for path, host := range promHosts {
		t.Run(path, func(t *testing.T) {
			if err := CheckPrometheus(path, c, host); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestSixthServiceChecksFollow adds a throwaway service (appended, calling
// user and product) to a copy of the topology: without touching any file,
// the compose, Toxiproxy and Prometheus checks now each name what the files
// lack for it, and only that (the existing hops keep their proxy ports).
func TestSixthServiceChecksFollow(t *testing.T) {
	six, err := topology.Default.With(topology.Service{Name: "review", Port: 8085, Upstreams: []string{"user", "product"}})
	if err != nil {
		t.Fatal(err)
	}
	c := FromTopology(six)
	p := load(t, base, chaos)
	for _, tt := range []struct {
		check string
		err   error
		want  []string
	}{
		{"core", CheckCore(p, c), []string{"service review missing"}},
		{"hops", CheckHops(p, c, proxies(t)), []string{"no proxy for hop review-to-user", "no proxy for hop review-to-product"}},
		{"prometheus", CheckPrometheus(promCompose, c, promHosts[promCompose]), []string{"no scrape job for service review"}},
		{"prometheus.local", CheckPrometheus(promLocal, c, promHosts[promLocal]), []string{"no scrape job for service review"}},
	} {
		t.Run(tt.check, func(t *testing.T) {
			if tt.err == nil {
				t.Fatal("check passed without the sixth service in the files")
			}
			for _, w := range tt.want {
				if !strings.Contains(tt.err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, tt.err)
				}
			}
			if strings.Contains(tt.err.Error(), "product-to-user") || strings.Contains(tt.err.Error(), "job user ") {
				t.Errorf("the existing services should still pass:\n%v", tt.err)
			}
		})
	}
}

// TestCheckPrometheusCatchesDrift: a job scraping the wrong port fails.
func TestCheckPrometheusCatchesDrift(t *testing.T) {
	c := FromTopology(topology.Default)
	c.Ports = maps.Clone(c.Ports)
	c.Ports["payment"] = 9999
	err := CheckPrometheus(promCompose, c, promHosts[promCompose])
	if err == nil || !strings.Contains(err.Error(), "job payment scrapes [payment:8084], want [payment:9999]") {
		t.Errorf("CheckPrometheus with payment on 9999 = %v", err)
	}
}

func readFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
