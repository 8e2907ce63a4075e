// Package storetest is the conformance suite of payment.Store: the same
// tests run against the SQLite store and the PostgreSQL store (see
// shop/stores_test.go, which runs every service's suite), including races of
// two stores on one database, as two payment replicas would be.
//
//	Run(t, backend) ──► backend(t): a fresh database ──► open(t) ×2 ──► payment.Store
package storetest
