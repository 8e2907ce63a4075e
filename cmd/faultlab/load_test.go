package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/chaos"
)

func TestLoadAgainstLab(t *testing.T) {
	l := startTestLab(t)
	out, stderr, err := runCmd(t, "load", "--gateway", "http://"+l.Addrs["gateway"], "--rate", "40", "--duration", "1s",
		"--mix", "list_products=3,get_product=1,create_order=1")
	if err != nil {
		t.Fatalf("load: %v\n%s", err, stderr)
	}
	t.Logf("\n%s", out)
	m := regexp.MustCompile(`requests  (\d+) in .*: ([\d.]+) rps achieved, ([\d.]+)% ok`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line:\n%s", out)
	}
	if m[1] == "0" || m[3] != "100.00" {
		t.Errorf("requests %s, ok %s%%: want some, all successful", m[1], m[3])
	}
	for _, want := range []string{"p50 ", "p90 ", "p99 ", "max ", "200=", "201=", "list_products", "get_product", "create_order"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// With --token there is no login: a bad token is refused per request.
	out, _, err = runCmd(t, "load", "--gateway", "http://"+l.Addrs["gateway"], "--rate", "20", "--duration", "500ms",
		"--token", "not-a-token", "--mix", "create_order")
	if err != nil || !strings.Contains(out, "401=") || strings.Contains(out, "201=") {
		t.Errorf("orders with a bad token: %v\n%s", err, out)
	}
}

func TestBenchGatewayShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a lab and loads it for 4 s")
	}
	out, stderr, err := runCmd(t, "bench-gateway", "--duration", "1s", "--concurrency", "4", "--rate", "100")
	if err != nil {
		t.Fatalf("bench-gateway: %v\n%s", err, stderr)
	}
	t.Logf("\n%s", out)
	for _, want := range []string{"closed c=4", "open 100/s", "rps ratio", "100.0%"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

func TestParseMix(t *testing.T) {
	tests := []struct {
		in      string
		want    []chaos.MixEntry
		wantErr string
	}{
		{"list_products=3,get_product=1", []chaos.MixEntry{{Call: "list_products", Weight: 3}, {Call: "get_product", Weight: 1}}, ""},
		{"create_order", []chaos.MixEntry{{Call: "create_order", Weight: 1}}, ""},
		{"list_products=0", nil, "positive integer"},
		{"list_products=x", nil, "positive integer"},
		{"dance=1", nil, "unknown call"},
		{"get_product,get_product", nil, "twice"},
		{"", nil, "no calls"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseMix(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %v, %v", got, err)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entry %d = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestLoadUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"load", "--duration", "0s"},
		{"load", "--rate", "-1"},
		{"load", "--mix", "nope"},
		{"load", "--login", "no-colon"},
		{"load", "extra"},
	} {
		_, _, err := runCmd(t, args...)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want a one-line error", args, err)
		}
	}
}
