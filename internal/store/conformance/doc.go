// Package conformance gives the services' store conformance suites their two
// backends: SQLite in a temporary directory and PostgreSQL in a fresh
// database of the test package's shared server (pgtest).
//
//	suite (services/<svc>/storetest.Run) ──► Backend(t) ──► Open(t) ──► store
//	                                          one database   one store each call
//
// A Backend makes one empty database per test; every Open on it opens
// another store on that same database, as a second replica would, so that
// a suite can race two stores for one key or one order. Stores are closed
// when the test ends.
package conformance
