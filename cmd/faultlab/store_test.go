package main

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
)

func TestDatabaseURL(t *testing.T) {
	const pg = "postgres://lab:secret@db:5432/faultlab"
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
		bad  bool
	}{
		{name: "default is sqlite"},
		{name: "flag", args: []string{"--store", pg}, want: pg},
		{name: "postgresql scheme", args: []string{"--store", "postgresql://db/x"}, want: "postgresql://db/x"},
		{name: "FAULTLAB_DATABASE_URL", env: map[string]string{"FAULTLAB_DATABASE_URL": pg}, want: pg},
		{name: "flag beats FAULTLAB_DATABASE_URL", args: []string{"--store", "sqlite"}, env: map[string]string{"FAULTLAB_DATABASE_URL": pg}},
		{name: "FAULTLAB_STORE beats FAULTLAB_DATABASE_URL", env: map[string]string{"FAULTLAB_STORE": "sqlite", "FAULTLAB_DATABASE_URL": pg}},
		{name: "mysql", args: []string{"--store", "mysql://lab:secret@db/x"}, bad: true},
		{name: "bad env", env: map[string]string{"FAULTLAB_DATABASE_URL": "lab:secret@db"}, bad: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			v := storeFlag(fs)
			getenv := func(k string) string { return tc.env[k] }
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			if err := envDefaults(fs, getenv); err != nil {
				t.Fatal(err)
			}
			got, err := databaseURL(fs, *v, getenv)
			if tc.bad {
				var ue *usageError
				if !errors.As(err, &ue) || strings.Contains(err.Error(), "secret") {
					t.Fatalf("err %v: want a usage error that does not echo the URL", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
