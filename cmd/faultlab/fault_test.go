package main

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/chaos/fault"
)

func TestFaultSetListClear(t *testing.T) {
	l := startTestLab(t)
	pay := "http://" + l.Addrs["payment"]
	target := []string{"--url", pay, "--service-key", l.Keys.Service}
	fc := &fault.Client{BaseURL: pay, ServiceKey: l.Keys.Service, HTTP: l.HTTPClient()}
	ctx := context.Background()

	out, _, err := runCmd(t, append([]string{"fault", "set", "payment", "--kind", "status", "--status", "503", "--retry-after", "2", "--probability", "0.5", "--name", "burst", "--path-prefix", "/payments"}, target...)...)
	if err != nil {
		t.Fatalf("fault set: %v", err)
	}
	if !strings.Contains(out, "set burst") {
		t.Errorf("fault set printed %q", out)
	}
	_, _, err = runCmd(t, append([]string{"fault", "set", "payment", "--kind", "delay", "--delay", "500ms"}, target...)...)
	if err != nil {
		t.Fatalf("fault set delay: %v", err)
	}
	got, err := fc.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]fault.Fault{
		"burst": {Name: "burst", Kind: fault.KindStatus, Status: 503, RetryAfter: 2, Probability: 0.5, PathPrefix: "/payments"},
		"delay": {Name: "delay", Kind: fault.KindDelay, Delay: 500e6, Probability: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("service has %d faults, want %d: %+v", len(got), len(want), got)
	}
	for _, f := range got {
		w := want[f.Name]
		if f.Probability == 0 {
			f.Probability = 1
		}
		if f != w {
			t.Errorf("fault %s = %+v, want %+v", f.Name, f, w)
		}
	}

	out, _, err = runCmd(t, append([]string{"fault", "list", "payment"}, target...)...)
	if err != nil || !strings.Contains(out, "burst") || !strings.Contains(out, "delay") {
		t.Fatalf("fault list: %v\n%s", err, out)
	}
	if _, _, err := runCmd(t, append([]string{"fault", "clear", "payment", "burst"}, target...)...); err != nil {
		t.Fatalf("fault clear burst: %v", err)
	}
	if got, _ := fc.List(ctx); len(got) != 1 || got[0].Name != "delay" {
		t.Errorf("after clearing burst: %+v", got)
	}
	_, _, err = runCmd(t, append([]string{"fault", "clear", "payment", "burst"}, target...)...)
	if !errors.Is(err, fault.ErrNotFound) {
		t.Errorf("clearing a missing fault: %v, want ErrNotFound", err)
	}
	if _, _, err := runCmd(t, append([]string{"fault", "clear", "payment"}, target...)...); err != nil {
		t.Fatalf("fault clear: %v", err)
	}
	out, _, err = runCmd(t, append([]string{"fault", "list", "payment"}, target...)...)
	if err != nil || strings.TrimSpace(out) != "no faults" {
		t.Errorf("after clear: %v %q", err, out)
	}

	// The service key comes from the environment too; a wrong one is refused.
	var sb strings.Builder
	err = run(ctx, []string{"fault", "list", "payment", "--url", pay}, &sb, &sb, func(k string) string {
		if k == "FAULTLAB_SERVICE_KEY" {
			return "wrong"
		}
		return ""
	})
	if err == nil {
		t.Error("a wrong FAULTLAB_SERVICE_KEY was accepted")
	}
	if _, _, err := runCmd(t, append([]string{"fault", "set", "payment", "--status", "503"}, target...)...); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(pay+"/payments", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("with a 503 fault set, payment answered %d", resp.StatusCode)
	}
}

func TestFaultUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no subcommand", []string{"fault"}, "want set"},
		{"bad subcommand", []string{"fault", "break", "payment"}, "unknown subcommand"},
		{"no service", []string{"fault", "list"}, "which service"},
		{"unknown service", []string{"fault", "list", "billing"}, `unknown service "billing"`},
		{"gateway has no fault API", []string{"fault", "list", "gateway"}, "unknown service"},
		{"bad status", []string{"fault", "set", "payment", "--status", "200"}, "invalid fault"},
		{"bad probability", []string{"fault", "set", "payment", "--probability", "2"}, "invalid fault"},
		{"bad kind", []string{"fault", "set", "payment", "--kind", "explode"}, "invalid fault"},
		{"extra arg", []string{"fault", "clear", "payment", "a", "b"}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCmd(t, tc.args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v, want one line containing %q", err, tc.want)
			}
		})
	}
}
