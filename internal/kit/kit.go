package kit

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/topology"
)

// Health routes every service serves without authentication (they sit on the
// internal network and carry no data).
const (
	RouteHealthz = "/healthz"
	RouteReadyz  = "/readyz"
	RouteMetrics = "/metrics"
)

// DefaultReadyTimeout bounds one readiness probe.
const DefaultReadyTimeout = 2 * time.Second

// Check is one readiness dependency: a store or an upstream.
type Check struct {
	// Name appears in the /readyz answer.
	Name string
	// Probe returns nil when the dependency answers.
	Probe func(ctx context.Context) error
}

// DefaultPublicURL is the gateway's public URL when none is configured:
// where `faultlab up` serves it.
var DefaultPublicURL = topology.DefaultURL(topology.Gateway)

// Base is the configuration every service shares; each service's Config
// embeds it.
type Base struct {
	// Logger receives access logs and domain events; nil discards.
	Logger *slog.Logger
	// Registry receives the service's metrics and serves /metrics; nil
	// creates one.
	Registry *prometheus.Registry
	// PublicURL is the gateway's public URL, the base of every link and
	// Location header; empty means DefaultPublicURL.
	PublicURL string
	// Keys are the caller secrets the service accepts and sends.
	Keys auth.Keys
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Wrap, if set, wraps the router inside the observability middleware, so
	// whatever it does (injected faults, deadlines) shows in metrics and logs
	// but runs before any authentication.
	Wrap func(http.Handler) http.Handler
	// Mount, if set, registers extra routes (e.g. /internal/faults). Those
	// routes get no authentication from kit: wrap them in
	// auth.RequireService yourself.
	Mount func(r *router.Router)
}

// WithDefaults returns b with PublicURL (without a trailing slash), Now and
// Logger filled in.
// Registry stays nil until Handler creates it, so a caller that passes
// none still gets a fresh one per service.
func (b Base) WithDefaults() Base {
	b.PublicURL = strings.TrimRight(b.PublicURL, "/")
	if b.PublicURL == "" {
		b.PublicURL = DefaultPublicURL
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.Logger == nil {
		b.Logger = observability.Discard()
	}
	return b
}

// Positive returns v if it is above zero, else def: a Config field whose
// zero (or a negative) value means its default.
func Positive[T int | int64 | float64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Options assemble the inbound handler of one service. The zero value works
// except for Name, which /healthz reports.
type Options struct {
	// Name is the service name (user, product, …).
	Name string
	// Base carries the logger, registry, clock, Wrap and Mount.
	Base
	// Ready lists the dependencies /readyz probes.
	Ready []Check
	// Guard, if set, wraps the router innermost (inside Wrap): the
	// gateway's path checks.
	Guard func(http.Handler) http.Handler
}

// Handler registers /healthz, /readyz and /metrics (and Options.Mount) on r
// and returns r wrapped in observability.Middleware and Options.Wrap.
// It fills o.Registry, o.Logger and o.Now if they are nil; pass a pointer
// so the caller keeps them.
func Handler(o *Options, r *router.Router) http.Handler {
	if o.Logger == nil {
		o.Logger = observability.Discard()
	}
	if o.Registry == nil {
		o.Registry = observability.NewRegistry()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// /healthz names the service, so a probe can tell that the port it
	// reached belongs to the service it meant.
	r.HandleFunc(http.MethodGet, RouteHealthz, func(w http.ResponseWriter, _ *http.Request) {
		problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok", "service": o.Name})
	})
	r.Handle(http.MethodGet, RouteReadyz, ReadyHandler(o.Ready))
	r.Handle(http.MethodGet, RouteMetrics, observability.MetricsHandler(o.Registry))
	if o.Mount != nil {
		o.Mount(r)
	}
	return router.Chain(r,
		observability.Middleware(observability.MiddlewareConfig{
			Logger:     o.Logger,
			Registerer: o.Registry,
			Now:        o.Now,
			Quiet:      []string{RouteHealthz, RouteReadyz, RouteMetrics},
		}),
		o.Wrap,
		o.Guard,
	)
}

// ReadyHandler probes every check concurrently and answers 200 when all
// pass, else 503 problem+json naming the failed ones.
func ReadyHandler(checks []Check) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), DefaultReadyTimeout)
		defer cancel()
		var (
			mu     sync.Mutex
			failed []problem.FieldError
			wg     sync.WaitGroup
		)
		for _, c := range checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.Probe(ctx); err != nil {
					mu.Lock()
					failed = append(failed, problem.FieldError{Field: c.Name, Detail: err.Error()})
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failed) > 0 {
			sort.Slice(failed, func(i, j int) bool { return failed[i].Field < failed[j].Field })
			names := make([]string, len(failed))
			for i, f := range failed {
				names[i] = f.Field
			}
			p := problem.Unavailable("not ready: "+strings.Join(names, ", "), time.Second)
			p.Errors = failed
			problem.Write(w, r, p)
			return
		}
		problem.WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
}

// UpstreamCheck probes base+"/healthz" with client.
func UpstreamCheck(name string, client *http.Client, base string) Check {
	return Check{Name: name, Probe: func(ctx context.Context) error {
		req, err := NewRequest(ctx, http.MethodGet, base+RouteHealthz, nil)
		if err != nil {
			return err
		}
		return Do(client, req, nil)
	}}
}

// CounterVec registers a counter vector on reg, or returns the one already
// registered under the same name, so two parts of one process can share it.
func CounterVec(reg prometheus.Registerer, opts prometheus.CounterOpts, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(opts, labels)
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		// A clash with a different type is a programming error; keep an
		// unregistered counter rather than crash a service.
	}
	return c
}
