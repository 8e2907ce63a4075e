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
	DefaultLeaseTTL   = 10 * time.Second
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

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

// run is one owner of an order: a request, or one order of a reconciler
// pass. Only it writes the order while its lease lasts.
type run struct {
	owner string // the lease token
	actor string // ActorRequest or ActorReconciler
	trace string
	// fresh: this run began the current attempt (created the order, or
	// moved it from interrupted). Only such a request may end the attempt
	// as interrupted; a run that took an order over from an earlier one
	// drives it to an answer from the upstreams instead, because the
	// earlier run's calls may still land.
	fresh bool
	// blocked names the upstream the run is waiting for when it leaves
	// the order pending, and why.
	blocked  string
	blockErr error
}

func (s *Service) newRun(ctx context.Context, actor string) *run {
	return &run{owner: kit.NewID("run_"), actor: actor, trace: observability.TraceID(ctx)}
}

func (rn *run) change(release ...string) Change {
	return Change{Actor: rn.actor, TraceID: rn.trace, Release: release}
}

func (rn *run) block(dep string, err error) { rn.blocked, rn.blockErr = dep, err }

// CreateRequest is the body of POST /orders.
type CreateRequest struct {
	Items []product.Item `json:"items"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if n := len(r.Header.Values(kit.IdempotencyKeyHeader)); n > 1 {
		problem.Write(w, r, problem.Newf(http.StatusBadRequest, "send one Idempotency-Key header, not %d", n))
		return
	}
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
	if len(req.Items) == 0 || len(req.Items) > s.cfg.MaxLines {
		pe := problem.Newf(http.StatusBadRequest, "invalid order: an order holds 1 to %d lines", s.cfg.MaxLines)
		pe.Errors = []problem.FieldError{{Field: "items", Detail: fmt.Sprintf("must hold 1 to %d lines", s.cfg.MaxLines)}}
		problem.Write(w, r, pe)
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
	rn := s.newRun(ctx, ActorRequest)
	now := s.now()
	lines := make([]Line, len(req.Items))
	for i, it := range req.Items {
		lines[i] = Line{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	rec := Record{
		Order: Order{ID: kit.NewID("ord_"), UserID: p.UserID, Status: StatusPending, Items: lines, CreatedAt: now, UpdatedAt: now},
		Key:   key, Fingerprint: kit.Fingerprint(req.Items), Attempt: 1,
	}
	got, created, err := s.store.Begin(bg, rec, rn.owner, now.Add(s.cfg.LeaseTTL), rn.change())
	if err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
		return
	}
	if !created && got.Fingerprint != rec.Fingerprint {
		problem.Write(w, r, problem.Unprocessable("Idempotency-Key was already used with a different request body"))
		return
	}
	if !created && Final(got.Status) {
		// Final never changes: answer it without taking the lease, so
		// that replays of a finished order never wait for each other.
		s.writeAnswer(w, r, &got, rn)
		return
	}
	if created {
		rn.fresh = true
		s.event(ctx, slog.LevelInfo, "order.created", &got)
	} else {
		// Claim the order and re-read it under the claim: another run may
		// have finished it, or may still be running it.
		got, err = s.store.Claim(bg, got.ID, rn.owner, now, now.Add(s.cfg.LeaseTTL))
		if errors.Is(err, ErrLeased) {
			pe := problem.Conflict("a request with this Idempotency-Key is still in progress")
			pe.RetryAfter = max(time.Second, got.LeaseUntil.Sub(now))
			problem.Write(w, r, pe)
			return
		}
		if err != nil {
			problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
			return
		}
	}
	defer func() { _ = s.store.Unlease(bg, got.ID, rn.owner) }()
	if got.Status == StatusInterrupted {
		// A replay runs an interrupted order again, as a new attempt.
		next := got
		next.Attempt++
		next.Status, next.Reason, next.RespStatus, next.RespBody, next.RetryAfter = StatusPending, "", 0, nil, 0
		next.TotalCents, next.Currency = 0, ""
		next.Items = unpriced(got.Items)
		next.UpdatedAt = s.now()
		if s.transition(bg, rn, &got, next) == nil {
			rn.fresh = true
		}
	}
	if got.Status == StatusPending && got.LeaseOwner == rn.owner {
		s.drive(ctx, rn, &got)
	}
	s.writeAnswer(w, r, &got, rn)
}

func unpriced(lines []Line) []Line {
	out := make([]Line, len(lines))
	for i, l := range lines {
		out[i] = Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return out
}

// transition moves cur to next by a conditional write. A write that loses
// (the order moved on, or the lease passed to another run) re-reads cur
// and returns the error: it never overwrites.
func (s *Service) transition(ctx context.Context, rn *run, cur *Record, next Record, release ...string) error {
	return s.transitionCh(ctx, rn, cur, next, rn.change(release...))
}

func (s *Service) transitionCh(ctx context.Context, rn *run, cur *Record, next Record, ch Change) error {
	next.Version = cur.Version
	out, err := s.store.Transition(ctx, next, cur.Status, rn.owner, s.now(), ch)
	if err != nil {
		if fresh, gerr := s.store.Get(ctx, cur.ID); gerr == nil {
			*cur = fresh
		}
		s.event(ctx, slog.LevelWarn, "order.write_lost", cur, slog.String(observability.FieldErrorMessage, err.Error()))
		return err
	}
	out.LeaseOwner, out.LeaseUntil = cur.LeaseOwner, cur.LeaseUntil
	*cur = out
	return nil
}

func (s *Service) writeAnswer(w http.ResponseWriter, r *http.Request, rec *Record, rn *run) {
	if rec.Status == StatusPending || rec.RespStatus == 0 {
		if rn.blocked == "" {
			// Another run owns it now (this one lost its lease).
			pe := problem.Conflict("a request with this Idempotency-Key is still in progress")
			pe.RetryAfter = time.Second
			problem.Write(w, r, pe)
			return
		}
		p := problem.Unavailable("the order is not settled yet: "+rn.blocked+" is unavailable; retry with the same Idempotency-Key", 2*time.Second)
		p.Dependency = rn.blocked
		problem.Write(w, r, p)
		return
	}
	ct := "application/json"
	if rec.RespStatus >= 400 {
		ct = problem.ContentType
		if rec.Status == StatusInterrupted {
			secs := int((rec.RetryAfter + time.Second - 1) / time.Second)
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

// drive takes a pending order that rn holds to an end: confirmed, failed,
// interrupted (only a fresh request), or pending with rn.blocked naming
// the upstream it waits for. Every step re-uses what the store says, so
// any run may pick up where another stopped:
//
//	payment id set ──► commit, confirm
//	priced ──► ask payment: charged ──► record it, commit, confirm;
//	           declined ──► fail; processing/unknown ──► wait; none ──► go on
//	reserve (idempotent by attempt) ──► price ──► extend lease ──► charge
//	  ──► record the payment id ──► commit ──► confirm
func (s *Service) drive(ctx context.Context, rn *run, rec *Record) {
	bg := context.WithoutCancel(ctx)
	resID := reservationID(rec)
	items := make([]product.Item, len(rec.Items))
	for i, l := range rec.Items {
		items[i] = product.Item{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	if rec.Currency != "" {
		// An earlier run reserved and priced it, and the order has waited
		// since (for payment's answer, or product's commit): renew the
		// reservation first, so that a long outage does not let it expire.
		_, _ = s.products.Reserve(ctx, resID, items)
	}
	if rec.PaymentID != "" {
		s.commitAndConfirm(ctx, rn, rec)
		return
	}
	if rec.Currency != "" {
		// An earlier run got as far as pricing: it may have charged.
		found, ok, err := s.chargeOf(ctx, rec.ID)
		if err != nil {
			rn.block("payment", err)
			return
		}
		if ok {
			switch found.Status {
			case payment.StatusSucceeded:
				s.paid(ctx, rn, rec, found)
				return
			case payment.StatusDeclined:
				s.end(bg, rn, rec, ReasonPaymentDeclined, "payment declined", http.StatusPaymentRequired, resID)
				return
			default:
				rn.block("payment", fmt.Errorf("%w: charge of %s still processing", kit.ErrPending, rec.ID))
				return
			}
		}
	}
	res, err := s.products.Reserve(ctx, resID, items)
	if err != nil {
		switch kit.StatusOf(err) {
		case http.StatusUnprocessableEntity:
			s.end(bg, rn, rec, ReasonUnknownProduct, upstreamDetail(err, "unknown product"), http.StatusUnprocessableEntity)
		case http.StatusConflict:
			s.end(bg, rn, rec, ReasonInsufficientStock, upstreamDetail(err, "insufficient stock"), http.StatusConflict)
		case http.StatusBadRequest:
			s.end(bg, rn, rec, ReasonProductRefused, "product refused the order: "+upstreamDetail(err, "invalid reservation"), http.StatusUnprocessableEntity)
		default:
			// The reservation may have landed before its answer was lost.
			s.interrupt(bg, rn, rec, ReasonProductUnavailable, "product", err, resID)
		}
		return
	}
	next := *rec
	next.Items = unpriced(rec.Items)
	var total int64
	cur := ""
	for i, it := range res.Items {
		if cur != "" && it.Currency != cur {
			s.end(bg, rn, rec, ReasonMixedCurrencies, "all products of an order must share one currency", http.StatusUnprocessableEntity, resID)
			return
		}
		cur = it.Currency
		total += it.Quantity * it.UnitPriceCents
		if i < len(next.Items) {
			next.Items[i].UnitPriceCents = it.UnitPriceCents
		}
	}
	next.TotalCents, next.Currency, next.UpdatedAt = total, cur, s.now()
	if s.transition(bg, rn, rec, next) != nil {
		return
	}
	// The charge must not outlive the lease: extend it first. A run that
	// cannot has lost the order to another and stops here.
	now := s.now()
	if got, err := s.store.Extend(bg, rec.ID, rn.owner, now.Add(s.cfg.LeaseTTL)); err != nil {
		if errors.Is(err, ErrLeased) {
			*rec = got
		} else {
			rn.block("order store", err)
		}
		return
	} else {
		rec.LeaseUntil = got.LeaseUntil
	}
	pay, err := s.payments.Charge(ctx, PaymentKey(rec.ID), payment.ChargeRequest{
		OrderID: rec.ID, UserID: rec.UserID, AmountCents: total, Currency: cur,
	})
	if err == nil {
		s.paid(ctx, rn, rec, pay)
		return
	}
	switch st := kit.StatusOf(err); {
	case errors.Is(err, payment.ErrDeclined):
		s.end(bg, rn, rec, ReasonPaymentDeclined, upstreamDetail(err, "payment declined"), http.StatusPaymentRequired, resID)
		return
	case errors.Is(err, payment.ErrKeyReused):
		// A charge with this key and another amount exists (an earlier
		// attempt at other prices): if it succeeded, it is this order's.
		if found, ok, ferr := s.chargeOf(bg, rec.ID); ferr == nil && ok && found.Status == payment.StatusSucceeded {
			s.paid(ctx, rn, rec, found)
			return
		}
		s.end(bg, rn, rec, ReasonPaymentConflict, "the order's total changed since its payment was made", http.StatusConflict, resID)
		return
	case st == http.StatusBadRequest || st == http.StatusUnprocessableEntity:
		// A refusal that no retry can change (say, a total above
		// payment's maximum): final, and the client hears why.
		s.end(bg, rn, rec, ReasonPaymentRefused, "payment refused the order: "+refusalDetail(err), http.StatusUnprocessableEntity, resID)
		return
	}
	// Unavailable, or in flight: did the charge land anyway?
	found, ok, ferr := s.chargeOf(bg, rec.ID)
	switch {
	case ferr == nil && ok && found.Status == payment.StatusSucceeded:
		s.paid(ctx, rn, rec, found)
	case ferr == nil && ok && found.Status == payment.StatusDeclined:
		s.end(bg, rn, rec, ReasonPaymentDeclined, "payment declined", http.StatusPaymentRequired, resID)
	case errors.Is(err, payment.ErrInFlight) || mayHaveCharged(err) || (ferr == nil && ok):
		// The charge may have reached payment, and payment cannot say
		// yet. Releasing the goods now could keep the money without them:
		// keep the order pending with its stock; a replay or the
		// reconciler settles it once payment answers.
		s.event(ctx, slog.LevelWarn, "order.payment_unknown", rec, slog.String(observability.FieldErrorMessage, err.Error()))
		rn.block("payment", err)
	default:
		s.interrupt(bg, rn, rec, ReasonPaymentUnavailable, "payment", err, resID)
	}
}

// paid records the order's charge, then commits and confirms. Once the
// payment id is stored, the order can only end confirmed.
func (s *Service) paid(ctx context.Context, rn *run, rec *Record, pay payment.Payment) {
	next := *rec
	next.PaymentID, next.UpdatedAt = pay.ID, s.now()
	if s.transition(context.WithoutCancel(ctx), rn, rec, next) != nil {
		return
	}
	s.commitAndConfirm(ctx, rn, rec)
}

func (s *Service) commitAndConfirm(ctx context.Context, rn *run, rec *Record) {
	bg := context.WithoutCancel(ctx)
	if _, err := s.products.Commit(ctx, reservationID(rec)); err != nil {
		// Paid, stock not committed yet: stay pending; the reconciler
		// commits it once product answers.
		level := slog.LevelWarn
		if errors.Is(err, product.ErrState) || errors.Is(err, product.ErrNotFound) {
			// The reservation expired and its stock was sold meanwhile
			// (product down longer than the reservation's TTL): the
			// order is paid and its goods are gone. See doc.go.
			level = slog.LevelError
		}
		s.event(ctx, level, "order.commit_pending", rec, slog.String(observability.FieldErrorMessage, err.Error()))
		rn.block("product", err)
		return
	}
	next := *rec
	next.Status, next.Reason, next.UpdatedAt = StatusConfirmed, "", s.now()
	next.RespStatus = http.StatusCreated
	next.RespBody, _ = json.Marshal(next.Order)
	if s.transition(bg, rn, rec, next) != nil {
		return
	}
	s.event(ctx, slog.LevelInfo, "order.confirmed", rec)
}

// end fails rec for good with status and detail, queueing the release of
// the given reservations in the same write; then it tries them at once.
func (s *Service) end(ctx context.Context, rn *run, rec *Record, reason, detail string, status int, release ...string) {
	next := *rec
	next.Status, next.Reason, next.UpdatedAt = StatusFailed, reason, s.now()
	next.RespStatus, next.RespBody = status, s.problemBody(ctx, rec.ID, reason, detail, status)
	if s.transition(ctx, rn, rec, next, release...) != nil {
		return
	}
	s.event(ctx, slog.LevelWarn, "order.failed", rec, slog.String("labels.reason", reason))
	s.releaseNow(ctx, release...)
}

// interrupt ends the attempt because dep is unavailable: the order holds
// no stock (its release is queued in the same write) and no charge, and a
// replay runs it again. Only a fresh request does; any other run leaves
// the order pending for a later one.
func (s *Service) interrupt(ctx context.Context, rn *run, rec *Record, reason, dep string, cause error, release ...string) {
	if !rn.fresh || rn.actor != ActorRequest {
		rn.block(dep, cause)
		return
	}
	ra, ok := kit.Unavailable(cause)
	if !ok || ra <= 0 {
		ra = time.Second
	}
	next := *rec
	next.Status, next.Reason, next.UpdatedAt, next.RetryAfter = StatusInterrupted, reason, s.now(), ra
	next.RespStatus = http.StatusServiceUnavailable
	next.RespBody = s.problemBody(ctx, rec.ID, reason, "the "+dep+" service is unavailable; retry with the same Idempotency-Key", next.RespStatus)
	ch := rn.change(release...)
	// A charge was under way: an earlier attempt of the call (the
	// resilience client retries) may have landed although the last one
	// was refused. The reconciler asks payment once they are all over.
	ch.VerifyCharge = dep == "payment"
	if s.transitionCh(ctx, rn, rec, next, ch) != nil {
		return
	}
	s.event(ctx, slog.LevelWarn, "order.interrupted", rec, slog.String("labels.reason", reason),
		slog.String(observability.FieldErrorMessage, cause.Error()))
	s.releaseNow(ctx, release...)
}

func (s *Service) problemBody(ctx context.Context, id, reason, detail string, status int) []byte {
	p := problem.New(status, detail)
	p.Type, p.Instance, p.TraceID = "about:blank", RouteOrders, observability.TraceID(ctx)
	p.Errors = []problem.FieldError{{Field: "order", Detail: id + " " + statusWord(status) + ": " + reason}}
	b, _ := json.Marshal(p)
	return b
}

func statusWord(status int) string {
	if status == http.StatusServiceUnavailable {
		return "interrupted"
	}
	return "failed"
}

// release releases reservations whose release is queued in the outbox,
// removing each queued call once it has landed. One that does not land
// stays queued for the reconciler. "No such reservation" is final only
// after a lease term: a reserve call whose answer was lost may still
// land until then, and its stock must go back too.
func (s *Service) release(ctx context.Context, queued map[string]time.Time) error {
	var errs []error
	for id, at := range queued {
		_, err := s.products.Release(ctx, id)
		switch {
		case err == nil:
			err = s.store.Done(ctx, id, OpRelease)
		case errors.Is(err, product.ErrNotFound):
			if s.now().Sub(at) >= s.cfg.LeaseTTL {
				err = s.store.Done(ctx, id, OpRelease)
			} else {
				err = s.store.Tried(ctx, id, OpRelease, "no such reservation yet")
			}
		case errors.Is(err, product.ErrState):
			// Committed: only a paid order commits, and a paid order is
			// never released; log it loudly rather than retry forever.
			s.log.LogAttrs(ctx, slog.LevelError, "release of a committed reservation",
				slog.String(observability.FieldEventAction, "order.release_refused"),
				slog.String("labels.reservation_id", id), slog.String(observability.FieldErrorMessage, err.Error()))
			err = s.store.Done(ctx, id, OpRelease)
		default:
			_ = s.store.Tried(ctx, id, OpRelease, err.Error())
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("release %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Service) releaseNow(ctx context.Context, ids ...string) {
	queued := map[string]time.Time{}
	for _, id := range ids {
		queued[id] = s.now()
	}
	_ = s.release(ctx, queued)
}

// chargeOf asks payment for the order's charge: a succeeded one first,
// then one still processing, then a declined one; ok is false when there
// is none.
func (s *Service) chargeOf(ctx context.Context, orderID string) (payment.Payment, bool, error) {
	ps, err := s.payments.ForOrder(ctx, orderID)
	if err != nil {
		return payment.Payment{}, false, err
	}
	rank := map[string]int{payment.StatusSucceeded: 3, payment.StatusProcessing: 2, payment.StatusDeclined: 1}
	var best payment.Payment
	for _, p := range ps {
		if rank[p.Status] > rank[best.Status] {
			best = p
		}
	}
	return best, best.ID != "", nil
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

// refusalDetail explains a permanent refusal from payment: its detail
// and the fields it named.
func refusalDetail(err error) string {
	var se *kit.StatusError
	if !errors.As(err, &se) {
		return err.Error()
	}
	d := se.Problem.Detail
	for _, f := range se.Problem.Errors {
		d += "; " + f.Field + " " + f.Detail
	}
	if d == "" {
		d = http.StatusText(se.Status)
	}
	return d
}

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

// Reconcile makes one pass: it retries the queued releases, then claims
// each pending order that no live run holds, re-reads it under the claim
// and drives it on (drive). It returns how many orders it settled and the
// errors of those still pending.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	var errs []error
	if err := s.drainOutbox(ctx); err != nil {
		errs = append(errs, err)
	}
	ids, err := s.store.Pending(ctx)
	if err != nil {
		return 0, errors.Join(append(errs, fmt.Errorf("reconcile: %w", err))...)
	}
	n := 0
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		rn := s.newRun(ctx, ActorReconciler)
		now := s.now()
		rec, err := s.store.Claim(ctx, id, rn.owner, now, now.Add(s.cfg.LeaseTTL))
		if errors.Is(err, ErrLeased) {
			continue // a live run owns it
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("order %s: %w", id, err))
			continue
		}
		if rec.Status == StatusPending {
			s.drive(ctx, rn, &rec)
		}
		_ = s.store.Unlease(context.WithoutCancel(ctx), id, rn.owner)
		switch {
		case rec.Status == StatusPending && rn.blocked != "":
			errs = append(errs, fmt.Errorf("order %s: %w: %s: %v", id, kit.ErrPending, rn.blocked, rn.blockErr))
		case rec.Status != StatusPending:
			n++
			s.event(ctx, slog.LevelInfo, "order.reconciled", &rec)
		}
	}
	if err := s.drainOutbox(ctx); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

func (s *Service) drainOutbox(ctx context.Context) error {
	items, err := s.store.Outbox(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	queued := make(map[string]time.Time, len(items))
	var errs []error
	for _, it := range items {
		switch it.Op {
		case OpRelease:
			queued[it.ReservationID] = it.CreatedAt
		case OpVerifyCharge:
			if err := s.verifyCharge(ctx, it); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(append(errs, s.release(ctx, queued))...)
}

// verifyCharge asks payment whether the interrupted attempt's charge
// landed after all, every pass until a lease term has passed (by then
// every call of the attempt is over). None ──► done. One that succeeded
// ──► the order runs again as a new attempt
// (it reserves anew, payment replays the charge, commit, confirm), so that
// no money is kept without goods.
func (s *Service) verifyCharge(ctx context.Context, it OutboxItem) error {
	found, ok, err := s.chargeOf(ctx, it.OrderID)
	if err != nil {
		_ = s.store.Tried(ctx, it.ReservationID, OpVerifyCharge, err.Error())
		return fmt.Errorf("verify charge of %s: %w", it.OrderID, err)
	}
	if ok && found.Status == payment.StatusProcessing {
		return nil // payment finishes it; ask again next pass
	}
	if !ok || found.Status != payment.StatusSucceeded {
		if s.now().Sub(it.CreatedAt) < s.cfg.LeaseTTL {
			return nil // an attempt may still be on its way: ask again
		}
		return s.store.Done(ctx, it.ReservationID, OpVerifyCharge)
	}
	rn := s.newRun(ctx, ActorReconciler)
	now := s.now()
	rec, err := s.store.Claim(ctx, it.OrderID, rn.owner, now, now.Add(s.cfg.LeaseTTL))
	if errors.Is(err, ErrLeased) {
		return nil // a live run has it; it meets the charge under the same key
	}
	if err != nil {
		return fmt.Errorf("verify charge of %s: %w", it.OrderID, err)
	}
	defer func() { _ = s.store.Unlease(context.WithoutCancel(ctx), it.OrderID, rn.owner) }()
	if rec.Status != StatusInterrupted || ReservationID(rec.ID, rec.Attempt) != it.ReservationID {
		// A replay ran it again since: that run met the charge under the
		// same key, unless it was refused before charging (the products
		// sold out or vanished meanwhile). Then the money is kept without
		// goods until refunds exist: say so loudly.
		if rec.Status == StatusFailed {
			s.event(ctx, slog.LevelError, "order.charge_stranded", &rec, slog.String("labels.payment_id", found.ID))
		}
		return s.store.Done(ctx, it.ReservationID, OpVerifyCharge)
	}
	s.event(ctx, slog.LevelWarn, "order.charge_adopted", &rec, slog.String("labels.payment_id", found.ID))
	next := rec
	next.Attempt++
	next.Status, next.Reason, next.RespStatus, next.RespBody, next.RetryAfter = StatusPending, "", 0, nil, 0
	next.TotalCents, next.Currency = 0, ""
	next.Items = unpriced(rec.Items)
	next.UpdatedAt = s.now()
	if err := s.transition(ctx, rn, &rec, next); err != nil {
		return fmt.Errorf("verify charge of %s: %w", it.OrderID, err)
	}
	if err := s.store.Done(ctx, it.ReservationID, OpVerifyCharge); err != nil {
		return err
	}
	// From here it is a pending order like any other.
	rn.fresh = false
	s.drive(ctx, rn, &rec)
	return nil
}

// HistoryPage is the answer of GET /internal/orders.
type HistoryPage struct {
	Items []History `json:"items"`
	// Next is the last id of the page, to pass as after; empty on the
	// last page.
	Next string `json:"next"`
}

// History limits of GET /internal/orders.
const (
	DefaultHistoryLimit = 1000
	MaxHistoryLimit     = 5000
)

func (s *Service) history(w http.ResponseWriter, r *http.Request) {
	after, limit, perr := kit.ParseAfter(r, DefaultHistoryLimit, MaxHistoryLimit)
	if perr != nil {
		problem.Write(w, r, perr)
		return
	}
	items, err := s.store.History(r.Context(), after, limit+1)
	if err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusServiceUnavailable, "order store unavailable", err))
		return
	}
	page := HistoryPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = items[limit-1].ID
	}
	problem.WriteJSON(w, http.StatusOK, page)
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
