// Package lab runs the whole shop in one process and lets chaos scenarios
// drive it.
//
//	client ─► gateway ─► [Toxiproxy hop gateway-to-X] ─► X ─► [hop X-to-Y] ─► Y
//
// Start opens a listener per service, starts an embedded Toxiproxy server,
// creates one proxy per hop (named <caller>-to-<callee>, docs/CONTRACTS.md)
// and points every service's upstream URL at its hop, so every call between
// services can be slowed, cut or reset. Each service logs ECS NDJSON to
// <DataDir>/logs/<service>.log.
//
// Remote is the chaos.Env for a lab that is already running (started by
// `faultlab up`, or by Start): it reaches the gateway, the services'
// internal endpoints with the service key, Toxiproxy's API, the log files
// and, when configured, Prometheus. *Lab embeds a Remote.
//
// Both are safe for concurrent use.
package lab
