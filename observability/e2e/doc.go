// Package e2e holds the lab's end-to-end observability test: the real
// tools, wired as `make observe` wires them, watching a real in-process lab
// while chaos scenarios break it.
//
//	lab services ──NDJSON──► LogDir/*.log ──Filebeat──► VictoriaLogs ◄── incident.Timeline
//	     │
//	     └──/metrics (1s)──► Prometheus + faultlab.rules.yml ──/api/v1/alerts──► chaos.Run (alert_fires)
//
// It asserts that an outage is detected (CircuitBreakerOpen fires during
// payment-down and resolves after recovery; TokenValidationDegraded fires
// during user-down), that the lab's lines reach VictoriaLogs through
// Filebeat, that a failing request's path can be rebuilt from its trace id,
// and that no log line carries a secret. The package has no non-test code.
package e2e
