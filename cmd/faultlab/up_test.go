package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUpConsoleFlag: --console takes a loopback address or off; anything
// else is refused in one line before the lab starts.
func TestUpConsoleFlag(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"every interface", []string{"up", "--console", "0.0.0.0:8090"}, nil, "loopback only"},
		{"another host", []string{"up", "--console", "example.com:8090"}, nil, "loopback only"},
		{"no port", []string{"up", "--console", "127.0.0.1"}, nil, "host:port"},
		{"from env", []string{"up"}, map[string]string{"FAULTLAB_CONSOLE": "10.0.0.1:8090"}, "loopback only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(context.Background(), tc.args, &out, &errb, func(k string) string { return tc.env[k] })
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}
