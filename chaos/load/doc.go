// Package load is the lab's load generator: it sends a weighted mix of HTTP
// calls for a fixed duration and reports throughput, latency quantiles,
// status codes, per-call and per-second breakdowns, and a bounded sample of
// failed requests with their trace ids.
//
//	          open loop: a ticker issues Rate req/s ──┐
//	                                                  ├──► Concurrency workers ──► Client.Do ──► Result ──► collector ──► Report
//	closed loop (Rate 0): each worker loops at once ──┘                                            └──► OnResult
//
// Open loop: requests are issued on schedule whatever the latency, so a slow
// system does not slow the load down (no coordinated omission). At most
// Concurrency requests are in flight; a request due while all workers are
// busy is counted as dropped, never queued, so memory stays bounded and a
// drop is itself a signal that the system is slow.
//
// A Call with Do sends its request itself instead of Client.Do (reading
// the answer, or sending it again with the same headers until it is
// final, as chaos's recording order clients do); its Result is the final
// status, and its latency spans every attempt.
//
// An answer with an error status is not an error of the request: its
// Result.Err is nil and Result.Detail says what the answer said (the
// problem+json title and detail, or the start of the body), which the
// failed-request samples show. A Call's Do passes it on by returning
// Answer(status, body), an *AnswerError.
//
// Every request carries a fresh W3C traceparent; its trace id is in the
// Result, so a failed request can be found in the logs.
//
// Scheduling uses the monotonic wall clock (it must, to generate real load);
// Config.Now only stamps Results. Run is safe to call concurrently; Report is
// a plain value.
package load
