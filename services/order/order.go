package order

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// Routes.
const (
	RouteOrders = "/orders"
	RouteOrder  = "/orders/:id"
	// PublicPrefix is where the gateway publishes orders.
	PublicPrefix = topology.RouteOrders
)

// The upstreams' default base URLs (topology).
var (
	DefaultUserURL    = topology.DefaultURL(topology.User)
	DefaultProductURL = topology.DefaultURL(topology.Product)
	DefaultPaymentURL = topology.DefaultURL(topology.Payment)
)

// Defaults.
const (
	DefaultMaxLines = 20
	DefaultLeaseTTL = 10 * time.Second
	// DefaultLimit and MaxLimit bound a page of GET /orders.
	DefaultLimit = 20
	MaxLimit     = 100
)

// Failure reasons.
const (
	ReasonUnknownProduct     = "unknown_product"
	ReasonInsufficientStock  = "insufficient_stock"
	ReasonProductUnavailable = "product_unavailable"
	ReasonPaymentDeclined    = "payment_declined"
	ReasonPaymentUnavailable = "payment_unavailable"
	ReasonPaymentConflict    = "payment_conflict"
	ReasonPaymentRefused     = "payment_refused"
	ReasonProductRefused     = "product_refused"
	ReasonMixedCurrencies    = "mixed_currencies"
	ReasonInterrupted        = "interrupted"
)

// RouteHistory serves every order with its events (service key only).
const RouteHistory = "/internal/orders"

// Config configures the order service. The zero value works: an in-memory
// store and upstreams at their default loopback ports through
// kit.DefaultClient.
type Config struct {
	// Base is the logger, registry, public URL, keys, clock, Wrap and Mount.
	kit.Base
	// DataDir holds order.db; empty keeps it in memory.
	DataDir string
	// Store overrides the SQLite store (New takes ownership).
	Store Store
	// UserClient and UserURL reach the user service (readiness, and the
	// default Validator).
	UserClient *http.Client
	UserURL    string
	// Validator checks bearer tokens; nil means a user.Client over UserClient.
	Validator auth.Validator
	// ProductClient and ProductURL reach the product service (stock).
	ProductClient *http.Client
	ProductURL    string
	// PaymentClient and PaymentURL reach the payment service (charges).
	PaymentClient *http.Client
	PaymentURL    string
	// MaxLines bounds the lines of one order; default 20.
	MaxLines int
	// LeaseTTL is how long one run owns an order before another (a
	// replay, the reconciler) may take it over; default 10 s. It must
	// exceed the longest upstream call of a run.
	LeaseTTL time.Duration
}

// Service is the order service, an http.Handler safe for concurrent use.
//
// Who may change an order is decided in the store, not in this process:
// each run (a request, or one order of a reconciler pass) claims the
// order's lease, re-reads it under the lease, and moves it only by
// conditional writes (Store.Transition). Several processes may share one
// store.
type Service struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	store    Store
	products *product.Client
	payments *payment.Client
	h        http.Handler
}

// New builds the service. It does not reconcile: call Reconcile once the
// upstreams are up.
func New(cfg Config) (*Service, error) {
	cfg.Base = cfg.Base.WithDefaults()
	defaults := []struct {
		c   **http.Client
		u   *string
		def string
	}{
		{&cfg.UserClient, &cfg.UserURL, DefaultUserURL},
		{&cfg.ProductClient, &cfg.ProductURL, DefaultProductURL},
		{&cfg.PaymentClient, &cfg.PaymentURL, DefaultPaymentURL},
	}
	for _, d := range defaults {
		if *d.c == nil {
			*d.c = kit.DefaultClient()
		}
		if *d.u == "" {
			*d.u = d.def
		}
		*d.u = strings.TrimRight(*d.u, "/")
	}
	if cfg.Validator == nil {
		cfg.Validator = user.NewClient(cfg.UserURL, cfg.UserClient, cfg.Keys.Service)
	}
	if cfg.MaxLines <= 0 {
		cfg.MaxLines = DefaultMaxLines
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	st := cfg.Store
	if st == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var err error
		if st, err = OpenStore(ctx, cfg.DataDir); err != nil {
			return nil, fmt.Errorf("order: %w", err)
		}
	}
	s := &Service{
		cfg:      cfg,
		store:    st,
		products: product.NewClient(cfg.ProductURL, cfg.ProductClient, cfg.Keys.Service),
		payments: payment.NewClient(cfg.PaymentURL, cfg.PaymentClient, cfg.Keys.Service),
	}
	o := &kit.Options{
		Name: "order", Base: cfg.Base,
		Ready: []kit.Check{
			{Name: "store", Probe: st.Ping},
			kit.UpstreamCheck("user", cfg.UserClient, cfg.UserURL),
			kit.UpstreamCheck("product", cfg.ProductClient, cfg.ProductURL),
			kit.UpstreamCheck("payment", cfg.PaymentClient, cfg.PaymentURL),
		},
	}
	chain := func(h http.HandlerFunc) http.Handler {
		return router.Chain(h, auth.RequireCaller(cfg.Keys), kit.Authenticate(cfg.Validator))
	}
	r := router.New(cfg.Logger)
	r.Handle(http.MethodPost, RouteOrders, chain(s.create))
	r.Handle(http.MethodGet, RouteOrders, chain(s.list))
	r.Handle(http.MethodGet, RouteOrder, chain(s.get))
	r.Handle(http.MethodGet, RouteHistory, auth.RequireService(cfg.Keys.Service)(http.HandlerFunc(s.history)))
	s.h = kit.Handler(o, r)
	s.log, s.reg = o.Logger, o.Registry
	return s, nil
}

// ServeHTTP serves the service's routes.
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Registry is the service's metrics registry.
func (s *Service) Registry() *prometheus.Registry { return s.reg }

// Close closes the store.
func (s *Service) Close() error { return s.store.Close() }

// PaymentKey is the Idempotency-Key order sends to payment for an order:
// every run and attempt of one order asks for the same charge.
func PaymentKey(orderID string) string { return "order-" + orderID }

// ReservationID is the reservation of one attempt of an order.
func ReservationID(orderID string, attempt int) string { return orderID + "-" + strconv.Itoa(attempt) }

func reservationID(r *Record) string { return ReservationID(r.ID, r.Attempt) }

// now is the service's time at the store's resolution (milliseconds), so
// that an order reads the same in the answer to its POST as in a later GET.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

func (s *Service) event(ctx context.Context, level slog.Level, action string, rec *Record, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String(observability.FieldEventAction, action),
		slog.String("labels.order_id", rec.ID),
		slog.String(observability.FieldUserID, rec.UserID),
		slog.String("labels.status", rec.Status),
		slog.Int("labels.attempt", rec.Attempt),
		slog.Int("labels.version", rec.Version),
	}, extra...)
	s.log.LogAttrs(ctx, level, strings.ReplaceAll(action, ".", " "), attrs...)
}
