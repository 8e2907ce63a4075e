// Package containerlab runs the lab in containers, so the chaos scenarios
// that run against the in-process lab run, unchanged, against real network
// boundaries: each service in its own container from faultlab/faultlab:local,
// Toxiproxy (faultlab/toxiproxy:local, one proxy per hop as in
// docs/CONTRACTS.md) between every caller and callee, and Prometheus
// (faultlab/prometheus:local, the compose prometheus.yml and alert rules
// baked in) scraping them, all on a private Docker network:
//
//	host ──► gateway ──► toxiproxy:21001..21004 ──► user, product, order, payment
//	          order ──► toxiproxy:21006..21008 ──► user, product, payment
//	 product, payment ──► toxiproxy:21005, 21009 ──► user
//	       prometheus ──► every service's /metrics  (alerts for chaos checks)
//
// Every container port is published on a random host port so the harness
// can reach the gateway, each service's /metrics and fault API, Toxiproxy's
// API and Prometheus. Lab implements chaos.Env by embedding a *lab.Remote
// over those ports (token, toxics, HTTP faults, metrics, charges, stock,
// alerts, and the history check's Snapshot from the services' /internal
// read endpoints); only Events is its own: it reads each container's stderr
// (ECS NDJSON), since the log files stay inside the containers. The
// containers' own reconciler (every 5 s) settles the shop before the
// history check; there is no on-demand Reconcile.
//
// With Config.Replicas (chaos.ReplicaLayout, as docker-compose.yml runs
// it) a service runs as containers <service>-1..n, which mount one Docker
// volume at /data (their SQLite store, in WAL mode, on one host). The lab
// writes Toxiproxy's -config for its layout (one proxy per hop and callee
// replica, <caller>-to-<callee>-<n>, as docker/toxiproxy/toxiproxy.json for
// compose; TestProxiesMatchCompose checks the two agree), points each
// caller at its proxies as a list, and retargets the baked prometheus.yml's
// jobs at its containers (a no-op on compose's layout). Lab implements
// chaos.Replicas: Kill sends SIGKILL to a replica's container, Drain stops
// it (SIGTERM), Restart starts it again; a FaultReplica step does the same,
// so the replica scenarios run unchanged (TestReplicaKill).
//
// Config.Policy plays the part of the in-process lab's default policy: it
// reaches each container as FAULTLAB_POLICY_<UPSTREAM> (resilience.Policy's
// text form), and each service fills in the per-hop timeouts itself
// (shop.Layered), as in-process. The tests use the in-process suite's test
// policy, so breaker timings match.
//
// It uses testcontainers-go core (the toxiproxy module is not available
// here), with Ryuk disabled: the tests set TESTCONTAINERS_RYUK_DISABLED=true
// in TestMain and remove their containers and network themselves. The images
// come from scripts/images.sh, which the tests run (it rebuilds
// bin/faultlab and skips builds whose inputs have not changed); the tests
// then run the images by id, as images.sh reported them, never a stale tag.
package containerlab
