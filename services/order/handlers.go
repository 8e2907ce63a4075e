package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/product"
)

// CreateRequest is the body of POST /orders.
type CreateRequest struct {
	Items []product.Item `json:"items"`
}

func (s *Service) create(w http.ResponseWriter, r *http.Request) {
	p, _ := auth.FromContext(r.Context())
	key, req, ok := s.parseCreate(w, r)
	if !ok {
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
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
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
			problem.Write(w, r, kit.StoreUnavailable(storeName, err))
			return
		}
	}
	defer func() { _ = s.store.Unlease(bg, got.ID, rn.owner) }()
	if got.Status == StatusInterrupted {
		s.newAttempt(bg, rn, &got)
	}
	if got.Status == StatusPending && got.LeaseOwner == rn.owner {
		s.drive(ctx, rn, &got)
	}
	s.writeAnswer(w, r, &got, rn)
}

// parseCreate reads the Idempotency-Key and the body of POST /orders. On
// a bad request it writes the problem and reports false.
func (s *Service) parseCreate(w http.ResponseWriter, r *http.Request) (string, CreateRequest, bool) {
	var req CreateRequest
	if n := len(r.Header.Values(kit.IdempotencyKeyHeader)); n > 1 {
		problem.Write(w, r, problem.Newf(http.StatusBadRequest, "send one Idempotency-Key header, not %d", n))
		return "", req, false
	}
	key, ok := kit.DecodeKeyed(w, r, &req, 32<<10)
	if !ok {
		return "", req, false
	}
	if len(req.Items) == 0 || len(req.Items) > s.cfg.MaxLines {
		pe := problem.Newf(http.StatusBadRequest, "invalid order: an order holds 1 to %d lines", s.cfg.MaxLines)
		pe.Errors = []problem.FieldError{{Field: "items", Detail: fmt.Sprintf("must hold 1 to %d lines", s.cfg.MaxLines)}}
		problem.Write(w, r, pe)
		return "", req, false
	}
	if bad := product.ValidateItems(req.Items); len(bad) > 0 {
		pe := problem.BadRequest("invalid order: " + bad[0].Field + " " + bad[0].Detail)
		pe.Errors = bad
		problem.Write(w, r, pe)
		return "", req, false
	}
	return key, req, true
}

// newAttempt runs an interrupted order again, as a new attempt: a replay
// does that.
func (s *Service) newAttempt(bg context.Context, rn *run, got *Record) {
	next := *got
	next.Attempt++
	next.Status, next.Reason, next.RespStatus, next.RespBody, next.RetryAfter = StatusPending, "", 0, nil, 0
	next.TotalCents, next.Currency = 0, ""
	next.Items = unpriced(got.Items)
	next.UpdatedAt = s.now()
	if s.transition(bg, rn, got, next) == nil {
		rn.fresh = true
	}
}

func unpriced(lines []Line) []Line {
	out := make([]Line, len(lines))
	for i, l := range lines {
		out[i] = Line{ProductID: l.ProductID, Quantity: l.Quantity}
	}
	return out
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

// HistoryPage is the answer of GET /internal/orders. Next is the last id
// of the page, to pass as after; empty on the last page.
type HistoryPage = kit.Page[History]

// History limits of GET /internal/orders.
const (
	DefaultHistoryLimit = 1000
	MaxHistoryLimit     = 5000
)

func (s *Service) history(w http.ResponseWriter, r *http.Request) {
	kit.ServePage(w, r, DefaultHistoryLimit, MaxHistoryLimit, storeName, s.store.History, func(h History) string { return h.ID })
}

func (s *Service) get(w http.ResponseWriter, r *http.Request) {
	kit.ServeOwned(w, r, storeName, ErrNotFound, func(ctx context.Context, id string) (any, string, error) {
		rec, err := s.store.Get(ctx, id)
		return rec.Order, rec.UserID, err
	})
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
		problem.Write(w, r, kit.StoreUnavailable(storeName, err))
		return
	}
	l := List{Items: orders, Limit: limit, Total: total}
	if more && len(orders) > 0 {
		l.NextCursor = CursorAfter(orders[len(orders)-1]).String()
		w.Header().Set("Link", fmt.Sprintf(`<%s?limit=%d&cursor=%s>; rel="next"`, s.cfg.PublicURL+PublicPrefix, limit, l.NextCursor))
	}
	problem.WriteJSON(w, http.StatusOK, l)
}
