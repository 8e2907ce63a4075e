// Package k8s holds what the Kubernetes manifests in deploy/k8s are checked
// and generated with: the PrometheusRule generated from the rule files that
// promtool tests, and the kustomize build of an overlay.
//
//	observability/prometheus/rules/*.yml ─ PrometheusRule ─> base/prometheusrule.yaml (drift test)
//	overlays/{lab,chaos} ─ Build (kustomize) ─> objects ─┬─ strict decoding into the k8s.io/api types
//	chaos-mesh/*.yaml ─────────────────────────────────> ├─ contract tests against topology
//	                                                     └─ server-side dry run, strict field
//	                                                        validation, on a real kube-apiserver
//
// The dry run (apiserver_test.go) starts etcd and kube-apiserver on loopback
// (scripts/tools.sh builds and caches both) and installs the Chaos Mesh and
// Prometheus Operator CRDs from their Go modules, read from the module cache.
// It fails when CI is set and the binaries are missing, and is skipped, with
// the reason, elsewhere.
//
// The functions are safe for concurrent use; they share no state.
package k8s
