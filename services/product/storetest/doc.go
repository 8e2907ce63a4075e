// Package storetest is the conformance suite of product.Store: the same
// tests run against the SQLite store and the PostgreSQL store (see
// shop/stores_test.go, which runs every service's suite), including races of
// two stores on one database, as two product replicas would be: stock is
// never oversold, one reservation id reserves once, and the stock split
// stays whole.
//
//	Run(t, backend) ──► backend(t): a fresh database ──► open(t) ×2 ──► product.Store
package storetest
