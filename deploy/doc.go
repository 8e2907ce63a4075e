// Package deploy validates the lab's container deployment: docker-compose.yml,
// the chaos overlay docker-compose.chaos.yml and the Toxiproxy configuration
// docker/toxiproxy/toxiproxy.json, against docs/CONTRACTS.md.
//
// The files are loaded the way Compose loads them (variables interpolated with
// their defaults, YAML anchors and merge keys resolved, overlays merged) into a
// small model, and each rule is a function that returns every violation it
// finds, so a test can show both that the real files pass and that a broken
// file fails:
//
//	docker-compose.yml ─┐
//	                    ├─ Load ─> Project ─┬─ CheckPorts        only the gateway is public
//	chaos overlay ──────┘                   ├─ CheckCore         image, command, healthcheck, depends_on, networks, replicas
//	                                        ├─ CheckImages       every image pinned to a tag
//	CONTRACTS.md ─ ParseContracts ─┐        └─ CheckHops         one proxy per hop and replica, callers routed through them
//	toxiproxy.json ─ LoadProxies ──┘
//
// The tests also run `docker-compose config` (or `docker compose config`),
// which must accept the files, and feed its merged output to the same checks.
//
// Past one machine: TestSwarmStack deploys swarm/stack.yml (the shop on the
// local PostgreSQL image) on a one-node Docker Swarm and, under load, kills a
// payment task and rolls payment and order, checking the history of the
// orders against the stores; the Kubernetes manifests and Chaos Mesh
// experiments are checked in the k8s sub-package.
//
// Nothing here is safe for concurrent mutation; the values are read-only after
// loading.
package deploy
