package console

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
)

// Metric names the console reads (docs/CONTRACTS.md).
const (
	metricBreakerState   = "faultlab_circuitbreaker_state"
	metricClientRequests = "faultlab_client_requests_total"
	metricClientDuration = "faultlab_client_request_duration_seconds"
	metricHTTPRequests   = "faultlab_http_requests_total"
	metricHTTPDuration   = "faultlab_http_request_duration_seconds"
)

// scrape is one reading of every endpoint's metrics.
type scrape struct {
	at   time.Time
	fams map[string][]chaos.MetricFamilies // service → one per endpoint that answered
}

// Scrape reads the lab once, computes the rates against the previous
// scrape, and sends the new state to every event stream. Run calls it
// every Every.
func (s *Server) Scrape(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.cfg.Every, 2*time.Second))
	defer cancel()
	st := s.emptyState()
	cur := &scrape{fams: map[string][]chaos.MetricFamilies{}}
	var errs []string
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range st.Services {
		for j := range st.Services[i].Endpoints {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ep := &st.Services[i].Endpoints[j]
				mf, err := chaos.ScrapeMetrics(ctx, s.cfg.Lab.HTTPClient(), ep.URL+"/metrics")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					ep.Error = err.Error()
					return
				}
				ep.Up = true
				cur.fams[st.Services[i].Name] = append(cur.fams[st.Services[i].Name], mf)
			}()
		}
	}
	wg.Wait()
	errs = append(errs, s.readToxics(st.Hops)...)
	errs = append(errs, s.readFaults(ctx, st.Services)...)
	cur.at = s.cfg.Clock.Now()
	st.At = cur.at

	s.mu.Lock()
	prev := s.prev
	s.prev = cur
	s.mu.Unlock()
	for i := range st.Hops {
		h := &st.Hops[i]
		h.Breaker = breakerState(cur.fams[h.Caller], h.Callee)
		h.Traffic = hopTraffic(prev, cur, h.Caller, h.Callee)
	}
	st.Routes = routeTraffic(prev, cur, s.cfg.Topology.Names())
	st.Errors = errs

	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	s.publish()
}

// readToxics fills each hop's toxics and Enabled from Toxiproxy.
func (s *Server) readToxics(hops []HopState) []string {
	tc := s.cfg.Lab.Toxiproxy()
	if tc == nil {
		return nil
	}
	proxies, err := tc.Proxies()
	if err != nil {
		return []string{fmt.Sprintf("toxiproxy: %v", err)}
	}
	for i := range hops {
		p, ok := proxies[hops[i].Name]
		if !ok {
			continue
		}
		hops[i].Enabled = p.Enabled
		if !p.Enabled {
			hops[i].Toxics = append(hops[i].Toxics, ToxicState{Name: downToxic, Kind: downToxic, Stream: "both", Toxicity: 1})
		}
		for _, t := range p.ActiveToxics {
			hops[i].Toxics = append(hops[i].Toxics, ToxicState{Name: t.Name, Kind: t.Type, Stream: t.Stream, Toxicity: t.Toxicity, Attributes: t.Attributes})
		}
	}
	return nil
}

// readFaults fills each service's HTTP faults from its fault API.
func (s *Server) readFaults(ctx context.Context, svcs []ServiceState) []string {
	var errs []string
	for i := range svcs {
		if !svcs[i].FaultAPI {
			continue
		}
		c, err := s.cfg.Lab.Faults(svcs[i].Name)
		var fs []fault.Fault
		if err == nil {
			fs, err = c.List(ctx)
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s faults: %v", svcs[i].Name, err))
			continue
		}
		sort.Slice(fs, func(a, b int) bool { return fs[a].Name < fs[b].Name })
		svcs[i].Faults = append(svcs[i].Faults, fs...)
	}
	return errs
}
