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
// API and Prometheus. Lab implements chaos.Env: toxics go to Toxiproxy, HTTP
// faults to the service's /internal/faults, events are read from each
// container's stderr (ECS NDJSON), alerts from Prometheus.
//
// It uses testcontainers-go core (the toxiproxy module is not available
// here), with Ryuk disabled: the tests set TESTCONTAINERS_RYUK_DISABLED=true
// in TestMain and remove their containers and network themselves. The images
// come from scripts/images.sh, which the tests run (it skips builds whose
// inputs have not changed).
package containerlab
