// Package proc ends the child processes faultlab runs (VictoriaLogs and
// Filebeat for observability, the binaries and tools of the real-process
// tests) one way: a polite signal, a grace period, then SIGKILL.
//
//	Stop(p, done, sig, grace) ──► sig ──► exited within grace? ──► return
//	                                            └─ no ──► Kill ──► wait for done
//
// WaitHTTP waits for a child that has just started: it polls a URL until
// it answers 200, the child exits (ErrExited) or the context ends.
package proc
