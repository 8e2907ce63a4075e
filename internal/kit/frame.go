package kit

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/internal/store"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/topology"
)

// StartupTimeout bounds what a service does in New before it serves:
// opening its store and seeding it.
const StartupTimeout = 30 * time.Second

// Store is what the frame needs of a service's store: a readiness probe
// and Close. Every service's own Store interface embeds it.
type Store = store.Conn

// Upstream is one service that a service calls. Client and URL point at the
// fields of the service's Config, so that what the frame fills in is what
// the service (and its caller) sees.
type Upstream struct {
	// Name is the callee's topology name; it names its readiness check.
	Name string
	// Client is the (resilience) client to reach it; nil is filled with
	// DefaultClient().
	Client **http.Client
	// URL is its base URL; empty is filled with topology.DefaultURL(Name).
	// A trailing slash is trimmed.
	URL *string
}

// Tokens is how a service that checks bearer tokens reaches the user
// service. A service's Config embeds it and passes it as Spec.Tokens.
type Tokens struct {
	// UserClient and UserURL reach the user service (readiness, and the
	// default Validator). Nil client: DefaultClient(); empty URL: the
	// user service's default URL in the topology.
	UserClient *http.Client
	UserURL    string
	// Validator checks bearer tokens; nil means a TokenClient over
	// UserClient (the lab wiring passes a resilience token cache).
	Validator auth.Validator
}

// Spec describes a service to NewFrame. Only Name and Base are required.
type Spec struct {
	// Name is the service's topology name: /healthz reports it, and an
	// error of New starts with it.
	Name string
	// Base is the service's Config.Base; NewFrame fills in its defaults
	// (WithDefaults, and a fresh Registry if it has none).
	Base *Base
	// Upstreams are the services it calls, filled in as Upstream says;
	// /readyz probes each one's /healthz.
	Upstreams []Upstream
	// Validator, if set, points at the Config's token validator; a nil
	// one is filled with a TokenClient over the user upstream (or, if the
	// service does not list one, over DefaultClient() to the user
	// service's default URL).
	Validator *auth.Validator
	// Tokens, if set, points at the Config's Tokens: its user service
	// joins Upstreams (first) and its Validator is filled in as Validator
	// says.
	Tokens *Tokens
	// Edge, if set, wraps Base.Wrap: it runs first inside the
	// observability middleware (the gateway's trust boundary).
	Edge func(http.Handler) http.Handler
	// Guard, if set, wraps the router innermost (the gateway's path checks).
	Guard func(http.Handler) http.Handler
}

// Frame is what every service is built on: its defaults, upstream clients,
// token validator and store, and the inbound handler around its routes.
// A service embeds *Frame, which gives it ServeHTTP, Registry and Close.
// It is safe for concurrent use once Serve has run.
//
//	New(cfg) ──► NewFrame(Spec) ──► Open (its store) ──► Router: its routes ──► Serve
type Frame struct {
	spec  Spec
	base  Base
	ups   map[string]Upstream
	store Store
	h     http.Handler
}

// NewFrame fills in spec.Base, the upstreams and the validator, and
// returns the frame. Call Serve with the service's routes before serving.
func NewFrame(spec Spec) *Frame {
	if spec.Base == nil {
		spec.Base = &Base{}
	}
	*spec.Base = spec.Base.WithDefaults()
	if t := spec.Tokens; t != nil {
		user := Upstream{Name: topology.User, Client: &t.UserClient, URL: &t.UserURL}
		spec.Upstreams = append([]Upstream{user}, spec.Upstreams...)
		spec.Validator = &t.Validator
	}
	if spec.Base.Registry == nil {
		spec.Base.Registry = observability.NewRegistry()
	}
	f := &Frame{spec: spec, base: *spec.Base, ups: map[string]Upstream{}}
	for _, u := range spec.Upstreams {
		if *u.Client == nil {
			*u.Client = DefaultClient()
		}
		if *u.URL == "" {
			*u.URL = topology.DefaultURL(u.Name)
		}
		*u.URL = strings.TrimRight(*u.URL, "/")
		f.ups[u.Name] = u
	}
	if spec.Validator != nil && *spec.Validator == nil {
		hc, base := f.Client(topology.User)
		if hc == nil {
			base = topology.DefaultURL(topology.User)
		}
		*spec.Validator = NewTokenClient(base, hc, f.base.Keys.Service)
	}
	return f
}

// Client returns the client and base URL of the upstream name, as filled in
// by NewFrame (nil and "" if the service does not call it).
func (f *Frame) Client(name string) (*http.Client, string) {
	u, ok := f.ups[name]
	if !ok {
		return nil, ""
	}
	return *u.Client, *u.URL
}

// Router returns an empty router that logs to the service's logger.
func (f *Frame) Router() *router.Router { return router.New(f.base.Logger) }

// Serve assembles the inbound handler around r (Handler): /healthz,
// /readyz over the store and the upstreams, /metrics and Base.Mount,
// inside observability, Edge, Base.Wrap and Guard.
func (f *Frame) Serve(r *router.Router) {
	o := &Options{Name: f.spec.Name, Base: f.base, Guard: f.spec.Guard}
	if f.store != nil {
		o.Ready = append(o.Ready, Check{Name: "store", Probe: f.store.Ping})
	}
	for _, u := range f.spec.Upstreams {
		o.Ready = append(o.Ready, UpstreamCheck(u.Name, *u.Client, *u.URL))
	}
	if edge, inner := f.spec.Edge, f.base.Wrap; edge != nil {
		o.Wrap = func(next http.Handler) http.Handler {
			if inner != nil {
				next = inner(next)
			}
			return edge(next)
		}
	}
	f.h = Handler(o, r)
}

// ServeHTTP serves the service's routes.
func (f *Frame) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.h.ServeHTTP(w, r) }

// Registry is the service's metrics registry.
func (f *Frame) Registry() *prometheus.Registry { return f.base.Registry }

// Close closes the store, if the service has one.
func (f *Frame) Close() error {
	if f.store == nil {
		return nil
	}
	return f.store.Close()
}

// OpenFrame is NewFrame(spec) and then Open: the frame of a service that
// has a store, and the store.
func OpenFrame[S Store](spec Spec, override S, open func(ctx context.Context, dir string) (S, error), dir string) (*Frame, S, error) {
	f := NewFrame(spec)
	st, err := Open(f, override, open, dir)
	return f, st, err
}

// Open gives f the service's store and returns it: override when it is set
// (Config.Store; the service then owns it), else the service's own store
// in dir, opened with open within StartupTimeout. /readyz probes the store
// and Close closes it. An error is prefixed with the service's name.
func Open[S Store](f *Frame, override S, open func(ctx context.Context, dir string) (S, error), dir string) (S, error) {
	st := override
	if any(st) == nil {
		ctx, cancel := context.WithTimeout(context.Background(), StartupTimeout)
		defer cancel()
		var err error
		if st, err = open(ctx, dir); err != nil {
			return st, fmt.Errorf("%s: %w", f.spec.Name, err)
		}
	}
	f.store = st
	return st, nil
}
