// Package pgtest runs a real PostgreSQL (Debian's postgresql package, 15)
// for tests and the in-process lab: initdb into a temporary directory, then
// the postgres server on a free loopback port, as a non-root user.
//
//	Start ──► initdb -D DIR/data ──► postgres -p PORT -k DIR (child process)
//	  │                                   ▲
//	  └── NewDatabase: CREATE DATABASE ───┘   Stop: SIGINT (fast shutdown), rm DIR
//
// PostgreSQL refuses to run as root. When the tests run as root (as in the
// CI container), initdb and postgres run as the user "postgres" (which
// Debian's package creates), with its credentials set on the child process;
// the temporary directory is handed to that user. The server is a direct child
// of the test process, not daemonised by pg_ctl, so that it is killed with
// the test binary (Linux's parent-death signal) even when a test panics.
// It runs with fsync off: tests need speed, not durability across a crash
// of the machine.
//
// Shared gives a test package one server, started on first use and stopped
// by Main (call it from TestMain); each test takes a fresh database from it
// with Database, so tests neither share rows nor pay for a server each.
//
// A missing PostgreSQL skips the test with the command that installs it,
// except when tools are required: CI is set, FAULTLAB_REQUIRE_TOOLS=1, or
// FAULTLAB_TOOLS is set (as `make test` sets it after scripts/tools.sh) and
// the test is not -short. Then it fails the test.
//
// A Server is safe for concurrent use.
package pgtest
