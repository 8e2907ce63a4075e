package lab_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
)

var (
	shared     *lab.Lab
	sharedErr  error
	sharedOnce sync.Once
)

var testPolicy = lab.ScenarioPolicy

func startLab(tb testing.TB, cfg lab.Config) *lab.Lab {
	tb.Helper()
	cfg.Ephemeral = true
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	cfg.Argon2 = &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	if cfg.Default == (resilience.Policy{}) {
		cfg.Default = testPolicy
	}
	l, err := lab.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start lab: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// sharedLab is one lab for every scenario of this test binary: scenarios
// run one after another and each resets its faults.
func sharedLab(t *testing.T) *lab.Lab {
	t.Helper()
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "faultlab-chaos-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = lab.Start(context.Background(), lab.Config{
			Ephemeral: true, DataDir: dir, Default: testPolicy,
			Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
		})
	})
	if sharedErr != nil {
		t.Fatalf("start lab: %v", sharedErr)
	}
	return shared
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		_ = shared.Close()
		os.RemoveAll(filepath.Dir(shared.LogDir))
	}
	os.Exit(code)
}

func runScenario(t *testing.T, env chaos.Env, sc chaos.Scenario) *chaos.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, env, sc, chaos.Options{SteadyState: time.Second, Recovery: time.Second})
	if err != nil {
		t.Fatalf("run %s: %v", sc.Name, err)
	}
	return res
}

func logVerdicts(t *testing.T, res *chaos.Result) {
	t.Helper()
	for _, v := range res.Verdicts {
		mark := "PASS"
		switch {
		case v.Skipped:
			mark = "SKIP"
		case !v.Pass:
			mark = "FAIL"
		}
		t.Logf("%s %-8s %-60s measured %-28s want %s %s", mark, v.Phase, v.Check, v.Measured, v.Want, v.Note)
	}
	if h := res.History; h != nil && !h.OK() {
		t.Log(h.String())
	}
	for _, rep := range []*load.Report{res.Before, res.After} {
		if rep == nil {
			continue
		}
		for _, f := range rep.Failures {
			t.Logf("failed probe: %+v", f)
		}
	}
}

// TestScenarios runs every catalogue scenario against a real in-process lab
// with real Toxiproxy faults; -short runs the Short subset.
func TestScenarios(t *testing.T) {
	l := sharedLab(t)
	for _, sc := range chaos.Catalogue() {
		if testing.Short() && !sc.Short {
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			res := runScenario(t, l, sc)
			logVerdicts(t, res)
			if !res.Passed() {
				t.Errorf("scenario %s: hypothesis failed (aborted=%v, errors=%v)", sc.Name, res.Aborted, res.Errors)
			}
		})
	}
}

// TestBreakerMatters shows the suite can fail: with order's payment breaker
// turned off, payment-down's hypothesis does not hold.
func TestBreakerMatters(t *testing.T) {
	if testing.Short() {
		t.Skip("a full payment-down run with the breaker off: part of the full suite, not of -short")
	}
	p := testPolicy
	p.DisableBreaker = true
	l := startLab(t, lab.Config{Policies: map[string]resilience.Policy{"payment": p}})
	sc, ok := chaos.Lookup("payment-down")
	if !ok {
		t.Fatal("payment-down not in the catalogue")
	}
	res := runScenario(t, l, sc)
	logVerdicts(t, res)
	if res.Passed() {
		t.Fatal("payment-down passed with the breaker off: the hypothesis does not test the breaker")
	}
	var breakerFailed bool
	for _, v := range res.Verdicts {
		if v.Kind == string(chaos.CheckBreakerOpens) && !v.Pass && !v.Skipped {
			breakerFailed = true
		}
	}
	if !breakerFailed {
		t.Error("want the breaker-opens verdict to fail with the breaker off")
	}
}

var compoundOrders = flag.Int("compound-orders", 0, "run TestCompoundFaultsAtScale with about this many orders (e.g. 1000)")

// TestCompoundFaultsAtScale is compound-faults stretched to -compound-orders
// orders on a lab of its own, e.g.
//
//	go test -race -count=1 -run TestCompoundFaultsAtScale ./chaos/lab -compound-orders 1000 -timeout 20m
//
// It is opt-in (about 70 s of load per 1,000 orders): TestScenarios runs
// the catalogue's compound-faults in every full suite.
func TestCompoundFaultsAtScale(t *testing.T) {
	if *compoundOrders <= 0 {
		t.Skip("opt-in: pass -compound-orders N")
	}
	sc, err := chaos.ScaleToOrders(chaos.CompoundFaults(), *compoundOrders)
	if err != nil {
		t.Fatal(err)
	}
	l := startLab(t, lab.Config{})
	ctx, cancel := context.WithTimeout(context.Background(), sc.Load.Duration+5*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, l, sc, chaos.Options{SteadyState: time.Second, Recovery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logVerdicts(t, res)
	if l := res.Load; l != nil {
		t.Logf("main load: %d requests in %s, %d dropped (all %d workers busy), statuses %v", l.Total, l.Elapsed.Round(time.Second), l.Dropped, sc.Load.Concurrency, l.Status)
	}
	if res.History != nil {
		t.Logf("%s; %d orders tried, %d in the stores", res.History.String(), res.History.Keys, res.History.Orders)
	}
	if !res.Passed() {
		t.Errorf("compound-faults with %d orders: hypothesis failed (errors=%v)", *compoundOrders, res.Errors)
	}
}
