// Package storetest is the conformance suite of user.Store: the same tests
// run against the SQLite store and the PostgreSQL store (see
// shop/stores_test.go, which runs every service's suite), including two
// stores signing one email up at once.
//
//	Run(t, backend) ──► backend(t): a fresh database ──► open(t) ×2 ──► user.Store
package storetest
