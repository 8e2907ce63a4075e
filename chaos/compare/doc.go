// Package compare puts a number on what a resilience policy buys: it runs
// one chaos scenario under the lab's default policy and under each
// variant, one after another, each against a fresh lab started with the
// variant's policies, and writes one side-by-side report.
//
//	"payment:breaker=off" ─► ParseVariant ─► Variant{payment: ScenarioPolicy+breaker=off}
//	for each variant (the default first):
//	    Start(policies) ─► metrics snapshot ─► chaos.Run ─► metrics snapshot ─► Close
//	    └► Summary: verdicts, success rate, p99, retry amplification,
//	                time to detect, time to recover
//	WriteMarkdown / WriteHTML (a small SVG bar chart per metric)
//
// Every variant starts from the same state (a fresh lab, same seed data),
// so that one variant's leftovers (an open breaker, sold stock) never
// colour the next. The metrics:
//
//   - success rate and p99 are the main load's;
//   - retry amplification is attempts per logical call, over the run, by
//     the callers of the upstreams the variants change (all upstreams when
//     none);
//   - time to detect is from the first fault to the first sample of a
//     breaker on those upstreams open ("never" when none opened);
//   - time to recover is from the last fault's revert to the end of the
//     first second after it with 99% of requests successful ("not within
//     the load" when none), at the timeline's one-second resolution.
//
// Compare is not safe for concurrent use with another run against the same
// labs; its values are plain.
package compare
