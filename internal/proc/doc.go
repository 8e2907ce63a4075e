// Package proc ends the child processes faultlab runs (VictoriaLogs and
// Filebeat for observability, the binaries and tools of the real-process
// tests) one way: a polite signal, a grace period, then SIGKILL.
//
//	Stop(p, done, sig, grace) ──► sig ──► exited within grace? ──► return
//	                                            └─ no ──► Kill ──► wait for done
package proc
