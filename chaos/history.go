package chaos

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/chaos/history"
)

// Historian is implemented by an Env that can read its stores for the
// history check: orders with their events, charges, stock and the
// reservations still held. Without it, a CheckHistory is skipped.
type Historian interface {
	Snapshot(ctx context.Context) (history.Snapshot, error)
}

// Reconciler is implemented by an Env that can run order's reconciler on
// demand. Settle calls it before each look at the stores; without it,
// Settle waits for the lab's own periodic reconciler.
type Reconciler interface {
	Reconcile(ctx context.Context) error
}

// DefaultSettle is how long Settle waits for the shop to be quiet.
const DefaultSettle = 20 * time.Second

// Quiet reports whether snap shows nothing in flight: no pending order, no
// charge processing, no unit reserved.
func Quiet(snap history.Snapshot) bool {
	for _, o := range snap.Orders {
		if o.Status == history.StatusPending {
			return false
		}
	}
	for _, c := range snap.Charges {
		if c.Status == history.ChargeProcessing {
			return false
		}
	}
	for _, l := range snap.Stock {
		if l.Reserved != 0 {
			return false
		}
	}
	return true
}

// Settle waits, within the given time (0: DefaultSettle), for the shop to
// be quiet (Quiet), running the reconciler first each round where env can.
// It polls every 200ms and returns the last snapshot and whether it was
// quiet; a shop that never settles is for Check to judge, not an error.
// It returns an error wrapping ErrNotSupported when env is no Historian.
func Settle(ctx context.Context, env Env, within time.Duration) (history.Snapshot, bool, error) {
	h, ok := env.(Historian)
	if !ok {
		return history.Snapshot{}, false, fmt.Errorf("history: %w", ErrNotSupported)
	}
	if within <= 0 {
		within = DefaultSettle
	}
	deadline := time.Now().Add(within)
	var (
		snap    history.Snapshot
		lastErr error
		got     bool
	)
	for {
		if r, ok := env.(Reconciler); ok {
			if err := r.Reconcile(ctx); err != nil {
				lastErr = fmt.Errorf("reconcile: %w", err)
			}
		}
		s, err := h.Snapshot(ctx)
		if err == nil {
			snap, got, lastErr = s, true, nil
			if Quiet(snap) {
				return snap, true, nil
			}
		} else {
			lastErr = err
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		sleep(ctx, 200*time.Millisecond)
	}
	if !got {
		return snap, false, fmt.Errorf("history: snapshot: %w", errors.Join(lastErr, ctx.Err()))
	}
	return snap, false, nil
}

// VerifyHistory settles the shop (Settle) and checks ops against its
// stores. The faults must be off.
func VerifyHistory(ctx context.Context, env Env, ops []history.Op, within time.Duration) (history.Report, error) {
	snap, _, err := Settle(ctx, env, within)
	if err != nil {
		return history.Report{Ops: len(ops)}, err
	}
	return history.Check(ops, snap), nil
}
