// Package clocktest provides a fake resilience.Clock so that tests move time
// by hand instead of sleeping.
//
//	c := clocktest.New(start)
//	go call()                 // the code under test calls c.After(d)
//	c.BlockUntil(t, 1)        // wait (on a channel, not a sleep) for that waiter
//	c.Advance(d)              // fire it
//
// NewAuto returns a clock whose After advances time by d and fires at once,
// for tests that only care that waits happened and how long they were
// (Waits lists them).
//
// A *Clock is safe for concurrent use.
package clocktest
