// Package labtest starts in-process labs (chaos/lab) for tests and talks
// to them the way the tests of several packages need: one place for the
// cheap settings a test lab runs with and for placing an order.
//
//	Start(tb, cfg) ──► lab.Start(ephemeral, a temporary data directory,
//	                   cheap Argon2, ScenarioPolicy) ──► closed at Cleanup
//	Order(tb, l, token, key) ──► POST /api/v1/orders through the gateway
//
// It is for tests only: Start ends the test when the lab does not start.
package labtest
