package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

const (
	base  = "../docker-compose.yml"
	chaos = "../docker-compose.chaos.yml"
)

func contracts(t testing.TB) Contracts {
	t.Helper()
	c, err := ParseContracts("../docs/CONTRACTS.md")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func proxies(t testing.TB) []Proxy {
	t.Helper()
	ps, err := LoadProxies("../docker/toxiproxy/toxiproxy.json")
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func load(t testing.TB, files ...string) *Project {
	t.Helper()
	p, err := Load(nil, files...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkAll runs every rule and fails the test on any violation.
func checkAll(t testing.TB, p *Project) {
	t.Helper()
	c := contracts(t)
	for name, err := range map[string]error{
		"ports":  CheckPorts(p),
		"core":   CheckCore(p, c),
		"images": CheckImages(p),
		"hops":   CheckHops(p, c, proxies(t)),
	} {
		if err != nil {
			t.Errorf("%s check:\n%v", name, err)
		}
	}
}

func TestContracts(t *testing.T) {
	c := contracts(t)
	if len(c.Hops) < 9 {
		t.Fatalf("CONTRACTS.md lists %d hops, want at least 9", len(c.Hops))
	}
	ports := map[int]string{}
	for _, h := range c.Hops {
		if h.Name != h.Caller+"-to-"+h.Callee {
			t.Errorf("hop %s: name is not <caller>-to-<callee>", h.Name)
		}
		if !slices.Contains(Services, h.Caller) || !slices.Contains(Services, h.Callee) {
			t.Errorf("hop %s: unknown service", h.Name)
		}
		if other, dup := ports[h.Port]; dup {
			t.Errorf("hops %s and %s share port %d", h.Name, other, h.Port)
		}
		ports[h.Port] = h.Name
	}
	if c.Ports["gateway"] != 8080 {
		t.Errorf("gateway port %d, want 8080", c.Ports["gateway"])
	}
}

func TestFilesPass(t *testing.T) {
	tests := []struct {
		name  string
		files []string
	}{
		{"base", []string{base}},
		{"base+chaos", []string{base, chaos}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := load(t, tt.files...)
			checkAll(t, p)
			if err := CheckMounts(p, ".."); err != nil {
				t.Errorf("mounts check:\n%v", err)
			}
		})
	}
}

func TestCheckMountsCatchesMissingConfig(t *testing.T) {
	p := load(t, base)
	setService(p, "alertmanager", func(s *Service) {
		s.Volumes = append(s.Volumes, Mount{Source: "./observability/alertmanager/nope.yml", Target: "/x"})
	})
	err := CheckMounts(p, "..")
	if err == nil || !strings.Contains(err.Error(), "alertmanager mounts ./observability/alertmanager/nope.yml") {
		t.Fatalf("CheckMounts = %v, want the missing file reported", err)
	}
}

// TestPlainUpIsCore: `docker-compose up` with no profile starts exactly the
// five services (each replica of the replicated ones), and every extra sits
// behind a profile.
func TestPlainUpIsCore(t *testing.T) {
	p := load(t, base)
	var plain []string
	for name, s := range p.Services {
		if len(s.Profiles) == 0 {
			plain = append(plain, name)
		}
	}
	slices.Sort(plain)
	var want []string
	for _, name := range Services {
		want = append(want, contracts(t).Instances(name)...)
	}
	slices.Sort(want)
	if !slices.Equal(plain, want) {
		t.Errorf("services without a profile: %v, want %v", plain, want)
	}
	for _, profile := range []string{"observability", "elk", "postgres"} {
		n := 0
		for _, s := range p.Services {
			if slices.Contains(s.Profiles, profile) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no service in profile %s", profile)
		}
	}
}

func TestInterpolate(t *testing.T) {
	tests := []struct {
		in   string
		env  map[string]string
		want string
	}{
		{"${A:-x}", nil, "x"},
		{"${A:-x}", map[string]string{"A": ""}, "x"},
		{"${A-x}", map[string]string{"A": ""}, ""},
		{"${A:-x}", map[string]string{"A": "y"}, "y"},
		{"${A}", map[string]string{"A": "y"}, "y"},
		{"$${A}", nil, "${A}"},
		{"${TOXIPROXY_IMAGE:-faultlab/toxiproxy:local}", nil, "faultlab/toxiproxy:local"},
	}
	for _, tt := range tests {
		if got := string(Interpolate([]byte(tt.in), tt.env)); got != tt.want {
			t.Errorf("Interpolate(%q, %v) = %q, want %q", tt.in, tt.env, got, tt.want)
		}
	}
}

func setService(p *Project, name string, f func(*Service)) {
	s := p.Services[name]
	f(&s)
	p.Services[name] = s
}

// TestChecksCatchBreakage: each rule fails on a deployment that breaks it.
func TestChecksCatchBreakage(t *testing.T) {
	type check func(*Project, Contracts, []Proxy) error
	ports := func(p *Project, _ Contracts, _ []Proxy) error { return CheckPorts(p) }
	core := func(p *Project, c Contracts, _ []Proxy) error { return CheckCore(p, c) }
	images := func(p *Project, _ Contracts, _ []Proxy) error { return CheckImages(p) }
	hops := CheckHops
	tests := []struct {
		name   string
		files  []string
		mutate func(*Project, []Proxy) []Proxy
		check  check
		want   string
	}{
		{"payment publishes a port", []string{base, "testdata/broken/payment-port.yml"}, nil, ports,
			"service payment-2 publishes port 127.0.0.1:8084:8084"},
		{"gateway on every interface", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "gateway", func(s *Service) { s.Ports = []Port{{Published: "8080", Target: "8080"}} })
			return ps
		}, ports, "service gateway publishes port 8080:8080"},
		{"random host port", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "order-1", func(s *Service) { s.Ports = []Port{{Target: "8083"}} })
			return ps
		}, ports, "random host port"},
		{"UI without a profile", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "prometheus", func(s *Service) { s.Profiles = nil })
			return ps
		}, ports, "prometheus publishes a port but has no profile"},
		{"latest image", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "cadvisor", func(s *Service) { s.Image = "gcr.io/cadvisor/cadvisor:latest" })
			return ps
		}, images, "cadvisor"},
		{"untagged image behind a registry port", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "kibana", func(s *Service) { s.Image = "localhost:5000/kibana" })
			return ps
		}, images, `"localhost:5000/kibana" is not pinned`},
		{"no healthcheck", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "payment-3", func(s *Service) { s.Healthcheck = nil })
			return ps
		}, core, "service payment-3: healthcheck"},
		{"healthcheck on the wrong port", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "order-2", func(s *Service) {
				s.Healthcheck = &Healthcheck{Test: slices.Clone(s.Healthcheck.Test)}
				s.Healthcheck.Test[4] = "http://127.0.0.1:8080/healthz"
			})
			return ps
		}, core, "service order-2: healthcheck"},
		{"depends_on without health", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "order-1", func(s *Service) {
				s.DependsOn = mergeMap(s.DependsOn, DependsOn{"payment-2": "service_started"})
			})
			return ps
		}, core, "depends_on payment-2 with service_started"},
		{"missing dependency", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "gateway", func(s *Service) { delete(s.DependsOn, "payment-3") })
			return ps
		}, core, "gateway calls payment but does not depend on payment-3"},
		{"payment on the edge network", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "payment-1", func(s *Service) { s.Networks = []string{"edge", "internal"} })
			return ps
		}, core, "service payment-1: networks"},
		{"a replica missing", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			delete(p.Services, "payment-3")
			return ps
		}, core, "service payment-3 missing"},
		{"a replica too many", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			p.Services["payment-4"] = p.Services["payment-1"]
			return ps
		}, core, "service payment-4 runs"},
		{"the unreplicated name beside the replicas", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			p.Services["order"] = p.Services["order-1"]
			return ps
		}, core, "service order runs"},
		{"replicas with stores of their own", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "payment-2", func(s *Service) { s.Volumes = []Mount{{Source: "payment-2-data", Target: "/data"}} })
			return ps
		}, core, "replicas of payment must share their store"},
		{"replicas sharing no volume", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			for _, n := range []string{"product-1", "product-2", "product-3"} {
				setService(p, n, func(s *Service) { s.Volumes = nil })
			}
			return ps
		}, core, "replicas of product must share a named volume"},
		{"caller misses a replica", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "order-2", func(s *Service) {
				s.Environment = mergeMap(s.Environment, Env{"FAULTLAB_PAYMENT_URL": "http://payment-1:8084,http://payment-2:8084"})
			})
			return ps
		}, hops, "service order-2: FAULTLAB_PAYMENT_URL"},
		{"no proxy for a replica", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			return slices.DeleteFunc(ps, func(px Proxy) bool { return px.Name == "order-to-payment-3" })
		}, hops, "no proxy for hop order-to-payment-3"},
		{"proxy to the wrong replica", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			for i := range ps {
				if ps[i].Name == "gateway-to-product-2" {
					ps[i].Upstream = "product-3:8082"
				}
			}
			return ps
		}, hops, "gateway-to-product-2 upstream product-3:8082, want product-2:8082"},
		{"proxy for a replica that does not run", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			return append(ps, Proxy{Name: "order-to-payment-4", Listen: "0.0.0.0:51008", Upstream: "payment-4:8084"})
		}, hops, "proxy order-to-payment-4 is not a hop"},
		{"unnumbered proxy to a replicated service", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			return append(ps, Proxy{Name: "order-to-payment", Listen: "0.0.0.0:21108", Upstream: "payment-1:8084"})
		}, hops, "proxy order-to-payment is not a hop"},
		{"internal network routable", []string{base}, func(p *Project, ps []Proxy) []Proxy {
			p.Networks["internal"] = Network{}
			return ps
		}, core, "internal: true"},
		{"proxy renamed", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			for i := range ps {
				if ps[i].Name == "order-to-payment-2" {
					ps[i].Name = "order-payment-2"
				}
			}
			return ps
		}, hops, "no proxy for hop order-to-payment-2"},
		{"proxy on the wrong port", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			ps[0].Listen = "0.0.0.0:29999"
			return ps
		}, hops, "listens on 0.0.0.0:29999"},
		{"proxy to the wrong upstream", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			for i := range ps {
				if ps[i].Name == "payment-to-user" {
					ps[i].Upstream = "user:8080"
				}
			}
			return ps
		}, hops, "payment-to-user upstream user:8080, want user:8081"},
		{"caller bypasses toxiproxy", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "order-1", func(s *Service) {
				s.Environment = mergeMap(s.Environment, Env{"FAULTLAB_PAYMENT_URL": "http://toxiproxy:21008,http://payment-2:8084,http://toxiproxy:41008"})
			})
			return ps
		}, hops, "service order-1: FAULTLAB_PAYMENT_URL"},
		{"caller on another hop's proxy", []string{base, chaos}, func(p *Project, ps []Proxy) []Proxy {
			setService(p, "product-3", func(s *Service) {
				s.Environment = mergeMap(s.Environment, Env{"FAULTLAB_USER_URL": "http://toxiproxy:21006"})
			})
			return ps
		}, hops, "hop product-to-user"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ps, c := load(t, tt.files...), proxies(t), contracts(t)
			if err := tt.check(p, c, ps); err != nil {
				if tt.mutate == nil {
					t.Logf("fails before any change (expected for a broken file): %v", err)
				} else {
					t.Fatalf("check fails before the change: %v", err)
				}
			}
			if tt.mutate != nil {
				ps = tt.mutate(p, ps)
			}
			err := tt.check(p, c, ps)
			if err == nil {
				t.Fatalf("check passed, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q\ndoes not contain %q", err, tt.want)
			}
		})
	}
}

// compose returns the Compose CLI: docker-compose (v1 or v2), else the
// `docker compose` plugin.
func compose(t testing.TB) []string {
	t.Helper()
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}
	}
	if p, err := exec.LookPath("docker"); err == nil && exec.Command(p, "compose", "version").Run() == nil {
		return []string{p, "compose"}
	}
	t.Skip("skipping: neither docker-compose nor the docker compose plugin is installed, so `compose config` cannot run (the YAML checks in this package still ran)")
	return nil
}

// runCompose runs the Compose CLI from the repository root with the lab's
// variables unset, so their defaults apply.
func runCompose(t testing.TB, args ...string) (stdout []byte, stderr string, err error) {
	t.Helper()
	cli := compose(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cli[0], append(cli[1:], args...)...)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Dir = root
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAULTLAB_") && !strings.HasPrefix(kv, "TOXIPROXY_IMAGE=") &&
			!strings.HasPrefix(kv, "COMPOSE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.String(), err
}

func supportsProfiles(t testing.TB) bool {
	t.Helper()
	cli := compose(t)
	out, _ := exec.Command(cli[0], append(cli[1:], "--help")...).CombinedOutput()
	return bytes.Contains(out, []byte("--profile"))
}

// TestComposeConfig: the Compose CLI accepts the files, and its own merged
// output passes the same checks as our loader's.
func TestComposeConfig(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		profiles bool
	}{
		{"base", []string{"-f", "docker-compose.yml"}, false},
		{"base+chaos", []string{"-f", "docker-compose.yml", "-f", "docker-compose.chaos.yml"}, false},
		{"base+chaos with profiles", []string{"-f", "docker-compose.yml", "-f", "docker-compose.chaos.yml",
			"--profile", "observability", "--profile", "elk", "--profile", "postgres"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.profiles && !supportsProfiles(t) {
				t.Skip("skipping: this Compose CLI has no --profile (needs docker-compose >= 1.28 or v2)")
			}
			out, stderr, err := runCompose(t, append(tt.args, "config")...)
			if err != nil {
				t.Fatalf("compose config: %v\n%s", err, stderr)
			}
			p, err := Parse(out)
			if err != nil {
				t.Fatalf("parse compose config output: %v", err)
			}
			checkAll(t, p)
			if tt.profiles {
				for _, s := range []string{"prometheus", "alertmanager", "cadvisor", "elasticsearch", "logstash", "kibana", "filebeat", "setup", "postgres"} {
					if _, ok := p.Services[s]; !ok {
						t.Errorf("profile service %s missing from compose config", s)
					}
				}
			}
		})
	}
}

func TestComposeConfigRejectsInvalid(t *testing.T) {
	_, stderr, err := runCompose(t, "-f", "deploy/testdata/broken/invalid.yml", "config")
	if err == nil {
		t.Fatal("compose config accepted deploy/testdata/broken/invalid.yml")
	}
	if !strings.Contains(stderr, "networkz") {
		t.Errorf("compose config failed without naming the bad key: %s", stderr)
	}
}

// TestComposeConfigPublishedPayment: a valid file can still break the rules;
// the port check catches it in Compose's own merged output.
func TestComposeConfigPublishedPayment(t *testing.T) {
	out, stderr, err := runCompose(t, "-f", "docker-compose.yml", "-f", "deploy/testdata/broken/payment-port.yml", "config")
	if err != nil {
		t.Fatalf("compose config: %v\n%s", err, stderr)
	}
	p, err := Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	err = CheckPorts(p)
	if err == nil || !strings.Contains(err.Error(), "service payment-2 publishes port") {
		t.Fatalf("CheckPorts = %v, want payment's published port reported", err)
	}
}
