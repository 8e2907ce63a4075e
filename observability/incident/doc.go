// Package incident rebuilds one request's path across the lab's services
// from their ECS log lines: every line that carries the request's trace.id,
// from any service, sorted by @timestamp into a timeline.
//
//	Source (VictoriaLogs | Elasticsearch | Files) --lines of trace.id--> Timeline --[]Event--> Render --> text
//
// The lines come from a log store that Filebeat ships to (VictoriaLogs for
// the in-process lab, Elasticsearch for the compose stack) or straight from
// the lab's NDJSON files (var/logs/<service>.log). `faultlab incident
// <trace-id>` is the command-line front end.
package incident
