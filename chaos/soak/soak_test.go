package soak_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/soak"
	"github.com/faultlab/faultlab/services/user"
)

func TestPlanIsDeterministicAndValid(t *testing.T) {
	a := soak.Plan(7, time.Minute, 4*time.Second)
	b := soak.Plan(7, time.Minute, 4*time.Second)
	c := soak.Plan(8, time.Minute, 4*time.Second)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave two plans")
	}
	if reflect.DeepEqual(a, c) {
		t.Error("seeds 7 and 8 gave the same plan")
	}
	kinds := map[string]bool{}
	internal := map[string]bool{}
	maxHops := map[time.Duration]int{}
	for _, p := range a {
		if p.Fault.Kind == chaos.FaultToxic {
			maxHops[p.At]++
		}
		if p.Fault.HTTP.PathPrefix != "" {
			internal[p.Fault.Service+" "+p.Fault.HTTP.PathPrefix] = true
		}
		if err := p.Fault.Validate(); err != nil {
			t.Errorf("planned fault %s: %v", p.Fault, err)
		}
		if p.At < 4*time.Second || p.Until <= p.At || p.Until > time.Minute {
			t.Errorf("window [%s, %s) outside the load", p.At, p.Until)
		}
		if p.Fault.Kind == chaos.FaultHTTP {
			kinds["http"] = true
		} else {
			kinds[string(p.Fault.Toxic.Kind)] = true
		}
	}
	for _, k := range []string{"http", "latency", "reset_peer", "down", "slow_close"} {
		if !kinds[k] {
			t.Errorf("a minute of plan has no %s fault", k)
		}
	}
	for _, r := range []string{"product /internal/reservations/", "product /internal/reservations", "payment /payments"} {
		if !internal[r] {
			t.Errorf("a minute of plan never fails %s", r)
		}
	}
	three := false
	for _, n := range maxHops {
		three = three || n == 3
	}
	if !three {
		t.Error("a minute of plan never faults three hops at once")
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	if _, err := soak.Run(context.Background(), soak.Config{}); !errors.Is(err, soak.ErrConfig) {
		t.Fatalf("err = %v, want ErrConfig", err)
	}
}

// TestSoak runs 30 s of rotating faults under load and checks the
// invariants. CI runs it; -short skips it.
func TestSoak(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s soak; run without -short")
	}
	var progress bytes.Buffer
	rep, err := soak.Run(context.Background(), soak.Config{
		Duration: 30 * time.Second, Rate: 40, Seed: 1, Progress: &progress,
		Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	var out bytes.Buffer
	if rep != nil {
		_ = soak.WriteText(&out, rep)
	}
	t.Logf("soak:\n%s%s", progress.String(), out.String())
	if err != nil {
		t.Fatalf("soak: %v", err)
	}
	if !rep.Passed() {
		t.Errorf("invariants broken: %v\n%s", rep.Failed(), rep.GoroutineDump)
	}
	if rep.OrdersAcked == 0 {
		t.Error("no order was acknowledged: the soak proved nothing about orders")
	}
	if rep.History == nil || rep.History.Ops == 0 {
		t.Error("the soak recorded no history")
	}
	if rep.FaultsApplied < 5 {
		t.Errorf("only %d faults applied", rep.FaultsApplied)
	}
}

func TestPassedIgnoresWarnings(t *testing.T) {
	tests := []struct {
		name string
		vs   []soak.Verdict
		want bool
	}{
		{"none", nil, false},
		{"all pass", []soak.Verdict{{Name: "a", Pass: true}}, true},
		{"warning only", []soak.Verdict{{Name: "a", Pass: true}, {Name: "w", Warn: true}}, true},
		{"failure", []soak.Verdict{{Name: "a", Pass: true}, {Name: "f"}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &soak.Report{Verdicts: tc.vs}
			if got := r.Passed(); got != tc.want {
				t.Errorf("Passed = %v, want %v (failed %v)", got, tc.want, r.Failed())
			}
		})
	}
}
