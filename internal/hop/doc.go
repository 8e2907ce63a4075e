// Package hop builds the resilience client of one caller → upstream hop
// with the lab's per-hop policy, the way `faultlab up`, `faultlab serve` and
// the in-process labs do (shop calls it), so that a test that needs
// the real client in front of a service builds exactly the same one.
//
//	policy (flags, ScenarioPolicy or zero) ─► Layered(caller, up) ─► resilience.New
//	                                          per-hop timeouts         one Transport per hop
//
// It imports only resilience, so services' tests may use
// it without an import cycle through shop.
package hop
