package main

import (
	"flag"

	"github.com/faultlab/faultlab/internal/store"
)

// storeFlag adds --store: "sqlite" (files in --data-dir) or a PostgreSQL
// URL.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("store", "sqlite", "sqlite (databases in --data-dir) or a PostgreSQL URL, postgres://user:password@host:5432/db (also FAULTLAB_DATABASE_URL)")
}

// databaseURL returns the PostgreSQL URL the stores use, or "" for SQLite:
// --store (or FAULTLAB_STORE), else FAULTLAB_DATABASE_URL. The URL is not
// echoed in errors: it may hold a password.
func databaseURL(fs *flag.FlagSet, value string, getenv func(string) string) (string, error) {
	set := getenv("FAULTLAB_STORE") != ""
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "store" })
	if !set {
		value = getenv("FAULTLAB_DATABASE_URL")
		if value == "" {
			return "", nil
		}
	}
	switch {
	case value == "sqlite":
		return "", nil
	case store.IsPostgresURL(value):
		return value, nil
	}
	return "", usagef("--store (or FAULTLAB_DATABASE_URL): want sqlite or a postgres:// URL")
}
