package topology

import (
	"fmt"
	"slices"
	"strconv"
)

// Service is one entry of the list.
type Service struct {
	// Name is the service name, also its compose service and metrics job.
	Name string
	// Port is the service's default listen port.
	Port int
	// Upstreams are the services it calls.
	Upstreams []string
	// Routes are the gateway's public route prefixes served by this service.
	Routes []string
	// Public marks the one service reachable from outside (the gateway).
	Public bool
}

// Hop is one caller → callee edge, with its own Toxiproxy proxy.
type Hop struct {
	// Name is <caller>-to-<callee>, the proxy's name.
	Name   string
	Caller string
	Callee string
	// Port is the proxy's listen port.
	Port int
}

// Topology is a list of services and what derives from it. The package
// functions use Default; tests build their own with New.
type Topology struct {
	services []Service
}

// Default is the lab's topology.
var Default = MustNew(services)

// New checks list (unique names and ports, known upstreams, no cycle, no
// self-call) and returns its topology. It copies list.
func New(list []Service) (*Topology, error) {
	names := map[string]bool{}
	ports := map[int]string{}
	for _, s := range list {
		if s.Name == "" || names[s.Name] {
			return nil, fmt.Errorf("topology: service name %q empty or repeated", s.Name)
		}
		if other, dup := ports[s.Port]; dup || s.Port <= 0 {
			return nil, fmt.Errorf("topology: service %s: port %d invalid or taken by %s", s.Name, s.Port, other)
		}
		names[s.Name], ports[s.Port] = true, s.Name
	}
	t := &Topology{}
	for _, s := range list {
		for _, up := range s.Upstreams {
			if !names[up] || up == s.Name {
				return nil, fmt.Errorf("topology: service %s: upstream %q unknown or itself", s.Name, up)
			}
		}
		s.Upstreams = slices.Clone(s.Upstreams)
		s.Routes = slices.Clone(s.Routes)
		t.services = append(t.services, s)
	}
	if len(t.StartOrder()) != len(list) {
		return nil, fmt.Errorf("topology: the upstreams form a cycle")
	}
	return t, nil
}

// MustNew is New that panics on a bad list (for package-level values).
func MustNew(list []Service) *Topology {
	t, err := New(list)
	if err != nil {
		panic(err)
	}
	return t
}

// With returns a copy of t with s appended (tests: a sixth service).
func (t *Topology) With(s Service) (*Topology, error) {
	return New(append(slices.Clone(t.services), s))
}

// Services returns the services in list (port) order.
func (t *Topology) Services() []Service {
	out := slices.Clone(t.services)
	for i := range out {
		out[i].Upstreams = slices.Clone(out[i].Upstreams)
		out[i].Routes = slices.Clone(out[i].Routes)
	}
	return out
}

// Names returns the service names in list (port) order.
func (t *Topology) Names() []string {
	var out []string
	for _, s := range t.services {
		out = append(out, s.Name)
	}
	return out
}

// Service returns the named service.
func (t *Topology) Service(name string) (Service, bool) {
	for _, s := range t.Services() {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// StartOrder returns the names with every service after its upstreams;
// among the ready ones, list order wins (user, product, payment, order,
// gateway today).
func (t *Topology) StartOrder() []string {
	placed := map[string]bool{}
	var out []string
	for len(out) < len(t.services) {
		progress := false
		for _, s := range t.services {
			if placed[s.Name] || !allPlaced(s.Upstreams, placed) {
				continue
			}
			placed[s.Name] = true
			out = append(out, s.Name)
			progress = true
			break
		}
		if !progress {
			return out // a cycle; New rejects it
		}
	}
	return out
}

func allPlaced(names []string, placed map[string]bool) bool {
	for _, n := range names {
		if !placed[n] {
			return false
		}
	}
	return true
}

// Upstreams returns the services name calls (nil for an unknown name).
func (t *Topology) Upstreams(name string) []string {
	s, _ := t.Service(name)
	return s.Upstreams
}

// Callees returns every service some other service calls, in list order.
func (t *Topology) Callees() []string {
	called := map[string]bool{}
	for _, s := range t.services {
		for _, up := range s.Upstreams {
			called[up] = true
		}
	}
	var out []string
	for _, s := range t.services {
		if called[s.Name] {
			out = append(out, s.Name)
		}
	}
	return out
}

// Hops returns every caller → callee edge, numbered in list order.
func (t *Topology) Hops() []Hop {
	var out []Hop
	for _, s := range t.services {
		for _, up := range s.Upstreams {
			out = append(out, Hop{Name: HopName(s.Name, up), Caller: s.Name, Callee: up, Port: HopPortBase + 1 + len(out)})
		}
	}
	return out
}

// Hop returns the caller → callee hop, if caller calls callee.
func (t *Topology) Hop(caller, callee string) (Hop, bool) {
	for _, h := range t.Hops() {
		if h.Caller == caller && h.Callee == callee {
			return h, true
		}
	}
	return Hop{}, false
}

// Port returns the named service's default port, 0 if unknown.
func (t *Topology) Port(name string) int {
	s, _ := t.Service(name)
	return s.Port
}

// DefaultAddr returns the named service's default loopback address,
// e.g. 127.0.0.1:8081; empty if unknown.
func (t *Topology) DefaultAddr(name string) string {
	p := t.Port(name)
	if p == 0 {
		return ""
	}
	return Addr(p)
}

// DefaultURL returns the named service's default base URL,
// e.g. http://127.0.0.1:8081; empty if unknown.
func (t *Topology) DefaultURL(name string) string {
	a := t.DefaultAddr(name)
	if a == "" {
		return ""
	}
	return "http://" + a
}

// HopName is the proxy name of the caller → callee hop.
func HopName(caller, callee string) string { return caller + "-to-" + callee }

// Addr is the loopback address of port, e.g. 127.0.0.1:8474.
func Addr(port int) string { return Loopback + ":" + strconv.Itoa(port) }

// Services returns Default's services in list (port) order.
func Services() []Service { return Default.Services() }

// Names returns Default's service names in list (port) order.
func Names() []string { return Default.Names() }

// StartOrder returns Default's names, upstreams first.
func StartOrder() []string { return Default.StartOrder() }

// Upstreams returns the services name calls in Default.
func Upstreams(name string) []string { return Default.Upstreams(name) }

// Hops returns Default's hops.
func Hops() []Hop { return Default.Hops() }

// HopOf returns Default's caller → callee hop.
func HopOf(caller, callee string) (Hop, bool) { return Default.Hop(caller, callee) }

// Port returns the named service's default port in Default.
func Port(name string) int { return Default.Port(name) }

// DefaultAddr returns the named service's default loopback address.
func DefaultAddr(name string) string { return Default.DefaultAddr(name) }

// DefaultURL returns the named service's default base URL.
func DefaultURL(name string) string { return Default.DefaultURL(name) }

// ToxiproxyAddr is the default loopback address of Toxiproxy's API.
func ToxiproxyAddr() string { return Addr(ToxiproxyPort) }

// AdminURL is the default base URL of the lab's admin API.
func AdminURL() string { return "http://" + Addr(AdminPort) }

// ToxiproxyURL is the default base URL of Toxiproxy's API.
func ToxiproxyURL() string { return "http://" + ToxiproxyAddr() }

// Callees returns Default's services that some other service calls.
func Callees() []string { return Default.Callees() }
