package order

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

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

// drive takes a pending order that rn holds to an end: confirmed, failed,
// interrupted (only a fresh request), or pending with rn.blocked naming
// the upstream it waits for. Every step re-uses what the store says, so
// any run may pick up where another stopped:
//
//	payment id set ──► commit, confirm
//	priced ──► ask payment: charged ──► record it, commit, confirm;
//	           declined ──► fail; processing ──► ask it to finish (same
//	           key and request), then as above or wait; unknown ──► wait;
//	           none ──► go on
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
	if rec.Currency != "" && s.resumeCharge(ctx, rn, rec, resID) {
		return
	}
	res, ok := s.reserve(ctx, rn, rec, resID, items)
	if !ok {
		return
	}
	total, cur, ok := s.price(bg, rn, rec, resID, res)
	if !ok || !s.extendLease(bg, rn, rec) {
		return
	}
	s.charge(ctx, rn, rec, resID, total, cur)
}

// resumeCharge is for an order an earlier run got as far as pricing: it
// may have charged. It reports whether payment's answer settled this run.
func (s *Service) resumeCharge(ctx context.Context, rn *run, rec *Record, resID string) bool {
	found, ok, err := s.chargeOf(ctx, rec.ID)
	if err != nil {
		rn.block("payment", err)
		return true
	}
	if !ok {
		return false
	}
	if found.Status == payment.StatusProcessing {
		if !s.extendLease(context.WithoutCancel(ctx), rn, rec) {
			return true
		}
		found = s.finishCharge(ctx, rec, found)
	}
	switch found.Status {
	case payment.StatusSucceeded:
		s.paid(ctx, rn, rec, found)
	case payment.StatusDeclined:
		s.end(context.WithoutCancel(ctx), rn, rec, ReasonPaymentDeclined, "payment declined", http.StatusPaymentRequired, resID)
	default:
		rn.block("payment", fmt.Errorf("%w: charge of %s still processing", kit.ErrPending, rec.ID))
	}
	return true
}

// finishCharge asks payment again for a charge it has as processing,
// with the order's key and the charge's own request, and returns the
// charge as payment has it then. A charge stays processing until its key
// is asked again: its request may have died between payment's Begin and
// Complete (payment killed), and only a request with its key takes the
// claim over once its lease has run out, and finishes it. While the lease
// lasts payment answers 409, and the charge is returned as it was.
func (s *Service) finishCharge(ctx context.Context, rec *Record, found payment.Payment) payment.Payment {
	s.event(ctx, slog.LevelWarn, "order.charge_resent", rec, slog.String("labels.payment_id", found.ID))
	pay, err := s.payments.Charge(ctx, PaymentKey(found.OrderID), payment.ChargeRequest{
		OrderID: found.OrderID, UserID: found.UserID, AmountCents: found.AmountCents, Currency: found.Currency,
	})
	switch {
	case err == nil:
		return pay
	case errors.Is(err, payment.ErrDeclined):
		found.Status = payment.StatusDeclined
	}
	return found
}

// reserve reserves the order's items (idempotent by attempt). When product
// refuses or is unavailable, it ends or interrupts the run and reports
// false.
func (s *Service) reserve(ctx context.Context, rn *run, rec *Record, resID string, items []product.Item) (product.Reservation, bool) {
	bg := context.WithoutCancel(ctx)
	res, err := s.products.Reserve(ctx, resID, items)
	if err == nil {
		return res, true
	}
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
	return res, false
}

// price records the reservation's prices and the order's total. It reports
// false when the run stops (mixed currencies, or the write lost).
func (s *Service) price(bg context.Context, rn *run, rec *Record, resID string, res product.Reservation) (int64, string, bool) {
	next := *rec
	next.Items = unpriced(rec.Items)
	var total int64
	cur := ""
	for i, it := range res.Items {
		if cur != "" && it.Currency != cur {
			s.end(bg, rn, rec, ReasonMixedCurrencies, "all products of an order must share one currency", http.StatusUnprocessableEntity, resID)
			return 0, "", false
		}
		cur = it.Currency
		total += it.Quantity * it.UnitPriceCents
		if i < len(next.Items) {
			next.Items[i].UnitPriceCents = it.UnitPriceCents
		}
	}
	next.TotalCents, next.Currency, next.UpdatedAt = total, cur, s.now()
	if s.transition(bg, rn, rec, next) != nil {
		return 0, "", false
	}
	return total, cur, true
}

// extendLease extends the run's lease before the charge, which must not
// outlive it. A run that cannot has lost the order to another (or the
// store) and stops: it reports false.
func (s *Service) extendLease(bg context.Context, rn *run, rec *Record) bool {
	got, err := s.store.Extend(bg, rec.ID, rn.owner, s.now().Add(s.cfg.LeaseTTL))
	if err != nil {
		if errors.Is(err, ErrLeased) {
			*rec = got
		} else {
			rn.block("order store", err)
		}
		return false
	}
	rec.LeaseUntil = got.LeaseUntil
	return true
}

// charge asks payment for the order's total and settles the run on its
// answer.
func (s *Service) charge(ctx context.Context, rn *run, rec *Record, resID string, total int64, cur string) {
	bg := context.WithoutCancel(ctx)
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
	s.chargeUnanswered(ctx, rn, rec, resID, err)
}

// chargeUnanswered handles a charge that failed as unavailable or in
// flight (err): did it land anyway?
func (s *Service) chargeUnanswered(ctx context.Context, rn *run, rec *Record, resID string, err error) {
	bg := context.WithoutCancel(ctx)
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
// charged: an attempt left for payment and got no answer. A refused
// connection, an open breaker that sent nothing, or an answer from payment
// (even a 5xx) mean no charge was made by that attempt.
func mayHaveCharged(err error) bool {
	var se *kit.StatusError
	if errors.As(err, &se) {
		return false
	}
	return resilience.MayHaveReached(err)
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
