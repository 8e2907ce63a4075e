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

// CheckCore checks every service of the contracts, each of its replicas
// (Contracts.Instances) alike: the one image, `serve <svc>`, the listen
// address, a healthcheck on the service's own port, depends_on with
// service_healthy on every replica of every callee, and the networks (only
// the gateway leaves `internal`, which must be internal). No other service
// may run `serve <svc>` (a replica too many, or the unreplicated name
// beside the replicas), and the replicas of a service share one store (the
// same named volume at /data).
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
		for _, inst := range c.Instances(name) {
			s, ok := p.Services[inst]
			if !ok {
				fail("service %s missing", inst)
				continue
			}
			errs = append(errs, checkInstance(p, c, name, inst, s, callees[name])...)
		}
		errs = append(errs, checkReplicas(p, c, name)...)
	}
	return errors.Join(errs...)
}

// checkInstance checks one replica, inst, of the service name.
func checkInstance(p *Project, c Contracts, name, inst string, s Service, callees []string) []error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	port := c.Ports[name]
	if len(s.Profiles) > 0 {
		fail("service %s must not sit behind a profile (%v)", inst, s.Profiles)
	}
	if s.Image != "faultlab/faultlab:local" {
		fail("service %s: image %q, want faultlab/faultlab:local", inst, s.Image)
	}
	if want := []string{"serve", name}; !slices.Equal(s.Command, want) {
		fail("service %s: command %q, want %q", inst, s.Command, want)
	}
	if want := "0.0.0.0:" + strconv.Itoa(port); s.Environment["FAULTLAB_LISTEN"] != want {
		fail("service %s: FAULTLAB_LISTEN %q, want %q", inst, s.Environment["FAULTLAB_LISTEN"], want)
	}
	for _, k := range []string{"FAULTLAB_GATEWAY_KEY", "FAULTLAB_SERVICE_KEY", "FAULTLAB_DATA_DIR"} {
		if s.Environment[k] == "" {
			fail("service %s: %s is empty", inst, k)
		}
	}
	want := []string{"CMD", "/faultlab", "healthcheck", "--url", fmt.Sprintf("http://127.0.0.1:%d/healthz", port)}
	if s.Healthcheck == nil || s.Healthcheck.Disable || !slices.Equal(s.Healthcheck.Test, want) {
		fail("service %s: healthcheck %v, want test %q", inst, s.Healthcheck, want)
	}
	for dep, cond := range s.DependsOn {
		if cond != "service_healthy" {
			fail("service %s: depends_on %s with %s, want service_healthy", inst, dep, cond)
		}
		if d, ok := p.Services[dep]; !ok || d.Healthcheck == nil {
			fail("service %s: depends_on %s, which has no healthcheck", inst, dep)
		}
	}
	for _, callee := range callees {
		for _, ci := range c.Instances(callee) {
			if _, ok := s.DependsOn[ci]; !ok {
				fail("service %s calls %s but does not depend on %s", inst, callee, ci)
			}
		}
	}
	nets := []string{"internal"}
	if name == topology.Gateway {
		nets = []string{"edge", "internal"}
	}
	if !slices.Equal(s.Networks, nets) {
		fail("service %s: networks %v, want %v", inst, s.Networks, nets)
	}
	return errs
}

// checkReplicas reports services that run `serve <name>` but are none of
// its replicas, and replicas of name that do not share one named volume
// at /data (SQLite in WAL mode needs the one file, on one host).
func checkReplicas(p *Project, c Contracts, name string) []error {
	var errs []error
	insts := c.Instances(name)
	for _, other := range sortedKeys(p.Services) {
		if cmd := p.Services[other].Command; slices.Equal(cmd, []string{"serve", name}) && !slices.Contains(insts, other) {
			errs = append(errs, fmt.Errorf("service %s runs %q, but %s runs as %v only (CONTRACTS.md replicas)", other, cmd, name, insts))
		}
	}
	if len(insts) < 2 {
		return errs
	}
	stores := map[string][]string{}
	for _, inst := range insts {
		src := ""
		for _, m := range p.Services[inst].Volumes {
			if m.Target == "/data" {
				src = m.Source
			}
		}
		stores[src] = append(stores[src], inst)
	}
	src := sortedKeys(stores)[0]
	switch {
	case len(stores) != 1:
		errs = append(errs, fmt.Errorf("replicas of %s must share their store, one volume at /data; they mount %v", name, stores))
	case src == "" || strings.HasPrefix(src, ".") || strings.HasPrefix(src, "/"):
		errs = append(errs, fmt.Errorf("replicas of %s must share a named volume at /data, have %q", name, src))
	}
	return errs
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

// CheckHops checks the Toxiproxy config against the contracts and the
// project's routing. Each hop has one proxy per replica of its callee,
// named as topology.ReplicaHopName (<caller>-to-<callee>-<n>, or
// <caller>-to-<callee> for one replica), on the hop's port + 10000 × (n-1)
// (topology.ReplicaPort), to that replica's service on the callee's port.
// With a toxiproxy service every replica of the caller reaches the callee
// through those proxies, as a list in replica order; without one, directly
// at the replicas' own names.
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
		insts := c.Instances(h.Callee)
		var direct, proxied []string
		for i, inst := range insts {
			port := topology.ReplicaPort(h.Port, i+1)
			name := topology.ReplicaHopName(h.Caller, h.Callee, i+1, len(insts))
			hops[name] = true
			errs = append(errs, checkProxy(byName, name, port, fmt.Sprintf("%s:%d", inst, c.Ports[h.Callee]))...)
			direct = append(direct, fmt.Sprintf("http://%s:%d", inst, c.Ports[h.Callee]))
			proxied = append(proxied, fmt.Sprintf("http://toxiproxy:%d", port))
		}
		key := "FAULTLAB_" + strings.ToUpper(h.Callee) + "_URL"
		want := strings.Join(direct, ",")
		if chaos {
			want = strings.Join(proxied, ",")
		}
		for _, ci := range c.Instances(h.Caller) {
			caller, ok := p.Services[ci]
			if !ok {
				continue // CheckCore reports it
			}
			if cond := caller.DependsOn["toxiproxy"]; chaos && cond != "service_healthy" {
				fail("service %s: depends_on toxiproxy %q, want service_healthy", ci, cond)
			}
			if got := caller.Environment[key]; got != want {
				fail("service %s: %s=%q, want %q (hop %s)", ci, key, got, want, h.Name)
			}
		}
	}
	for _, name := range sortedKeys(byName) {
		if !hops[name] {
			fail("toxiproxy: proxy %s is not a hop in CONTRACTS.md (or a replica it does not run)", name)
		}
	}
	if chaos {
		if t := p.Services["toxiproxy"]; !slices.Contains(t.Networks, "internal") {
			fail("service toxiproxy must join the internal network, has %v", t.Networks)
		}
	}
	return errors.Join(errs...)
}

// checkProxy checks the proxy called name: it exists, listens on port and
// forwards to upstream.
func checkProxy(byName map[string]Proxy, name string, port int, upstream string) []error {
	px, ok := byName[name]
	if !ok {
		return []error{fmt.Errorf("toxiproxy: no proxy for hop %s", name)}
	}
	var errs []error
	if want := fmt.Sprintf("0.0.0.0:%d", port); px.Listen != want {
		errs = append(errs, fmt.Errorf("toxiproxy: proxy %s listens on %s, want %s", name, px.Listen, want))
	}
	if px.Upstream != upstream {
		errs = append(errs, fmt.Errorf("toxiproxy: proxy %s upstream %s, want %s", name, px.Upstream, upstream))
	}
	if px.Enabled != nil && !*px.Enabled {
		errs = append(errs, fmt.Errorf("toxiproxy: proxy %s is disabled", name))
	}
	return errs
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
