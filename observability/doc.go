// Package observability gives every service the same three signals:
//
//   - ECS JSON logs through log/slog (NewLogger), with trace.id and span.id
//     taken from the context of every *Context log call, and secrets redacted;
//   - W3C trace context (traceparent): Middleware accepts or starts a trace,
//     Transport propagates it on outbound calls;
//   - Prometheus metrics on a registry per service (NewRegistry), with RED
//     metrics per route recorded by Middleware.
//
// The inbound chain every service uses is
//
//	Middleware: trace ──► route label ──► RED metrics + access log ──► handler
//
// The configs that ship these signals (Prometheus rules and their promtool
// tests, Alertmanager, Filebeat, Logstash, Elasticsearch and Kibana) live in
// the folders beside this file.
package observability
