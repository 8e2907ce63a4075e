package lab_test

import (
	"context"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
)

var (
	shared     *lab.Lab
	sharedErr  error
	sharedOnce sync.Once
	// contract checks every request and answer through the shared lab's
	// gateway against api/openapi.yaml: the 503s, 429s and stale answers
	// under faults included. Scenarios run one after another, so each
	// reports what was seen during its run.
	contract *apitest.Validator
)

// checkGateway wraps the gateway's handler with the contract check.
func checkGateway(v *apitest.Validator) func(string, http.Handler) http.Handler {
	return func(name string, h http.Handler) http.Handler {
		if name != "gateway" {
			return h
		}
		return v.Middleware(h)
	}
}

var testPolicy = lab.ScenarioPolicy

// sharedLab is one lab for every scenario of this test binary: scenarios
// run one after another and each resets its faults.
func sharedLab(t *testing.T) *lab.Lab {
	t.Helper()
	sharedOnce.Do(func() {
		if contract, sharedErr = apitest.Load(); sharedErr != nil {
			return
		}
		dir, err := os.MkdirTemp("", "faultlab-chaos-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = lab.Start(context.Background(), lab.Config{
			Ephemeral: true, DataDir: dir, Default: testPolicy,
			Argon2: &labtest.Argon2,
			Wrap:   checkGateway(contract),
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
		t.Logf("%s %-8s %-60s measured %-28s want %s %s", v.Word(), v.Phase, v.Check, v.Measured, v.Want, v.Note)
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
		if testing.Short() && !sc.Short || sc.Name == "login-abuse" { // TestScenario_login_abuse
			continue
		}
		t.Run(sc.Name, func(t *testing.T) {
			defer contract.Report(t)
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
	l := labtest.Start(t, lab.Config{Policies: map[string]resilience.Policy{"payment": p}})
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
		if v.Kind == chaos.CheckBreakerOpens && !v.Pass && !v.Skipped {
			breakerFailed = true
		}
	}
	if !breakerFailed {
		t.Error("want the breaker-opens verdict to fail with the breaker off")
	}
}

// TestScenario_login_abuse runs the login-abuse scenario (issue 17): a client
// hammering wrong passwords and 50 addresses spraying unknown emails get
// 429s (or shed 503s) while the demo customer's logins, orders and the
// catalogue carry on, and the gateway's breaker on user stays closed. It
// is named after the scenario so that `go test -run login ./chaos/lab` runs it alone.
func TestScenario_login_abuse(t *testing.T) {
	if testing.Short() {
		t.Skip("part of the full suite, not of -short")
	}
	sc, ok := chaos.Lookup("login-abuse")
	if !ok {
		t.Fatal("login-abuse not in the catalogue")
	}
	res := runScenario(t, sharedLab(t), sc)
	logVerdicts(t, res)
	if !res.Passed() {
		for _, f := range res.Failures {
			t.Logf("failed: %+v", f)
		}
		for _, p := range res.Timeline {
			t.Logf("second %d: %d requests, p99 %v", p.Offset, p.Requests, p.P99)
		}
		t.Errorf("scenario %s: hypothesis failed (aborted=%v, errors=%v)", sc.Name, res.Aborted, res.Errors)
	}
}

// TestContractUnderHTTPFaults: answers to faults the catalogue does not
// make are in the API document too. User answers logins with 429 and
// Retry-After, as its per-account and per-client limits do; then product
// answers 503, so the gateway serves the catalogue stale or, for a page it
// has no copy of, a 503 of its own.
func TestContractUnderHTTPFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("a 9 s run: part of the full suite, not of -short")
	}
	l := sharedLab(t)
	defer contract.Report(t)
	sc := chaos.Scenario{
		Name:        "contract-http-faults",
		Description: "user answers logins 429 + Retry-After, then product answers 503 + Retry-After",
		Faults: []chaos.Step{
			{Name: "login 429", At: time.Second, Until: 3 * time.Second, Fault: chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: "user",
				HTTP: fault.Fault{Name: "login-429", Kind: fault.KindStatus, Status: http.StatusTooManyRequests, RetryAfter: 1, PathPrefix: user.RouteLogin}}},
			{Name: "product 503", At: 3 * time.Second, Until: 5 * time.Second, Fault: chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: "product",
				HTTP: fault.Fault{Name: "product-503", Kind: fault.KindStatus, Status: http.StatusServiceUnavailable, RetryAfter: 1}}},
		},
		Load: chaos.LoadProfile{Rate: 20, Duration: 6 * time.Second, Concurrency: 8,
			Mix: []chaos.MixEntry{{Call: chaos.CallLogin, Weight: 2}, {Call: chaos.CallListProducts, Weight: 2}, {Call: chaos.CallGetProduct, Weight: 1}}},
		Hypothesis: []chaos.Check{
			{Kind: chaos.CheckStatusSeen, Phase: chaos.PhaseDuring, Call: chaos.CallLogin, Status: http.StatusTooManyRequests},
			{Kind: chaos.CheckHeader, Phase: chaos.PhaseDuring, Call: chaos.CallListProducts, Header: "X-Cache-Status", Value: "stale"},
		},
	}
	res := runScenario(t, l, sc)
	logVerdicts(t, res)
	if !res.Passed() {
		t.Errorf("scenario %s: hypothesis failed (aborted=%v, errors=%v)", sc.Name, res.Aborted, res.Errors)
	}
	seen := contract.Seen()
	for _, want := range []string{"login 429", "listProducts 200 stale"} {
		if seen[want]+seen[strings.Replace(want, "login", "loginLegacy", 1)] == 0 {
			t.Errorf("the contract check saw no %q: %s", want, contract.SeenSummary())
		}
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
	l := labtest.Start(t, lab.Config{})
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
