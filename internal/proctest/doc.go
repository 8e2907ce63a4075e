// Package proctest holds the helpers of tests that run real processes
// (etcd, kube-apiserver, Prometheus, compose and swarm stacks, the
// services' binaries): free loopback ports, polling with a deadline, and a
// process that lives as long as the test.
//
//	FreePorts / FreeAddrs ──► ports held together, so never one twice
//	Start(tb, name, cmd, sig) ──► runs until Cleanup: sig, 10s, kill;
//	                              its output is logged if the test failed
//	Eventually(tb, what, within, every, fn) ──► fn until nil or the deadline
//
// It is for tests only: its helpers end the test when they fail.
package proctest
