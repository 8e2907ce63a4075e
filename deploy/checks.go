package deploy

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/faultlab/faultlab/topology"
)

// Published is every port the deployment may publish, by service. All bind
// loopback only. The gateway is the lab's only public API; the Toxiproxy API
// exists only in the chaos overlay; the UIs exist only behind profiles.
var Published = map[string][]string{
	topology.Gateway: {loopbackPort(topology.Port(topology.Gateway))},
	"toxiproxy":      {loopbackPort(topology.ToxiproxyPort)},
	"prometheus":     {"127.0.0.1:9090:9090"},
	"alertmanager":   {"127.0.0.1:9093:9093"},
	"kibana":         {"127.0.0.1:5601:5601"},
}

// loopbackPort is the short syntax publishing port on loopback, e.g.
// 127.0.0.1:8080:8080.
func loopbackPort(port int) string {
	p := strconv.Itoa(port)
	return topology.Loopback + ":" + p + ":" + p
}

// profileOnly are the services of Published that must sit behind a profile,
// so that a plain `docker-compose up` publishes the gateway alone.
var profileOnly = []string{"prometheus", "alertmanager", "kibana"}

// CheckPorts reports every published port outside Published.
func CheckPorts(p *Project) error {
	var errs []error
	for _, name := range sortedKeys(p.Services) {
		s := p.Services[name]
		allowed := Published[name]
		for _, port := range s.Ports {
			switch {
			case port.Published == "":
				errs = append(errs, fmt.Errorf("service %s: port %s is published on a random host port", name, port))
			case !slices.Contains(allowed, port.String()):
				errs = append(errs, fmt.Errorf("service %s publishes port %s; only %v may be published", name, port, Published))
			}
		}
		if len(s.Ports) > 0 && slices.Contains(profileOnly, name) && len(s.Profiles) == 0 {
			errs = append(errs, fmt.Errorf("service %s publishes a port but has no profile", name))
		}
	}
	return errors.Join(errs...)
}

// CheckCore checks every service of the contracts: the one image,
// `serve <svc>`, the listen address, a healthcheck on the service's own port,
// depends_on with service_healthy on every callee, and the networks (only
// the gateway leaves `internal`, which must be internal).
func CheckCore(p *Project, c Contracts) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !p.Networks["internal"].Internal {
		fail("network internal must set internal: true")
	}
	callees := map[string][]string{}
	for _, h := range c.Hops {
		if !slices.Contains(callees[h.Caller], h.Callee) {
			callees[h.Caller] = append(callees[h.Caller], h.Callee)
		}
	}
	for _, name := range sortedKeys(c.Ports) {
		s, ok := p.Services[name]
		if !ok {
			fail("service %s missing", name)
			continue
		}
		port := c.Ports[name]
		if len(s.Profiles) > 0 {
			fail("service %s must not sit behind a profile (%v)", name, s.Profiles)
		}
		if s.Image != "faultlab/faultlab:local" {
			fail("service %s: image %q, want faultlab/faultlab:local", name, s.Image)
		}
		if want := []string{"serve", name}; !slices.Equal(s.Command, want) {
			fail("service %s: command %q, want %q", name, s.Command, want)
		}
		if want := "0.0.0.0:" + strconv.Itoa(port); s.Environment["FAULTLAB_LISTEN"] != want {
			fail("service %s: FAULTLAB_LISTEN %q, want %q", name, s.Environment["FAULTLAB_LISTEN"], want)
		}
		for _, k := range []string{"FAULTLAB_GATEWAY_KEY", "FAULTLAB_SERVICE_KEY", "FAULTLAB_DATA_DIR"} {
			if s.Environment[k] == "" {
				fail("service %s: %s is empty", name, k)
			}
		}
		want := []string{"CMD", "/faultlab", "healthcheck", "--url", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}
		if s.Healthcheck == nil || s.Healthcheck.Disable || !slices.Equal(s.Healthcheck.Test, want) {
			fail("service %s: healthcheck %v, want test %q", name, s.Healthcheck, want)
		}
		for dep, cond := range s.DependsOn {
			if cond != "service_healthy" {
				fail("service %s: depends_on %s with %s, want service_healthy", name, dep, cond)
			}
			if d, ok := p.Services[dep]; !ok || d.Healthcheck == nil {
				fail("service %s: depends_on %s, which has no healthcheck", name, dep)
			}
		}
		for _, callee := range callees[name] {
			if _, ok := s.DependsOn[callee]; !ok {
				fail("service %s calls %s but does not depend on it", name, callee)
			}
		}
		nets := []string{"internal"}
		if name == topology.Gateway {
			nets = []string{"edge", "internal"}
		}
		if !slices.Equal(s.Networks, nets) {
			fail("service %s: networks %v, want %v", name, s.Networks, nets)
		}
	}
	return errors.Join(errs...)
}

// CheckImages reports images that are not pinned: no tag, or :latest.
func CheckImages(p *Project) error {
	var errs []error
	for _, name := range sortedKeys(p.Services) {
		img := p.Services[name].Image
		if img == "" {
			errs = append(errs, fmt.Errorf("service %s: no image", name))
			continue
		}
		if _, digest, ok := strings.Cut(img, "@"); ok && strings.HasPrefix(digest, "sha256:") {
			continue
		}
		last := img[strings.LastIndex(img, "/")+1:]
		_, tag, ok := strings.Cut(last, ":")
		if !ok || tag == "" || tag == "latest" {
			errs = append(errs, fmt.Errorf("service %s: image %q is not pinned to a tag", name, img))
		}
	}
	return errors.Join(errs...)
}

// CheckHops checks the Toxiproxy config against the contracts (one proxy per
// hop, same name and port, upstream on the callee's port) and the project's
// routing: with a toxiproxy service every caller reaches each callee through
// that hop's proxy; without one, directly.
func CheckHops(p *Project, c Contracts, proxies []Proxy) error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	byName := map[string]Proxy{}
	for _, px := range proxies {
		if _, dup := byName[px.Name]; dup {
			fail("toxiproxy: proxy %s declared twice", px.Name)
		}
		byName[px.Name] = px
	}
	hops := map[string]bool{}
	_, chaos := p.Services["toxiproxy"]
	for _, h := range c.Hops {
		hops[h.Name] = true
		px, ok := byName[h.Name]
		if !ok {
			fail("toxiproxy: no proxy for hop %s", h.Name)
		} else {
			if want := fmt.Sprintf("0.0.0.0:%d", h.Port); px.Listen != want {
				fail("toxiproxy: proxy %s listens on %s, want %s", h.Name, px.Listen, want)
			}
			if want := fmt.Sprintf("%s:%d", h.Callee, c.Ports[h.Callee]); px.Upstream != want {
				fail("toxiproxy: proxy %s upstream %s, want %s", h.Name, px.Upstream, want)
			}
			if px.Enabled != nil && !*px.Enabled {
				fail("toxiproxy: proxy %s is disabled", h.Name)
			}
		}
		caller, ok := p.Services[h.Caller]
		if !ok {
			continue // CheckCore reports it
		}
		key := "FAULTLAB_" + strings.ToUpper(h.Callee) + "_URL"
		want := fmt.Sprintf("http://%s:%d", h.Callee, c.Ports[h.Callee])
		if chaos {
			want = fmt.Sprintf("http://toxiproxy:%d", h.Port)
			if cond := caller.DependsOn["toxiproxy"]; cond != "service_healthy" {
				fail("service %s: depends_on toxiproxy %q, want service_healthy", h.Caller, cond)
			}
		}
		if got := caller.Environment[key]; got != want {
			fail("service %s: %s=%q, want %q (hop %s)", h.Caller, key, got, want, h.Name)
		}
	}
	for name := range byName {
		if !hops[name] {
			fail("toxiproxy: proxy %s is not a hop in CONTRACTS.md", name)
		}
	}
	if chaos {
		if t := p.Services["toxiproxy"]; !slices.Contains(t.Networks, "internal") {
			fail("service toxiproxy must join the internal network, has %v", t.Networks)
		}
	}
	return errors.Join(errs...)
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

// CheckMounts reports bind mounts of repository files (sources starting with
// "./", relative to dir, the compose file's directory) that do not exist:
// the configs the compose stack mounts live in other parts of the tree.
func CheckMounts(p *Project, dir string) error {
	var errs []error
	for _, name := range sortedKeys(p.Services) {
		for _, m := range p.Services[name].Volumes {
			if !strings.HasPrefix(m.Source, "./") {
				continue
			}
			if _, err := os.Stat(filepath.Join(dir, m.Source)); err != nil {
				errs = append(errs, fmt.Errorf("service %s mounts %s: %w", name, m.Source, err))
			}
		}
	}
	return errors.Join(errs...)
}
