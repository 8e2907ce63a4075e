package main

import (
	"strings"
	"testing"
)

// TestRunRefusesBadEnvironment: each bad or missing setting is a one-line
// error before anything is started (the image's real start is run by
// deploy.TestSwarmStack).
func TestRunRefusesBadEnvironment(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no PGDATA", map[string]string{"POSTGRES_PASSWORD": "pw"}, "PGDATA is not set"},
		{"no password", map[string]string{"PGDATA": t.TempDir()}, "POSTGRES_PASSWORD is not set"},
		{"password of two lines", map[string]string{"PGDATA": t.TempDir(), "POSTGRES_PASSWORD": "pw\nmore"}, "line break"},
		{"bad user", map[string]string{"PGDATA": t.TempDir(), "POSTGRES_PASSWORD": "pw", "POSTGRES_USER": "a; DROP"}, `POSTGRES_USER "a; DROP"`},
		{"bad database", map[string]string{"PGDATA": t.TempDir(), "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "Shop"}, `POSTGRES_DB "Shop"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := run(nil, func(k string) string { return tt.env[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("run = %v, want one line with %q", err, tt.want)
			}
		})
	}
}
