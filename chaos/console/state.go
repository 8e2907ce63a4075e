package console

import (
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
)

// State is what the page shows: one scrape of the lab, and the scenario
// run if there is one. It is a plain JSON value.
type State struct {
	// At is when the scrape ended (Config.Clock).
	At       time.Time      `json:"at"`
	Services []ServiceState `json:"services"`
	Hops     []HopState     `json:"hops"`
	Routes   []RouteState   `json:"routes"`
	Run      *RunState      `json:"run,omitempty"`
	// Errors lists what could not be read in this scrape.
	Errors []string `json:"errors,omitempty"`
}

// ServiceState is one service.
type ServiceState struct {
	Name      string          `json:"name"`
	Public    bool            `json:"public,omitempty"`
	Endpoints []EndpointState `json:"endpoints"`
	// Faults are the service's active HTTP faults.
	Faults []fault.Fault `json:"faults"`
	// FaultAPI is false for the gateway, which keeps /internal/ closed.
	FaultAPI bool `json:"fault_api"`
}

// EndpointState is one replica of a service.
type EndpointState struct {
	URL   string `json:"url"`
	Up    bool   `json:"up"`
	Error string `json:"error,omitempty"`
}

// HopState is one caller → callee hop.
type HopState struct {
	Name   string `json:"name"`
	Caller string `json:"caller"`
	Callee string `json:"callee"`
	// Enabled is false while the proxy is disabled (the "down" toxic).
	Enabled bool         `json:"enabled"`
	Toxics  []ToxicState `json:"toxics"`
	// Breaker is the caller's breaker for the callee: closed, half_open,
	// open, or unknown; the worst over the caller's endpoints.
	Breaker chaos.BreakerState `json:"breaker"`
	Traffic
}

// ToxicState is one active toxic, as Toxiproxy reports it.
type ToxicState struct {
	Name       string         `json:"name"`
	Kind       string         `json:"kind"`
	Stream     string         `json:"stream"`
	Toxicity   float32        `json:"toxicity"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// RouteState is the traffic of one route of one service.
type RouteState struct {
	Service string `json:"service"`
	Route   string `json:"route"`
	Traffic
}

// Traffic is measured between the last two scrapes.
type Traffic struct {
	// RPS is requests per second.
	RPS float64 `json:"rps"`
	// ErrorRate is the failed fraction of those requests, in [0, 1].
	ErrorRate float64 `json:"error_rate"`
	// P99Ms is the 99th percentile latency in milliseconds; nil when no
	// latency histogram has seen a request in the interval.
	P99Ms *float64 `json:"p99_ms"`
}

// RunState is a scenario started from the console.
type RunState struct {
	Scenario string    `json:"scenario"`
	Running  bool      `json:"running"`
	Started  time.Time `json:"started"`
	// Progress is the runner's latest status line.
	Progress string `json:"progress,omitempty"`
	// Verdicts arrive when the run ends.
	Verdicts []chaos.Verdict `json:"verdicts,omitempty"`
	Passed   *bool           `json:"passed,omitempty"`
	Aborted  string          `json:"aborted,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// State returns the latest state.
func (s *Server) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state
	if s.run != nil {
		r := *s.run
		st.Run = &r
	}
	return st
}

// emptyState is the state before the first scrape: the topology alone.
func (s *Server) emptyState() State {
	st := State{At: s.cfg.Clock.Now()}
	for _, svc := range s.cfg.Topology.Services() {
		ss := ServiceState{Name: svc.Name, Public: svc.Public, FaultAPI: !svc.Public, Faults: []fault.Fault{}}
		for _, u := range s.endpoints(svc.Name) {
			ss.Endpoints = append(ss.Endpoints, EndpointState{URL: u})
		}
		st.Services = append(st.Services, ss)
	}
	for _, h := range s.cfg.Topology.Hops() {
		st.Hops = append(st.Hops, HopState{Name: h.Name, Caller: h.Caller, Callee: h.Callee, Enabled: true, Toxics: []ToxicState{}, Breaker: chaos.BreakerUnknown})
	}
	st.Routes = []RouteState{}
	return st
}

func (s *Server) endpoints(service string) []string {
	if eps, ok := s.cfg.Endpoints[service]; ok && len(eps) > 0 {
		return eps
	}
	return []string{s.cfg.Lab.URL(service)}
}
