package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestUpConsoleFlag: --console (or FAULTLAB_CONSOLE) takes a loopback
// address or off; anything else is refused in one line before the lab
// starts.
func TestUpConsoleFlag(t *testing.T) {
	want := map[string]string{"0.0.0.0:8090": "loopback only", "example.com:8090": "loopback only", "127.0.0.1": "host:port"}
	for addr, msg := range want {
		_, _, err := runCmd(t, "up", "--console", addr)
		if err == nil || !strings.Contains(err.Error(), msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("--console %s: err = %v, want one line containing %q", addr, err, msg)
		}
	}
	env := func(k string) string { return map[string]string{"FAULTLAB_CONSOLE": "10.0.0.1:8090"}[k] }
	err := run(context.Background(), []string{"up"}, &bytes.Buffer{}, &bytes.Buffer{}, env)
	if err == nil || !strings.Contains(err.Error(), "loopback only") {
		t.Errorf("FAULTLAB_CONSOLE=10.0.0.1:8090: err = %v, want it refused", err)
	}
}
