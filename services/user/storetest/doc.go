// Package storetest is the conformance suite of user.Store: the same tests
// run against the SQLite store and the PostgreSQL store (see
// storetest_test.go), including two stores signing one email up at once.
//
//	Run(t, backend) ──► backend(t): a fresh database ──► open(t) ×2 ──► user.Store
package storetest
