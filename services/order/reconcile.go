package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

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

// Reconcile makes one pass: it retries the queued releases, then claims
// each pending order that no live run holds, re-reads it under the claim
// and drives it on (drive). It returns how many orders it settled and the
// errors of those still pending.
//
// A pass stops at the first call an upstream's circuit breaker refuses
// (resilience.ErrOpen): the orders and charge checks after it wait for the
// next pass rather than each being refused in turn (with payment down,
// hundreds of refused calls and log lines a second). The oldest come
// first, so every pass still probes once; queued releases are retried at
// the start of every pass.
func (s *Service) Reconcile(ctx context.Context) (int, error) {
	var pe passErrors
	pe.add(s.drainOutbox(ctx))
	ids, err := s.store.Pending(ctx)
	if err != nil {
		pe.add(fmt.Errorf("reconcile: %w", err))
		return 0, pe.join()
	}
	n := 0
	for i, id := range ids {
		if ctx.Err() != nil {
			break
		}
		if pe.open != nil {
			pe.add(fmt.Errorf("reconcile: %d pending orders wait for the next pass: %w", len(ids)-i, pe.open))
			break
		}
		rn := s.newRun(ctx, ActorReconciler)
		now := s.now()
		rec, err := s.store.Claim(ctx, id, rn.owner, now, now.Add(s.cfg.LeaseTTL))
		if errors.Is(err, ErrLeased) {
			continue // a live run owns it
		}
		if err != nil {
			pe.add(fmt.Errorf("order %s: %w", id, err))
			continue
		}
		if rec.Status == StatusPending {
			s.drive(ctx, rn, &rec)
		}
		_ = s.store.Unlease(context.WithoutCancel(ctx), id, rn.owner)
		switch {
		case rec.Status == StatusPending && rn.blocked != "":
			pe.add(fmt.Errorf("order %s: %w: %s: %w", id, kit.ErrPending, rn.blocked, rn.blockErr))
		case rec.Status != StatusPending:
			n++
			s.event(ctx, slog.LevelInfo, "order.reconciled", &rec)
		}
	}
	if pe.open == nil {
		pe.add(s.drainOutbox(ctx))
	}
	return n, pe.join()
}

// passErrors gathers the errors of a reconciler pass and keeps the first
// one an open circuit breaker caused, which ends the pass's upstream work.
type passErrors struct {
	errs []error
	open error
}

func (p *passErrors) add(err error) {
	if err == nil {
		return
	}
	p.errs = append(p.errs, err)
	if p.open == nil && errors.Is(err, resilience.ErrOpen) {
		p.open = err
	}
}

func (p *passErrors) join() error { return errors.Join(p.errs...) }

func (s *Service) drainOutbox(ctx context.Context) error {
	items, err := s.store.Outbox(ctx)
	if err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	queued := make(map[string]time.Time, len(items))
	var pe passErrors
	for _, it := range items {
		switch it.Op {
		case OpRelease:
			queued[it.ReservationID] = it.CreatedAt
		case OpVerifyCharge:
			if pe.open != nil {
				continue // payment's breaker refused this pass: next pass
			}
			pe.add(s.verifyCharge(ctx, it))
		}
	}
	pe.add(s.release(ctx, queued))
	return pe.join()
}

// verifyCharge asks payment whether the interrupted attempt's charge
// landed after all, every pass until a lease term has passed (by then
// every call of the attempt is over). One still processing ──► ask
// payment to finish it (finishCharge). None ──► done. One that succeeded
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
		// Payment finishes it only when its key is asked again.
		rec, gerr := s.store.Get(ctx, it.OrderID)
		if gerr != nil {
			rec = Record{Order: Order{ID: it.OrderID}}
		}
		if found = s.finishCharge(ctx, &rec, found); found.Status == payment.StatusProcessing {
			return nil // its claim still runs; ask again next pass
		}
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
