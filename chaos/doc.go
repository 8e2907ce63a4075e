// Package chaos runs chaos experiments against the lab and judges them.
//
// A Scenario is data: the faults to inject and when (Steps), the load to
// drive through the gateway (LoadProfile), and the hypothesis to check
// (Checks). Run executes it against an Env, which the in-process lab
// (chaos/lab) or the container lab implements:
//
//	before probe ──► main load ──────────────────────────────► after probe ──► verdicts
//	 (SteadyState)    │  At: ApplyFault     Until: RevertFault   (SteadyState)
//	                  │  sampler: breaker gauges, alerts (every 250ms)
//	                  └─ OnResult: per-phase results, captured headers
//
// Phases: "before" and "after" are the steady-state probes (a short load of
// the same mix), "during" is every result of the main load that started
// inside a fault window, "overall" is the whole main load. If a "before"
// check fails, the steady state was never there, so no fault is injected and
// the Result is Aborted.
//
// Every create_order attempt of every phase is recorded (chaos/history:
// key, items, status, and the ids and totals of a 201), and
// create_order_retrying clients send an order again with the same
// Idempotency-Key until its answer is final (201 or a permanent 4xx), as a
// careful client would. A CheckHistory check (in every scenario that
// places orders) runs after the faults are reverted:
//
//	Settle: Reconciler.Reconcile (where the Env can) ─► Historian.Snapshot
//	        ─► repeat every 200ms until no order pending, no charge
//	           processing, no unit reserved, or Within (default 20s) passes
//	history.Check(ops, snapshot) ─► "history: 0 anomalies in 1,234 operations"
//
// Its Report, every anomaly by order id, is Result.History and a section
// of both reports. Settle and VerifyHistory serve the soak and the crash
// tests too. Workload builds the load of a mix (the scenarios', the soak's
// and `faultlab load`'s), with the same recording clients for orders.
// ScaleToOrders stretches a scenario to a number of orders (`faultlab
// chaos run compound-faults --orders 1000`).
//
// Verdicts are Pass, Fail or Skipped (with a Note): a check the Env cannot
// answer (Alerts returning ErrNotSupported, an Env that is no Historian) is
// skipped, and Result.Passed ignores skipped verdicts.
//
// Report writers render a Result as Markdown, or as an HTML page with an
// inline SVG timeline (requests/s, success rate, p99, breaker state; fault
// windows shaded).
//
// Files: run.go is the runner (phases, fault schedule, progress), sample.go
// the sampler, check.go and judge.go the checks and the judge, result.go
// the Result, report.go the Markdown and HTML/SVG writers, scenario.go and
// scenarios.go the scenarios, calls.go the workload; experiment.go reads
// and writes experiment files, schema.go gives their JSON Schema, and
// catalogue.go embeds the built-in ones (experiments/*.yaml).
//
// Experiment files are YAML or JSON: the Go types' JSON form, except that
// durations are strings ("2s"). DecodeExperiment reads them strictly and
// names file, line, column and field path in every error:
//
//	x.yaml:14:7: faults[1].at: must be a duration like "2s" or "250ms", got 2
//
// A `file:"name,nonzero"` struct tag renames a field whose JSON form is
// custom, and marks one whose explicit 0 is an error.
//
// Scenario, Step, FaultSpec, Check and Result are plain JSON-serialisable
// values (durations are nanoseconds in JSON). Run may be called from several
// goroutines against different Envs; a single Env is driven by one Run at a
// time (faults are global to a lab).
package chaos
