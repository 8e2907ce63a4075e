package product

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/topology"
)

// Routes.
const (
	RouteProducts     = "/products"
	RouteProduct      = "/products/:id"
	RouteReservations = "/internal/reservations"
	RouteRelease      = "/internal/reservations/:id/release"
	RouteCommit       = "/internal/reservations/:id/commit"
	RouteStock        = "/internal/stock"
	// PublicPrefix is where the gateway publishes the catalogue.
	PublicPrefix = topology.RouteProducts
)

// Defaults and bounds.
const (
	DefaultLimit = 20
	MaxLimit     = 100
	MaxOffset    = 1_000_000
	MaxItems     = 50
	MaxQuantity  = 10_000
	// DefaultReservationTTL is how long a reservation holds stock unless
	// renewed (a repeated reserve of its id renews it).
	DefaultReservationTTL = 10 * time.Minute
	maxBody               = 16 << 10
)

// Config configures the product service. The zero value works: an
// in-memory store with the seed catalogue, tokens validated by the user
// service at its default URL in the topology through kit.DefaultClient.
type Config struct {
	// Base is the logger, registry, public URL, keys, clock, Wrap and Mount.
	kit.Base
	// DataDir holds product.db; empty keeps it in memory.
	DataDir string
	// Store overrides the SQLite store (New takes ownership).
	Store Store
	// Tokens reach the user service and check bearer tokens.
	kit.Tokens
	// NoSeed skips seeding the catalogue into an empty store.
	NoSeed bool
	// ReservationTTL bounds how long a reservation holds stock; default
	// DefaultReservationTTL. Product gives expired stock back itself
	// (Sweep, and before a reservation is refused for want of stock).
	ReservationTTL time.Duration
}

// Service is the product service, an http.Handler safe for concurrent use.
type Service struct {
	*kit.Frame // ServeHTTP, Registry, Close
	cfg        Config
	log        *slog.Logger
	store      Store
}

// Seed is the catalogue an empty store starts with.
var Seed = []Product{
	{ID: "prd_001", Name: "Chaos Monkey Plush", Description: "Unplugs your servers, gently.", PriceCents: 1999, Stock: 100},
	{ID: "prd_002", Name: "Circuit Breaker Mug", Description: "Trips when the coffee is too hot.", PriceCents: 1250, Stock: 50},
	{ID: "prd_003", Name: "Retry Budget Notebook", Description: "Ten percent of pages are spare.", PriceCents: 799, Stock: 200},
	{ID: "prd_004", Name: "Bulkhead Water Bottle", Description: "Four compartments, no leaks between them.", PriceCents: 2499, Stock: 30},
	{ID: "prd_005", Name: "Toxiproxy Sticker Pack", Description: "Adds latency to your laptop lid.", PriceCents: 399, Stock: 100000},
	{ID: "prd_006", Name: "Idempotency Key Ring", Description: "Open the same door twice, once.", PriceCents: 599, Stock: 150},
	{ID: "prd_007", Name: "Graceful Degradation Hoodie", Description: "Still warm with one sleeve.", PriceCents: 5999, Stock: 20},
	{ID: "prd_008", Name: "On-Call Pillow", Description: "Wakes you only for real alerts.", PriceCents: 3499, Stock: 10},
}

// New builds the service, opening its store and seeding it if empty.
func New(cfg Config) (*Service, error) {
	cfg.ReservationTTL = kit.Positive(cfg.ReservationTTL, DefaultReservationTTL)
	spec := kit.Spec{Name: topology.Product, Base: &cfg.Base, Tokens: &cfg.Tokens}
	f, st, err := kit.OpenFrame(spec, cfg.Store, OpenStore, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Service{Frame: f, cfg: cfg, log: cfg.Logger, store: st}
	if !cfg.NoSeed {
		ctx, cancel := context.WithTimeout(context.Background(), kit.StartupTimeout)
		defer cancel()
		if err := s.seed(ctx); err != nil {
			st.Close()
			return nil, fmt.Errorf("product: seed: %w", err)
		}
	}
	caller := auth.RequireCaller(cfg.Keys)
	svc := auth.RequireService(cfg.Keys.Service)
	authn := kit.Authenticate(cfg.Validator)
	r := f.Router()
	r.Handle(http.MethodGet, RouteProducts, caller(http.HandlerFunc(s.list)))
	r.Handle(http.MethodGet, RouteProduct, caller(http.HandlerFunc(s.get)))
	r.Handle(http.MethodPost, RouteProducts, router.Chain(http.HandlerFunc(s.create), caller, authn))
	r.Handle(http.MethodPost, RouteReservations, svc(http.HandlerFunc(s.reserve)))
	r.Handle(http.MethodGet, RouteReservations, svc(http.HandlerFunc(s.reservations)))
	r.Handle(http.MethodPost, RouteRelease, svc(http.HandlerFunc(s.release)))
	r.Handle(http.MethodPost, RouteCommit, svc(http.HandlerFunc(s.commit)))
	r.Handle(http.MethodGet, RouteStock, svc(http.HandlerFunc(s.stock)))
	f.Serve(r)
	return s, nil
}

func (s *Service) seed(ctx context.Context) error {
	n, err := s.store.Count(ctx)
	if err != nil || n > 0 {
		return err
	}
	now := s.cfg.Now().UTC()
	for _, p := range Seed {
		p.Currency, p.CreatedAt = "EUR", now
		if err := s.store.Create(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

// Page is the answer of GET /products.
type Page struct {
	Items  []Product `json:"items"`
	Limit  int       `json:"limit"`
	Offset int       `json:"offset"`
	Total  int       `json:"total"`
}

// paging bounds GET /products.
var paging = kit.Paging{DefaultLimit: DefaultLimit, MaxLimit: MaxLimit, MaxOffset: MaxOffset}

func (s *Service) list(w http.ResponseWriter, r *http.Request) {
	limit, offset, perr := paging.Parse(r)
	if perr != nil {
		problem.Write(w, r, perr)
		return
	}
	items, total, err := s.store.List(r.Context(), limit, offset)
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable("catalogue", err))
		return
	}
	if link := kit.NextLink(s.cfg.PublicURL+PublicPrefix, limit, offset, len(items), total); link != "" {
		w.Header().Set("Link", link)
	}
	problem.WriteJSON(w, http.StatusOK, Page{Items: items, Limit: limit, Offset: offset, Total: total})
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	id := router.Param(r, "id")
	if !kit.ValidID(id) {
		problem.Write(w, r, problem.NotFound("no such product"))
		return
	}
	p, err := s.store.Get(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		problem.Write(w, r, problem.NotFound("no such product"))
		return
	}
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable("catalogue", err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, p)
}

// CreateRequest is the body of POST /products.
type CreateRequest struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	PriceCents  int64  `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int64  `json:"stock"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	if !p.IsAdmin() {
		problem.Write(w, r, problem.Forbidden("only admins may add products"))
		return
	}
	var req CreateRequest
	if err := problem.DecodeJSON(w, r, &req, maxBody); err != nil {
		problem.Write(w, r, err)
		return
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Currency == "" {
		req.Currency = "EUR"
	}
	var bad []problem.FieldError
	if n := utf8.RuneCountInString(req.Name); n == 0 || n > 200 || !utf8.ValidString(req.Name) {
		bad = append(bad, problem.FieldError{Field: "name", Detail: "must be 1 to 200 characters"})
	}
	if utf8.RuneCountInString(req.Description) > 2000 {
		bad = append(bad, problem.FieldError{Field: "description", Detail: "must be at most 2000 characters"})
	}
	if req.PriceCents <= 0 || req.PriceCents > 100_000_000 {
		bad = append(bad, problem.FieldError{Field: "price_cents", Detail: "must be from 1 to 100000000"})
	}
	if req.Currency != "EUR" {
		bad = append(bad, problem.FieldError{Field: "currency", Detail: "must be EUR"})
	}
	if req.Stock < 0 || req.Stock > 1_000_000 {
		bad = append(bad, problem.FieldError{Field: "stock", Detail: "must be from 0 to 1000000"})
	}
	if pe := problem.Invalid(http.StatusUnprocessableEntity, "invalid product", bad); pe != nil {
		problem.Write(w, r, pe)
		return
	}
	prod := Product{
		ID: kit.NewID("prd_"), Name: req.Name, Description: req.Description,
		PriceCents: req.PriceCents, Currency: req.Currency, Stock: req.Stock, CreatedAt: s.cfg.Now().UTC(),
	}
	if err := s.store.Create(r.Context(), prod); err != nil {
		problem.Write(w, r, kit.StoreUnavailable("catalogue", err))
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "product created",
		slog.String(observability.FieldEventAction, "product.created"),
		slog.String("labels.product_id", prod.ID), slog.String(observability.FieldUserID, p.UserID))
	w.Header().Set("Location", s.cfg.PublicURL+PublicPrefix+"/"+prod.ID)
	problem.WriteJSON(w, http.StatusCreated, prod)
}

// ReserveRequest is the body of POST /internal/reservations.
type ReserveRequest struct {
	ID    string `json:"id"`
	Items []Item `json:"items"`
}

// ValidateItems checks order lines: 1..MaxItems lines, ids well formed,
// quantities 1..MaxQuantity, no product twice.
func ValidateItems(items []Item) []problem.FieldError {
	var bad []problem.FieldError
	if len(items) == 0 || len(items) > MaxItems {
		return []problem.FieldError{{Field: "items", Detail: fmt.Sprintf("must hold 1 to %d lines", MaxItems)}}
	}
	seen := map[string]bool{}
	for i, it := range items {
		f := fmt.Sprintf("items[%d]", i)
		if !kit.ValidID(it.ProductID) {
			bad = append(bad, problem.FieldError{Field: f + ".product_id", Detail: "must be a product id"})
		} else if seen[it.ProductID] {
			bad = append(bad, problem.FieldError{Field: f + ".product_id", Detail: "product " + it.ProductID + " appears twice; merge the lines"})
		}
		seen[it.ProductID] = true
		if it.Quantity < 1 || it.Quantity > MaxQuantity {
			bad = append(bad, problem.FieldError{Field: f + ".quantity", Detail: fmt.Sprintf("must be from 1 to %d", MaxQuantity)})
		}
	}
	return bad
}

func (s *Service) reserve(w http.ResponseWriter, r *http.Request) {
	var req ReserveRequest
	if err := problem.DecodeJSON(w, r, &req, maxBody); err != nil {
		problem.Write(w, r, err)
		return
	}
	bad := ValidateItems(req.Items)
	if !kit.ValidID(req.ID) {
		bad = append(bad, problem.FieldError{Field: "id", Detail: "must be 1 to 64 characters of [A-Za-z0-9_-]"})
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid reservation", bad); p != nil {
		problem.Write(w, r, p)
		return
	}
	now := s.cfg.Now()
	res, created, err := s.store.Reserve(r.Context(), req.ID, req.Items, now, now.Add(s.cfg.ReservationTTL))
	if errors.Is(err, ErrInsufficientStock) {
		// Expired stock goes back before anyone is told there is none.
		// Only then: the sweeper gives it back in the background, and a
		// sweep on every reserve would add a write to the hot path.
		if n, serr := s.Sweep(r.Context()); serr == nil && n > 0 {
			res, created, err = s.store.Reserve(r.Context(), req.ID, req.Items, now, now.Add(s.cfg.ReservationTTL))
		}
	}
	if err != nil {
		problem.Write(w, r, stockProblem(err))
		return
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "stock reserved",
			slog.String(observability.FieldEventAction, "stock.reserved"),
			slog.String("labels.reservation_id", res.ID), slog.Int("labels.lines", len(res.Items)))
	}
	problem.WriteJSON(w, status, res)
}

func stockProblem(err error) *problem.Error {
	switch {
	case errors.Is(err, ErrUnknownProduct):
		return problem.Wrap(http.StatusUnprocessableEntity, err.Error(), err)
	case errors.Is(err, ErrKeyReused):
		return problem.Wrap(http.StatusUnprocessableEntity, err.Error(), err)
	case errors.Is(err, ErrInsufficientStock), errors.Is(err, ErrState):
		return problem.Wrap(http.StatusConflict, err.Error(), err)
	case errors.Is(err, ErrNotFound):
		return problem.Wrap(http.StatusNotFound, "no such reservation", err)
	}
	return kit.StoreUnavailable("stock", err)
}

func (s *Service) release(w http.ResponseWriter, r *http.Request) {
	s.finish(w, r, s.store.Release, "stock.released")
}

func (s *Service) commit(w http.ResponseWriter, r *http.Request) {
	s.finish(w, r, s.store.Commit, "stock.committed")
}

func (s *Service) finish(w http.ResponseWriter, r *http.Request,
	op func(context.Context, string, time.Time) (Reservation, bool, error), action string) {
	id := router.Param(r, "id")
	if !kit.ValidID(id) {
		problem.Write(w, r, problem.NotFound("no such reservation"))
		return
	}
	res, changed, err := op(r.Context(), id, s.cfg.Now())
	if err != nil {
		problem.Write(w, r, stockProblem(err))
		return
	}
	if changed {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, strings.ReplaceAll(action, ".", " "),
			slog.String(observability.FieldEventAction, action),
			slog.String("labels.reservation_id", res.ID))
	}
	problem.WriteJSON(w, http.StatusOK, res)
}

// StockSummary is the answer of GET /internal/stock.
type StockSummary struct {
	Products   []StockLevel `json:"products"`
	Initial    int64        `json:"initial"`
	Available  int64        `json:"available"`
	Reserved   int64        `json:"reserved"`
	Sold       int64        `json:"sold"`
	Consistent bool         `json:"consistent"`
}

func (s *Service) stock(w http.ResponseWriter, r *http.Request) {
	levels, err := s.store.Stock(r.Context())
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable("stock", err))
		return
	}
	sum := StockSummary{Products: levels, Consistent: true}
	for _, l := range levels {
		sum.Initial += l.Initial
		sum.Available += l.Available
		sum.Reserved += l.Reserved
		sum.Sold += l.Sold
		if l.Initial != l.Available+l.Reserved+l.Sold || l.Available < 0 || l.Reserved < 0 || l.Sold < 0 {
			sum.Consistent = false
		}
	}
	problem.WriteJSON(w, http.StatusOK, sum)
}

// Sweep gives back the stock of reservations whose TTL has passed and
// returns how many it expired. The app wiring calls it periodically; a new
// reservation calls it first.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	n, err := s.store.Sweep(ctx, s.cfg.Now())
	if err != nil {
		return 0, fmt.Errorf("product: %w", err)
	}
	if n > 0 {
		s.log.LogAttrs(ctx, slog.LevelWarn, "reservations expired",
			slog.String(observability.FieldEventAction, "stock.expired"), slog.Int("labels.count", n))
	}
	return n, nil
}

// Reservations is the answer of GET /internal/reservations.
type Reservations struct {
	Items []Reservation `json:"items"`
}

func (s *Service) reservations(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		problem.Write(w, r, problem.BadRequest("malformed query string"))
		return
	}
	state := q.Get("state")
	switch {
	case len(q["state"]) > 1:
		problem.Write(w, r, problem.BadRequest("state must be given once"))
		return
	case state != "" && state != StateReserved && state != StateReleased && state != StateCommitted && state != StateExpired:
		problem.Write(w, r, problem.BadRequest("state must be one of reserved, released, committed, expired"))
		return
	}
	items, err := s.store.Reservations(r.Context(), state)
	if err != nil {
		problem.Write(w, r, kit.StoreUnavailable("stock", err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, Reservations{Items: items})
}
