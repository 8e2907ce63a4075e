// Package fault injects HTTP-level faults that Toxiproxy cannot make: an
// error status with Retry-After, a delay before the handler runs, and a
// response body that trickles out. Every service wraps its handler with
// Injector.Middleware and mounts Injector.Handler (behind
// auth.RequireService) at /internal/faults.
//
//	request ──► Middleware ──(for each matching fault, in order added,
//	                          fires with its Probability)──► next handler
//	              │ delay:     wait Delay (or until the request is cancelled)
//	              │ slow_body: the response is written at BytesPerSecond
//	              └ status:    answer Status as problem+json, stop
//
// The middleware never touches /internal/faults, /healthz, /readyz or
// /metrics, so a fault can always be removed and the service observed.
//
// Fault JSON: "delay" is a Go duration string ("500ms", "2s"); an omitted
// "probability" means 1, an explicit 0 is an error. In Go the zero
// Probability also means 1.
//
// Injector and Client are safe for concurrent use; Fault is a plain value.
package fault
