package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
)

// Routes.
const (
	RouteOrders = "/orders"
	RouteOrder  = "/orders/:id"
	// PublicPrefix is where the gateway publishes orders.
	PublicPrefix = "/api/v1/orders"
)

// Defaults.
const (
	DefaultUserURL    = "http://127.0.0.1:8081"
	DefaultProductURL = "http://127.0.0.1:8082"
	DefaultPaymentURL = "http://127.0.0.1:8084"
	DefaultMaxLines   = 20
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
	ReasonInterrupted        = "interrupted"
)

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
}

// Service is the order service, an http.Handler safe for concurrent use.
type Service struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	store    Store
	products *product.Client
	payments *payment.Client
	h        http.Handler

	mu       sync.Mutex
	inflight map[string]bool // order ids being run by this process
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
		inflight: map[string]bool{},
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

// PaymentKey is the Idempotency-Key order sends to payment for an order.
func PaymentKey(orderID string) string { return "order-" + orderID }

func reservationID(r *Record) string { return r.ID + "-" + strconv.Itoa(r.Attempt) }

func (s *Service) claim(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight[id] {
		return false
	}
	s.inflight[id] = true
	return true
}

func (s *Service) unclaim(id string) {
	s.mu.Lock()
	delete(s.inflight, id)
	s.mu.Unlock()
}

// CreateRequest is the body of POST /orders.
type CreateRequest struct {
	Items []product.Item `json:"items"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	key := r.Header.Get(kit.IdempotencyKeyHeader)
	if !kit.ValidIdempotencyKey(key) {
		problem.Write(w, r, problem.BadRequest("Idempotency-Key header is required: 1 to 255 printable ASCII characters"))
		return
	}
	var req CreateRequest
	if err := problem.DecodeJSON(w, r, &req, 32<<10); err != nil {
		problem.Write(w, r, err)
		return
	}
	if len(req.Items) > s.cfg.MaxLines {
		problem.Write(w, r, problem.Newf(http.StatusBadRequest, "an order holds at most %d lines", s.cfg.MaxLines))
		return
	}
	if bad := product.ValidateItems(req.Items); len(bad) > 0 {
		pe := problem.BadRequest("invalid order: " + bad[0].Field + " " + bad[0].Detail)
		pe.Errors = bad
		problem.Write(w, r, pe)
		return
	}
	// Writes must finish even if the client goes away mid-run.
	ctx := r.Context()
	bg := context.WithoutCancel(ctx)
	now := s.cfg.Now().UTC()
	lines := make([]Line, len(req.Items))
	for i, it := range req.Items {
		lines[i] = Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	rec := Record{
		Order: Order{ID: kit.NewID("ord_"), UserID: p.UserID, Status: StatusPending, Items: lines, CreatedAt: now, UpdatedAt: now},
		Key:   key, Fingerprint: kit.Fingerprint(req.Items), Attempt: 1,
	}
	got, created, err := s.store.Begin(bg, rec)
	if err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
		return
	}
	if !created && got.Fingerprint != rec.Fingerprint {
		problem.Write(w, r, problem.Unprocessable("Idempotency-Key was already used with a different request body"))
		return
	}
	if !s.claim(got.ID) {
		pe := problem.Conflict("a request with this Idempotency-Key is still in progress")
		pe.RetryAfter = time.Second
		problem.Write(w, r, pe)
		return
	}
	defer s.unclaim(got.ID)
	if created {
		s.event(ctx, slog.LevelInfo, "order.created", &got)
	} else {
		// Re-read under the claim: another request may have finished it.
		if got, err = s.store.Get(bg, got.ID); err != nil {
			problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
			return
		}
		if got.Status == StatusPending {
			// A crash or a lost commit left it: settle the earlier run first.
			if err := s.resolve(ctx, &got); err != nil {
				problem.Write(w, r, kit.UpstreamProblem("payment", err))
				return
			}
		}
		if got.Status == StatusFailed && got.Retryable {
			got.Attempt++
			got.Status, got.Reason, got.Retryable, got.RespStatus, got.RespBody = StatusPending, "", false, 0, nil
			got.UpdatedAt = s.cfg.Now().UTC()
			if err := s.store.Save(bg, got); err != nil {
				problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
				return
			}
		}
	}
	if got.Status == StatusPending {
		s.run(ctx, &got)
	}
	s.writeAnswer(w, r, &got)
}

func (s *Service) writeAnswer(w http.ResponseWriter, r *http.Request, rec *Record) {
	if rec.RespStatus == 0 {
		// Still pending (a lost commit): Reconcile or a replay will finish it.
		p := problem.Unavailable("the order's payment is not settled yet; retry with the same Idempotency-Key", 2*time.Second)
		p.Dependency = "payment"
		problem.Write(w, r, p)
		return
	}
	ct := "application/json"
	if rec.RespStatus >= 400 {
		ct = problem.ContentType
		if rec.Retryable {
			secs := int((rec.retryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		}
		if dep := dependencyOf(rec.Reason); dep != "" && rec.RespStatus == http.StatusServiceUnavailable {
			w.Header().Set(problem.DependencyHeader, dep)
		}
	}
	if rec.RespStatus == http.StatusCreated {
		w.Header().Set("Location", s.cfg.PublicURL+PublicPrefix+"/"+rec.ID)
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(rec.RespStatus)
	_, _ = w.Write(rec.RespBody)
}

// dependencyOf is the upstream a failure reason blames, or "" when the
// order service itself failed.
func dependencyOf(reason string) string {
	switch reason {
	case ReasonPaymentUnavailable:
		return "payment"
	case ReasonProductUnavailable:
		return "product"
	}
	return ""
}

// run reserves, charges, commits and confirms rec, leaving it confirmed,
// failed (with a stored answer), or pending when only the commit was lost.
func (s *Service) run(ctx context.Context, rec *Record) {
	bg := context.WithoutCancel(ctx)
	items := make([]product.Item, len(rec.Items))
	for i, l := range rec.Items {
		items[i] = product.Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	resID := reservationID(rec)
	res, err := s.products.Reserve(ctx, resID, items)
	if err != nil {
		switch {
		case kit.StatusOf(err) == http.StatusUnprocessableEntity:
			s.fail(bg, rec, ReasonUnknownProduct, upstreamDetail(err, "unknown product"), http.StatusUnprocessableEntity, 0)
		case kit.StatusOf(err) == http.StatusConflict:
			s.fail(bg, rec, ReasonInsufficientStock, upstreamDetail(err, "insufficient stock"), http.StatusConflict, 0)
		default:
			// The reservation may have landed before the answer was lost.
			if !s.release(bg, resID) {
				s.event(ctx, slog.LevelWarn, "order.pending", rec, slog.String(observability.FieldErrorMessage, err.Error()))
				return
			}
			ra, _ := kit.Unavailable(err)
			s.fail(bg, rec, ReasonProductUnavailable, "the product service is unavailable; retry later", http.StatusServiceUnavailable, ra)
		}
		return
	}
	var total int64
	cur := ""
	for i, it := range res.Items {
		if cur != "" && it.Currency != cur {
			s.release(bg, resID)
			s.fail(bg, rec, "mixed_currencies", "all products of an order must share one currency", http.StatusUnprocessableEntity, 0)
			return
		}
		cur = it.Currency
		total += it.Quantity * it.UnitPriceCents
		if i < len(rec.Items) {
			rec.Items[i].UnitPriceCents = it.UnitPriceCents
		}
	}
	rec.TotalCents, rec.Currency, rec.UpdatedAt = total, cur, s.cfg.Now().UTC()
	if err := s.store.Save(bg, *rec); err != nil {
		s.release(bg, resID)
		s.fail(bg, rec, ReasonInterrupted, "order store unavailable", http.StatusServiceUnavailable, time.Second)
		return
	}

	pay, err := s.payments.Charge(ctx, PaymentKey(rec.ID), payment.ChargeRequest{
		OrderID: rec.ID, UserID: rec.UserID, AmountCents: total, Currency: cur,
	})
	if err != nil {
		switch {
		case errors.Is(err, payment.ErrDeclined):
			s.release(bg, resID)
			s.fail(bg, rec, ReasonPaymentDeclined, upstreamDetail(err, "payment declined"), http.StatusPaymentRequired, 0)
			return
		case errors.Is(err, payment.ErrKeyReused):
			s.release(bg, resID)
			s.fail(bg, rec, ReasonPaymentConflict, "the order's total changed since its payment was made", http.StatusConflict, 0)
			return
		}
		// Unavailable or in flight: did the charge land anyway?
		found, ok := s.chargeOf(bg, rec.ID)
		switch {
		case ok && found.Status == payment.StatusSucceeded:
			pay = found
		case ok && found.Status == payment.StatusDeclined:
			s.release(bg, resID)
			s.fail(bg, rec, ReasonPaymentDeclined, "payment declined", http.StatusPaymentRequired, 0)
			return
		case mayHaveCharged(err):
			// The charge may have reached payment before its answer was
			// lost, and payment cannot say now. Failing the order would
			// keep the money and release the goods: keep it pending with
			// its stock reserved; Reconcile (or a replay of the key)
			// settles it once payment answers.
			s.event(ctx, slog.LevelWarn, "order.payment_unknown", rec, slog.String(observability.FieldErrorMessage, err.Error()))
			return
		default:
			ra, isUnavail := kit.Unavailable(err)
			if !isUnavail {
				ra = time.Second
			}
			s.release(bg, resID)
			s.fail(bg, rec, ReasonPaymentUnavailable, "the payment service is unavailable; retry later", http.StatusServiceUnavailable, ra)
			return
		}
	}
	rec.PaymentID = pay.ID
	s.commitAndConfirm(ctx, rec, resID)
}

// chargeOf asks payment for the order's charge; ok is false when payment
// cannot answer or there is none.
func (s *Service) chargeOf(ctx context.Context, orderID string) (payment.Payment, bool) {
	ps, err := s.payments.ForOrder(ctx, orderID)
	if err != nil {
		return payment.Payment{}, false
	}
	var best payment.Payment
	for _, p := range ps {
		if p.Status == payment.StatusSucceeded {
			return p, true
		}
		if p.Status == payment.StatusDeclined {
			best = p
		}
	}
	return best, best.ID != ""
}

func (s *Service) commitAndConfirm(ctx context.Context, rec *Record, resID string) {
	bg := context.WithoutCancel(ctx)
	if _, err := s.products.Commit(ctx, resID); err != nil && !errors.Is(err, product.ErrNotFound) {
		// Paid but stock not committed: stay pending; Reconcile finishes it.
		rec.UpdatedAt = s.cfg.Now().UTC()
		_ = s.store.Save(bg, *rec)
		s.event(ctx, slog.LevelWarn, "order.pending", rec, slog.String(observability.FieldErrorMessage, err.Error()))
		return
	}
	rec.Status, rec.Reason, rec.Retryable = StatusConfirmed, "", false
	rec.UpdatedAt = s.cfg.Now().UTC()
	rec.RespStatus = http.StatusCreated
	rec.RespBody, _ = json.Marshal(rec.Order)
	if err := s.store.Save(bg, *rec); err != nil {
		rec.RespStatus, rec.RespBody = 0, nil
		return
	}
	s.event(ctx, slog.LevelInfo, "order.confirmed", rec)
}

// release frees a reservation; false means it may still hold stock.
func (s *Service) release(ctx context.Context, resID string) bool {
	_, err := s.products.Release(ctx, resID)
	return err == nil || errors.Is(err, product.ErrNotFound)
}

func (s *Service) fail(ctx context.Context, rec *Record, reason, detail string, status int, retryAfter time.Duration) {
	rec.Status, rec.Reason = StatusFailed, reason
	rec.Retryable = status == http.StatusServiceUnavailable
	rec.UpdatedAt = s.cfg.Now().UTC()
	p := problem.New(status, detail)
	p.Type, p.Instance, p.TraceID = "about:blank", RouteOrders, observability.TraceID(ctx)
	p.Errors = []problem.FieldError{{Field: "order", Detail: rec.ID + " failed: " + reason}}
	rec.RespStatus = status
	rec.RespBody, _ = json.Marshal(p)
	if err := s.store.Save(ctx, *rec); err != nil {
		s.event(ctx, slog.LevelError, "order.save_failed", rec, slog.String(observability.FieldErrorMessage, err.Error()))
	}
	s.event(ctx, slog.LevelWarn, "order.failed", rec, slog.String("labels.reason", reason))
	rec.retryAfter = retryAfter
}

// mayHaveCharged reports whether a failed charge call may still have
// charged: its last attempt left for payment and got no answer. A refused
// connection, an open breaker that sent nothing, or an answer from payment
// (even a 5xx) mean no charge was made by that attempt.
func mayHaveCharged(err error) bool {
	var oe *resilience.OpenError
	if errors.As(err, &oe) && oe.Last == nil {
		return false
	}
	if errors.Is(err, resilience.ErrBulkheadFull) {
		return false
	}
	var ue *resilience.UpstreamError
	if errors.As(err, &ue) && ue.Status != 0 {
		return false
	}
	var se *kit.StatusError
	if errors.As(err, &se) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return false
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return false
	}
	return true
}

func upstreamDetail(err error, def string) string {
	var se *kit.StatusError
	if errors.As(err, &se) && se.Problem.Detail != "" {
		return se.Problem.Detail
	}
	return def
}

func (s *Service) event(ctx context.Context, level slog.Level, action string, rec *Record, extra ...slog.Attr) {
	attrs := append([]slog.Attr{
		slog.String(observability.FieldEventAction, action),
		slog.String("labels.order_id", rec.ID),
		slog.String(observability.FieldUserID, rec.UserID),
		slog.String("labels.status", rec.Status),
		slog.Int("labels.attempt", rec.Attempt),
	}, extra...)
	s.log.LogAttrs(ctx, level, strings.ReplaceAll(action, ".", " "), attrs...)
}

// resolve settles a pending order from an earlier run by asking payment:
// charged ──► commit and confirm; declined or not charged ──► release and
// fail. It returns an error when payment cannot answer.
func (s *Service) resolve(ctx context.Context, rec *Record) error {
	bg := context.WithoutCancel(ctx)
	ps, err := s.payments.ForOrder(ctx, rec.ID)
	if err != nil {
		return err
	}
	resID := reservationID(rec)
	var charged, declined *payment.Payment
	for i := range ps {
		switch ps[i].Status {
		case payment.StatusSucceeded:
			charged = &ps[i]
		case payment.StatusDeclined:
			declined = &ps[i]
		case payment.StatusProcessing:
			return fmt.Errorf("%w: charge of %s still processing", kit.ErrPending, rec.ID)
		}
	}
	switch {
	case charged != nil:
		rec.PaymentID = charged.ID
		s.commitAndConfirm(ctx, rec, resID)
		if rec.Status != StatusConfirmed {
			return fmt.Errorf("%w: commit of %s failed", kit.ErrPending, rec.ID)
		}
	case declined != nil:
		if !s.release(bg, resID) {
			return fmt.Errorf("%w: release of %s failed", kit.ErrPending, resID)
		}
		s.fail(bg, rec, ReasonPaymentDeclined, "payment declined", http.StatusPaymentRequired, 0)
	default:
		if !s.release(bg, resID) {
			return fmt.Errorf("%w: release of %s failed", kit.ErrPending, resID)
		}
		s.fail(bg, rec, ReasonInterrupted, "the order was interrupted before payment; retry with the same Idempotency-Key", http.StatusServiceUnavailable, time.Second)
	}
	s.event(ctx, slog.LevelInfo, "order.reconciled", rec)
	return nil
}

// Reconcile settles every pending order not being run right now, and
// returns how many it settled and the errors of those it could not.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	pending, err := s.store.Pending(ctx)
	if err != nil {
		return 0, fmt.Errorf("reconcile: %w", err)
	}
	var errs []error
	n := 0
	for i := range pending {
		rec := &pending[i]
		if !s.claim(rec.ID) {
			continue
		}
		err := s.resolve(ctx, rec)
		s.unclaim(rec.ID)
		if err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", rec.ID, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	id := router.Param(r, "id")
	if !kit.ValidID(id) {
		problem.Write(w, r, problem.NotFound("no such order"))
		return
	}
	rec, err := s.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) || (err == nil && rec.UserID != p.UserID && !p.IsAdmin()) {
		// Another user's order is as invisible as a missing one.
		problem.Write(w, r, problem.NotFound("no such order"))
		return
	}
	if err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, rec.Order)
}

// List is the answer of GET /orders: one page of the caller's orders,
// newest first. Total counts them all. NextCursor, and the Link header
// (rel="next", on the gateway), continue after the page's last order;
// both are absent on the last page.
type List struct {
	Items      []Order `json:"items"`
	Limit      int     `json:"limit"`
	Total      int     `json:"total"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		problem.Write(w, r, problem.BadRequest("malformed query string"))
		return
	}
	limit, after, perr := parseListQuery(q)
	if perr != nil {
		problem.Write(w, r, perr)
		return
	}
	orders, more, total, err := s.store.ListByUser(r.Context(), p.UserID, limit, after)
	if err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
		return
	}
	l := List{Items: orders, Limit: limit, Total: total}
	if more && len(orders) > 0 {
		l.NextCursor = CursorAfter(orders[len(orders)-1]).String()
		w.Header().Set("Link", fmt.Sprintf(`<%s?limit=%d&cursor=%s>; rel="next"`, s.cfg.PublicURL+PublicPrefix, limit, l.NextCursor))
	}
	problem.WriteJSON(w, http.StatusOK, l)
}
