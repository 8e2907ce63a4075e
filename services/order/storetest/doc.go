// Package storetest is the conformance suite of order.Store: the same tests
// run against the SQLite store and the PostgreSQL store (see
// shop/stores_test.go, which runs every service's suite), including races of
// two stores on one database, as two order replicas would be: one Begin per
// key, one claim per order, one transition per version.
//
//	Run(t, backend) ──► backend(t): a fresh database ──► open(t) ×2 ──► order.Store
package storetest
