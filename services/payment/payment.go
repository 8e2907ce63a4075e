package payment

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/topology"
)

// Routes.
const (
	RoutePayments = "/payments"
	RoutePayment  = "/payments/:id"
	RouteForOrder = "/internal/payments"
	RouteSummary  = "/internal/charges/summary"
	RouteCharges  = "/internal/charges"
)

// storeName names the store in a 503 answer.
const storeName = "payment"

// Defaults.
const (
	DefaultDeclineAbove = 1_000_000
	MaxAmount           = 1_000_000_000_000
	// DefaultLeaseTTL is how long a request's claim on a charge in flight
	// lasts; a row still processing after it was left by a process that
	// died, and the next request with its key takes it over.
	DefaultLeaseTTL = 5 * time.Second
	// DefaultChargesLimit and MaxChargesLimit bound GET /internal/charges.
	DefaultChargesLimit = 1000
	MaxChargesLimit     = 5000
	// ReplayedHeader marks an answer replayed from the idempotency store.
	ReplayedHeader = "Idempotent-Replayed"
)

// Config configures the payment service. The zero value works (in-memory
// store, tokens validated by the user service at its default URL in the
// topology).
type Config struct {
	// Base is the logger, registry, public URL, keys, clock, Wrap and Mount.
	kit.Base
	// DataDir holds payment.db; empty keeps it in memory.
	DataDir string
	// Store overrides the SQLite store (New takes ownership).
	Store Store
	// Tokens reach the user service and check bearer tokens.
	kit.Tokens
	// DeclineAbove: amounts above it (cents) are declined; default 1,000,000.
	DeclineAbove int64
	// LeaseTTL bounds a claim on a charge in flight; default
	// DefaultLeaseTTL. It must exceed the few local writes of a charge.
	LeaseTTL time.Duration
}

// Service is the payment service, an http.Handler safe for concurrent use.
//
// A request's claim on a charge in flight lives in the store (a lease on
// the processing row), so exactly-once holds across processes that share
// one store: a row still processing after its lease was left by a process
// that died, and the next request with its key takes it over.
type Service struct {
	*kit.Frame // ServeHTTP, Registry, Close
	cfg        Config
	log        *slog.Logger
	store      Store
}

// New builds the service.
func New(cfg Config) (*Service, error) {
	cfg.DeclineAbove = kit.Positive(cfg.DeclineAbove, DefaultDeclineAbove)
	cfg.LeaseTTL = kit.Positive(cfg.LeaseTTL, DefaultLeaseTTL)
	spec := kit.Spec{Name: topology.Payment, Base: &cfg.Base, Tokens: &cfg.Tokens}
	f, st, err := kit.OpenFrame(spec, cfg.Store, OpenStore, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{Frame: f, cfg: cfg, log: cfg.Logger, store: st}
	svc := auth.RequireService(cfg.Keys.Service)
	r := f.Router()
	r.Handle(http.MethodPost, RoutePayments, svc(http.HandlerFunc(s.charge)))
	r.Handle(http.MethodGet, RoutePayment, router.Chain(http.HandlerFunc(s.get), auth.RequireCaller(cfg.Keys), kit.Authenticate(cfg.Validator)))
	r.Handle(http.MethodGet, RouteForOrder, svc(http.HandlerFunc(s.forOrder)))
	r.Handle(http.MethodGet, RouteSummary, svc(http.HandlerFunc(s.summary)))
	r.Handle(http.MethodGet, RouteCharges, svc(http.HandlerFunc(s.charges)))
	f.Serve(r)
	return s, nil
}

// ChargeRequest is the body of POST /payments.
type ChargeRequest struct {
	OrderID     string `json:"order_id"`
	UserID      string `json:"user_id,omitempty"`
	AmountCents int64  `json:"amount"`
	Currency    string `json:"currency"`
}

var currencyRE = regexp.MustCompile(`^[A-Z]{3}$`)

func (s *Service) charge(w http.ResponseWriter, r *http.Request) {
	key, req, ok := parseCharge(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	now := s.cfg.Now().UTC()
	rec := Record{
		Payment: Payment{ID: kit.NewID("pay_"), OrderID: req.OrderID, UserID: req.UserID, AmountCents: req.AmountCents,
			Currency: req.Currency, CreatedAt: now, UpdatedAt: now},
		Key: key, Fingerprint: kit.Fingerprint(req),
	}
	got, created, err := s.store.Begin(ctx, rec, now.Add(s.cfg.LeaseTTL))
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return
	}
	// Begun, a charge is finished and stored even if the caller goes away
	// (or its deadline passes) meanwhile: otherwise the log would say
	// charged while the row stays processing.
	bg := context.WithoutCancel(ctx)
	if !created {
		if !s.takeOver(bg, w, r, key, now, got, rec.Fingerprint) {
			return
		}
		rec = got
	}
	s.process(bg, &rec, r.URL.Path)
	done, err := s.store.Complete(bg, rec)
	if err == nil && !done {
		// Another request took the claim over and completed it first:
		// its stored answer is the one.
		var got Record
		if got, err = s.store.ByKey(bg, key); err == nil {
			rec = got
		}
	}
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return
	}
	writeStored(w, rec.RespStatus, rec.RespBody)
}

// parseCharge reads the Idempotency-Key and the body of a charge. On a bad
// request it writes the problem and reports false.
func parseCharge(w http.ResponseWriter, r *http.Request) (string, ChargeRequest, bool) {
	var req ChargeRequest
	key, ok := kit.DecodeKeyed(w, r, &req, 8<<10)
	if !ok {
		return "", req, false
	}
	var bad []problem.FieldError
	if !kit.ValidID(req.OrderID) {
		bad = append(bad, problem.FieldError{Field: "order_id", Detail: "must be an order id"})
	}
	if req.UserID != "" && !kit.ValidID(req.UserID) {
		bad = append(bad, problem.FieldError{Field: "user_id", Detail: "must be a user id"})
	}
	if req.AmountCents <= 0 || req.AmountCents > MaxAmount {
		bad = append(bad, problem.FieldError{Field: "amount", Detail: fmt.Sprintf("must be from 1 to %d cents", int64(MaxAmount))})
	}
	if !currencyRE.MatchString(req.Currency) {
		bad = append(bad, problem.FieldError{Field: "currency", Detail: "must be a 3-letter ISO 4217 code"})
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid payment", bad); p != nil {
		problem.Write(w, r, p)
		return "", req, false
	}
	return key, req, true
}

// takeOver handles a key seen before (got; fingerprint is this request's).
// It answers the request itself (still in progress, the key reused with
// another body, or the stored answer replayed) and reports false, unless
// got is processing under an expired claim: then it takes the claim over
// and reports true.
func (s *Service) takeOver(bg context.Context, w http.ResponseWriter, r *http.Request, key string, now time.Time, got Record, fingerprint string) bool {
	switch {
	case got.Status == StatusProcessing && got.LeaseUntil.After(now):
		p := problem.Conflict("a request with this Idempotency-Key is still in progress")
		p.RetryAfter = max(time.Second, got.LeaseUntil.Sub(now))
		problem.Write(w, r, p)
		return false
	case got.Fingerprint != fingerprint:
		problem.Write(w, r, problem.Unprocessable("Idempotency-Key was already used with a different request body"))
		return false
	case got.Status != StatusProcessing:
		w.Header().Set(ReplayedHeader, "true")
		writeStored(w, got.RespStatus, got.RespBody)
		return false
	}
	// Processing: another request holds it, or held it and died. Take it
	// over only once its claim has expired.
	took, err := s.store.TakeOver(bg, key, now, now.Add(s.cfg.LeaseTTL))
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return false
	}
	if !took {
		p := problem.Conflict("a request with this Idempotency-Key is still in progress")
		p.RetryAfter = time.Second
		problem.Write(w, r, p)
		return false
	}
	return true
}

// process runs the deterministic processor and fills in rec's outcome
// and stored answer.
func (s *Service) process(ctx context.Context, rec *Record, instance string) {
	rec.UpdatedAt = s.cfg.Now().UTC()
	attrs := []slog.Attr{
		slog.String("labels.payment_id", rec.ID), slog.String("labels.order_id", rec.OrderID),
		slog.Int64("labels.amount", rec.AmountCents),
	}
	if rec.AmountCents > s.cfg.DeclineAbove {
		rec.Status, rec.Reason = StatusDeclined, "amount_above_limit"
		p := problem.New(http.StatusPaymentRequired, fmt.Sprintf("payment declined: amount above %d cents", s.cfg.DeclineAbove))
		p.Type, p.Instance, p.TraceID = "about:blank", instance, observability.TraceID(ctx)
		rec.RespStatus = http.StatusPaymentRequired
		rec.RespBody, _ = json.Marshal(p)
		s.log.LogAttrs(ctx, slog.LevelWarn, "payment declined",
			append(attrs, slog.String(observability.FieldEventAction, "payment.declined"))...)
		return
	}
	rec.Status = StatusSucceeded
	rec.RespStatus = http.StatusCreated
	rec.RespBody, _ = json.Marshal(rec.Payment)
	s.log.LogAttrs(ctx, slog.LevelInfo, "payment charged",
		append(attrs, slog.String(observability.FieldEventAction, "payment.charged"))...)
}

func writeStored(w http.ResponseWriter, status int, body []byte) {
	ct := "application/json"
	if status >= 400 {
		ct = problem.ContentType
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	kit.ServeOwned(w, r, storeName, ErrNotFound, func(ctx context.Context, id string) (any, string, error) {
		pay, err := s.store.ByID(ctx, id)
		return pay, pay.UserID, err
	})
}

// List is the answer of GET /internal/payments.
type List struct {
	Items []Payment `json:"items"`
}

func (s *Service) forOrder(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("order_id")
	if !kit.ValidID(id) {
		problem.Write(w, r, problem.BadRequest("order_id query parameter is required"))
		return
	}
	ps, err := s.store.ByOrder(r.Context(), id)
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, List{Items: ps})
}

func (s *Service) summary(w http.ResponseWriter, r *http.Request) {
	sum, err := s.store.Summary(r.Context())
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, sum)
}

// ChargesPage is the answer of GET /internal/charges. Next is the last id
// of the page, to pass as after; empty on the last page.
type ChargesPage = kit.Page[Payment]

func (s *Service) charges(w http.ResponseWriter, r *http.Request) {
	kit.ServePage(w, r, DefaultChargesLimit, MaxChargesLimit, storeName, s.store.Charges, func(p Payment) string { return p.ID })
}
