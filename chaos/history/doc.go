// Package history checks what the shop told its clients against what its
// stores hold, in the style of Jepsen: record every client operation, let
// the faults go and the shop settle, take a Snapshot of the stores, and list
// every anomaly by order id.
//
//	clients ──POST /orders──► shop            (faults on)
//	   │ Recorder.Record(Op)                  (key, items, status, answer)
//	   ▼
//	 []Op ─────────┐                          (faults off, shop quiet)
//	               ├──► Check ──► Report  "history: 0 anomalies in 1,000 operations"
//	 Snapshot ─────┘
//	 (orders + events, charges, stock, held reservations; Fetch reads the
//	  services' /internal endpoints, chaos/lab can read the stores straight)
//
// What Check holds the shop to (Kind constants):
//
//   - every 201 (first answer or replay) names an order that exists, is
//     confirmed, and has the items, total, currency and payment id the
//     client was told (lost-ack, changed-ack);
//   - a key whose answer was a permanent 4xx has no succeeded charge and no
//     confirmed order (charged-after-refusal);
//   - confirmed orders and succeeded charges match one to one with equal
//     amounts (order-without-charge, charge-without-order, duplicate-charge,
//     amount-mismatch);
//   - per product, sold = Σ quantities of confirmed orders (oversold,
//     undersold) and reserved = Σ quantities of pending orders
//     (reserved-mismatch, leaked-reservation), initial = available +
//     reserved + sold (conservation);
//   - the shop is quiet: no pending order, no charge still processing
//     (pending-after-quiescence, charge-in-flight);
//   - the event log of each order (in seq order; seq is the log's own)
//     has versions one apart, each event starting where the last ended and
//     ending at the order's status and version, and never leaves a final
//     state (left-final-state, version-gap); one key makes one order per
//     user (duplicate-order).
//
// Check assumes the Snapshot was taken after quiescence: faults removed and
// the reconciler run, so nothing is legitimately in flight. Ops whose answer
// was a transport error, a 5xx, a 409, 408, 425 or 429 (a retry may change
// it), or a 401 or 403 (the caller was refused, not the order) are
// indeterminate: only the global checks apply to their orders.
//
// The package is a leaf: it imports no service, its types are plain JSON
// (the shape of the services' /internal read endpoints). Recorder is safe
// for concurrent use; Check is a pure function.
package history
