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
// Verdicts are Pass, Fail or Skipped (with a Note): a check the Env cannot
// answer (Alerts returning ErrNotSupported) is skipped, and Result.Passed
// ignores skipped verdicts.
//
// Report writers render a Result as Markdown, or as an HTML page with an
// inline SVG timeline (requests/s, success rate, p99, breaker state; fault
// windows shaded).
//
// Scenario, Step, FaultSpec, Check and Result are plain JSON-serialisable
// values (durations are nanoseconds in JSON). Run may be called from several
// goroutines against different Envs; a single Env is driven by one Run at a
// time (faults are global to a lab).
package chaos
