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
// With Config.Replicas a service that others call runs as several
// replicas, each on its own listener (topology.ReplicaPort) behind its own
// proxy per caller, <caller>-to-<callee>-<n>; callers balance over them
// (resilience.Config.Endpoints). Replicas share their service's store in
// DataDir and each runs the service's background work. Kill, Drain and
// Restart stop and start one replica (chaos.FaultReplica steps, and
// `faultlab kill|drain|restart` through AdminHandler).
//
// Remote is the chaos.Env for a lab that is already running (started by
// `faultlab up`, or by Start): it reaches the gateway, the services'
// internal endpoints with the service key, Toxiproxy's API, the log files
// and, when configured, Prometheus. *Lab embeds a Remote.
//
// Both are safe for concurrent use.
package lab
