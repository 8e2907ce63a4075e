package deploy

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	faultchaos "github.com/faultlab/faultlab/chaos"
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

// composeContracts are the contracts the topology implies for the compose
// deployment: its services and hops, replicated as the replica scenarios
// need (chaos.ReplicaLayout).
func composeContracts(t *topology.Topology) Contracts {
	c := FromTopology(t)
	c.Replicas = faultchaos.ReplicaLayout
	return c
}

// TestContractsMatchTopology: the service and hop tables of CONTRACTS.md
// are the topology's, in order, with the same ports; its replica table is
// chaos.ReplicaLayout.
func TestContractsMatchTopology(t *testing.T) {
	got, want := contracts(t), composeContracts(topology.Default)
	if !maps.Equal(got.Replicas, want.Replicas) {
		t.Errorf("CONTRACTS.md replicas %v, chaos.ReplicaLayout %v", got.Replicas, want.Replicas)
	}
	for svc := range got.Replicas {
		if !slices.Contains(topology.Replicable(), svc) {
			t.Errorf("CONTRACTS.md replicates %s, which no service calls (topology.Replicable %v)", svc, topology.Replicable())
		}
	}
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
// against the contracts the topology and chaos.ReplicaLayout imply (not
// CONTRACTS.md's tables). prometheus.local.yml is for `faultlab up`
// without replicas.
func TestFilesMatchTopology(t *testing.T) {
	c := composeContracts(topology.Default)
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
			c := c
			if path == promLocal {
				c = FromTopology(topology.Default)
			}
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
	c := composeContracts(six)
	p := load(t, base, chaos)
	for _, tt := range []struct {
		check string
		err   error
		want  []string
	}{
		{"core", CheckCore(p, c), []string{"service review missing"}},
		{"hops", CheckHops(p, c, proxies(t)), []string{"no proxy for hop review-to-user", "no proxy for hop review-to-product"}},
		{"prometheus", CheckPrometheus(promCompose, c, promHosts[promCompose]), []string{"no scrape job for service review"}},
		{"prometheus.local", CheckPrometheus(promLocal, FromTopology(six), promHosts[promLocal]), []string{"no scrape job for service review"}},
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

// TestCheckPrometheusCatchesDrift: a job scraping the wrong port fails, and
// so does one that misses a replica or scrapes one that does not run.
func TestCheckPrometheusCatchesDrift(t *testing.T) {
	c := composeContracts(topology.Default)
	c.Ports = maps.Clone(c.Ports)
	c.Ports["payment"] = 9999
	err := CheckPrometheus(promCompose, c, promHosts[promCompose])
	if err == nil || !strings.Contains(err.Error(), "job payment scrapes [payment-1:8084 payment-2:8084 payment-3:8084], want [payment-1:9999 payment-2:9999 payment-3:9999]") {
		t.Errorf("CheckPrometheus with payment on 9999 = %v", err)
	}
	for n, want := range map[int]string{2: "want [payment-1:8084 payment-2:8084]", 4: "payment-4:8084]"} {
		c := composeContracts(topology.Default)
		c.Replicas = maps.Clone(c.Replicas)
		c.Replicas["payment"] = n
		err := CheckPrometheus(promCompose, c, promHosts[promCompose])
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckPrometheus with %d payment replicas = %v, want %q", n, err, want)
		}
	}
	if err := CheckPrometheus(promLocal, composeContracts(topology.Default), promHosts[promLocal]); err == nil {
		t.Error("prometheus.local.yml passed for replicated contracts (its single targets are not the replicas')")
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
