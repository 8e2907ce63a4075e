package order

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/topology"
)

// Routes.
const (
	RouteOrders = "/orders"
	RouteOrder  = "/orders/:id"
	// PublicPrefix is where the gateway publishes orders.
	PublicPrefix = topology.RouteOrders
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

// storeName names the store in a 503 answer and a 404 "no such order".
const storeName = "order"

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
	// Tokens reach the user service and check bearer tokens.
	kit.Tokens
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
	*kit.Frame // ServeHTTP, Registry, Close
	cfg        Config
	log        *slog.Logger
	store      Store
	products   *product.Client
	payments   *payment.Client
}

// New builds the service. It does not reconcile: call Reconcile once the
// upstreams are up.
func New(cfg Config) (*Service, error) {
	cfg.MaxLines = kit.Positive(cfg.MaxLines, DefaultMaxLines)
	cfg.LeaseTTL = kit.Positive(cfg.LeaseTTL, DefaultLeaseTTL)
	f, st, err := kit.OpenFrame(kit.Spec{
		Name: topology.Order, Base: &cfg.Base, Tokens: &cfg.Tokens,
		Upstreams: []kit.Upstream{
			{Name: topology.Product, Client: &cfg.ProductClient, URL: &cfg.ProductURL},
			{Name: topology.Payment, Client: &cfg.PaymentClient, URL: &cfg.PaymentURL},
		},
	}, cfg.Store, OpenStore, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{Frame: f, cfg: cfg, log: cfg.Logger, store: st,
		products: product.NewClient(cfg.ProductURL, cfg.ProductClient, cfg.Keys.Service),
		payments: payment.NewClient(cfg.PaymentURL, cfg.PaymentClient, cfg.Keys.Service),
	}
	chain := func(h http.HandlerFunc) http.Handler {
		return router.Chain(h, auth.RequireCaller(cfg.Keys), kit.Authenticate(cfg.Validator))
	}
	r := f.Router()
	r.Handle(http.MethodPost, RouteOrders, chain(s.create))
	r.Handle(http.MethodGet, RouteOrders, chain(s.list))
	r.Handle(http.MethodGet, RouteOrder, chain(s.get))
	r.Handle(http.MethodGet, RouteHistory, auth.RequireService(cfg.Keys.Service)(http.HandlerFunc(s.history)))
	f.Serve(r)
	return s, nil
}

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
