package shop

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/hop"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/gateway"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// Services lists the service names in start order (dependencies first),
// from the topology.
var Services = topology.StartOrder()

// Upstreams lists, for each service, the services it calls (topology).
var Upstreams = upstreams()

// DefaultListen is each service's loopback address (topology,
// docs/CONTRACTS.md).
var DefaultListen = defaultListen()

func upstreams() map[string][]string {
	m := map[string][]string{}
	for _, s := range topology.Services() {
		m[s.Name] = s.Upstreams
	}
	return m
}

func defaultListen() map[string]string {
	m := map[string]string{}
	for _, s := range topology.Services() {
		m[s.Name] = topology.DefaultAddr(s.Name)
	}
	return m
}

// ErrUnknownService is returned for a name not in Services.
var ErrUnknownService = errors.New("unknown service")

// DefaultMaxDeadline caps the deadline a caller's X-Request-Budget-Ms may set.
const DefaultMaxDeadline = 30 * time.Second

// Options configure one Unit. The zero value builds a working service with
// in-memory storage and default policies, calling upstreams at their
// default loopback addresses.
type Options struct {
	// DataDir holds the service's SQLite database (and user's signing key).
	// Empty keeps state in memory.
	DataDir string
	// DatabaseURL, a postgres:// URL, keeps the stores in PostgreSQL
	// instead (one schema per service); empty keeps SQLite in DataDir.
	DatabaseURL string
	// PublicURL is the gateway's public URL for links and Location headers.
	PublicURL string
	// Keys are the gateway and service secrets.
	Keys auth.Keys
	// URLs maps an upstream name to its base URL. Missing names use the
	// default loopback address.
	URLs map[string]string
	// Endpoints maps an upstream that runs replicated to its replicas'
	// base URLs: the upstream's client balances over them.
	Endpoints map[string][]string
	// Resolve maps an upstream to a lookup of its replicas' base URLs
	// (resilience.ResolveDNS of tasks.<service> or a headless service),
	// run at the first call and then periodically. It takes precedence
	// over Endpoints.
	Resolve map[string]func(ctx context.Context) ([]string, error)
	// Policies maps an upstream name to its resilience policy; missing
	// names use Default. Either way, fields left at zero get the per-hop
	// values of Layered, then the resilience defaults.
	Policies map[string]resilience.Policy
	// Default is the policy for upstreams not in Policies.
	Default resilience.Policy
	// TokenTTL bounds a cached token validation (default 30 s).
	TokenTTL time.Duration
	// Logger receives the service's logs; nil discards.
	Logger *slog.Logger
	// Argon2 overrides the user service's password hashing cost (tests).
	Argon2 *user.Argon2Params
}

// Unit is one assembled service.
type Unit struct {
	// Name is the service name.
	Name string
	// Handler serves the service's routes.
	Handler http.Handler
	// Registry holds the service's metrics.
	Registry *prometheus.Registry
	// Faults is the HTTP fault injector of this service.
	Faults *fault.Injector
	// Transports are the resilience clients, by upstream name.
	Transports map[string]*resilience.Transport

	closer    func() error
	reconcile func(context.Context) (int, error)
}

// Close releases the service's store.
func (u *Unit) Close() error {
	if u.closer == nil {
		return nil
	}
	return u.closer()
}

// Reconcile makes one pass of the service's background work: order
// settles the orders a crash or a lost answer left pending and retries its
// queued releases; product gives back the stock of expired reservations.
// A no-op for other services. It returns how many records it settled.
func (u *Unit) Reconcile(ctx context.Context) (int, error) {
	if u.reconcile == nil {
		return 0, nil
	}
	return u.reconcile(ctx)
}

func (o Options) url(name string) string {
	if u, ok := o.URLs[name]; ok && u != "" {
		return u
	}
	return "http://" + DefaultListen[name]
}

// endpoints says where the replicas of up are: looked up (Resolve) or
// listed (Endpoints); the zero Endpoints call the upstream's URL.
func (o Options) endpoints(up string) hop.Endpoints {
	if r := o.Resolve[up]; r != nil {
		return hop.Endpoints{Resolve: r}
	}
	return hop.Endpoints{Static: o.Endpoints[up]}
}

// policyFor returns the policy caller uses for up: Options.Policies[up] if
// set, else Options.Default (hop.New fills in the per-hop timeouts).
func policyFor(_, up string, o Options) resilience.Policy {
	p, ok := o.Policies[up]
	if !ok {
		p = o.Default
	}
	return p
}

// Layered fills the fields p leaves at zero with the lab's per-hop values
// (hop.Layered).
func Layered(caller, up string, p resilience.Policy) resilience.Policy {
	return hop.Layered(caller, up, p)
}

// Build assembles the named service.
func Build(name string, o Options) (*Unit, error) {
	if _, ok := Upstreams[name]; !ok {
		return nil, fmt.Errorf("%w %q: want one of %s", ErrUnknownService, name, strings.Join(topology.Names(), ", "))
	}
	if o.Logger == nil {
		o.Logger = observability.Discard()
	}
	reg := observability.NewRegistry()
	metrics := resilience.NewMetrics(reg)
	u := &Unit{Name: name, Registry: reg, Transports: map[string]*resilience.Transport{}}
	clients := map[string]*http.Client{}
	for _, up := range Upstreams[name] {
		t, err := hop.NewOver(name, up, policyFor(name, up, o), o.endpoints(up), o.Logger, metrics)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		u.Transports[up] = t
		clients[up] = t.Client()
	}
	var validator auth.Validator
	if uc, ok := clients[topology.User]; ok && name != topology.Gateway {
		ucl := user.NewClient(o.url(topology.User), uc, o.Keys.Service)
		validator = resilience.NewTokenCache(resilience.TokenCacheConfig{
			Fetch:   ucl.ValidateToken,
			TTL:     o.TokenTTL,
			Metrics: metrics,
			Logger:  o.Logger,
		})
	}
	u.Faults = fault.New(fault.Config{Logger: o.Logger})
	b := built{base: u.base(o), o: o, clients: clients, validator: validator}
	if err := b.service(name, u); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return u, nil
}

// base is the kit.Base every service of u is built on: the fault
// middleware and the deadline in front of its routes, and the fault
// control endpoint among them.
func (u *Unit) base(o Options) kit.Base {
	wrap := func(next http.Handler) http.Handler {
		return u.Faults.Middleware(resilience.Deadline(DefaultMaxDeadline)(next))
	}
	mount := func(r *router.Router) {
		h := auth.RequireService(o.Keys.Service)(u.Faults.Handler())
		r.Handle(http.MethodGet, fault.Path, h)
		r.Handle(http.MethodPost, fault.Path, h)
		r.Handle(http.MethodDelete, fault.Path, h)
		r.Handle(http.MethodDelete, fault.Path+"/:name", h)
	}
	return kit.Base{Logger: o.Logger, Registry: u.Registry, PublicURL: o.PublicURL, Keys: o.Keys, Wrap: wrap, Mount: mount}
}

// built is what Build has made for a service before the service itself.
type built struct {
	base      kit.Base
	o         Options
	clients   map[string]*http.Client
	validator auth.Validator
}

// service builds the named service into u.
func (b built) service(name string, u *Unit) error {
	o, clients := b.o, b.clients
	st, err := o.pgStores(name)
	if err != nil {
		return err
	}
	tokens := kit.Tokens{UserClient: clients[topology.User], UserURL: o.url(topology.User), Validator: b.validator}
	switch name {
	case topology.User:
		cfg := user.Config{Base: b.base, DataDir: o.DataDir, Store: st.user}
		if o.Argon2 != nil {
			cfg.Argon2 = *o.Argon2
		}
		s, err := user.New(cfg)
		if err != nil {
			return err
		}
		u.Handler, u.closer = s, s.Close
	case topology.Product:
		s, err := product.New(product.Config{Base: b.base, DataDir: o.DataDir, Store: st.product, Tokens: tokens})
		if err != nil {
			return err
		}
		u.Handler, u.closer, u.reconcile = s, s.Close, s.Sweep
	case topology.Payment:
		s, err := payment.New(payment.Config{Base: b.base, DataDir: o.DataDir, Store: st.payment, Tokens: tokens})
		if err != nil {
			return err
		}
		u.Handler, u.closer = s, s.Close
	case topology.Order:
		s, err := order.New(order.Config{Base: b.base, DataDir: o.DataDir, Store: st.order, Tokens: tokens,
			ProductClient: clients[topology.Product], ProductURL: o.url(topology.Product),
			PaymentClient: clients[topology.Payment], PaymentURL: o.url(topology.Payment)})
		if err != nil {
			return err
		}
		u.Handler, u.closer, u.reconcile = s, s.Close, s.Reconcile
	case topology.Gateway:
		s, err := gateway.New(gateway.Config{Base: b.base,
			UserClient: clients[topology.User], UserURL: o.url(topology.User),
			ProductClient: clients[topology.Product], ProductURL: o.url(topology.Product),
			OrderClient: clients[topology.Order], OrderURL: o.url(topology.Order),
			PaymentClient: clients[topology.Payment], PaymentURL: o.url(topology.Payment)})
		if err != nil {
			return err
		}
		u.Handler, u.closer = s, s.Close
	}
	return nil
}

// ReconcileEvery calls Reconcile now and then every period until ctx ends,
// so that orders left pending (a crash, or a charge whose answer was lost)
// settle once their upstreams answer again, and expired reservations give
// their stock back. Failures are logged and retried.
func (u *Unit) ReconcileEvery(ctx context.Context, every time.Duration, logger *slog.Logger) {
	if u.reconcile == nil {
		return
	}
	if logger == nil {
		logger = observability.Discard()
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		n, err := u.Reconcile(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			logger.WarnContext(ctx, "reconcile incomplete, will retry",
				slog.String(observability.FieldEventAction, u.Name+".reconcile_retry"),
				slog.String(observability.FieldErrorMessage, err.Error()))
		case n > 0:
			logger.InfoContext(ctx, "reconciled",
				slog.String(observability.FieldEventAction, u.Name+".reconcile_done"),
				slog.Int("labels.count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
