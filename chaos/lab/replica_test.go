package lab_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/resilience"
)

// replicaPolicy is the scenario policy with ejections of 1 s (× the
// number of ejections), so that a replica that is back (after a restart in
// a rolling restart) returns to service before the next one goes: at most
// one of three endpoints may be out at once; and a floor of 20 retries per
// budget window, so that the retries that move calls off a replica that
// has just gone are not refused before the detector ejects it.
func replicaPolicy(outlier bool) resilience.Policy {
	p := testPolicy
	p.OutlierBaseEjection = time.Second
	p.BudgetMinRetries = 20
	p.DisableOutlier = !outlier
	return p
}

// productPolicy is replicaPolicy with adaptive hedging of the catalogue's
// reads (at the p90 of recent calls, 5 to 20 ms, with room in the budget
// for them) and an attempt timeout on product long enough for a slow
// replica to answer, so that a slow replica is slow, not dead.
func productPolicy(hedge, outlier bool) resilience.Policy {
	p := replicaPolicy(outlier)
	p.AttemptTimeout = time.Second
	if hedge {
		p.HedgeQuantile, p.HedgeMaxDelay = 0.9, 20*time.Millisecond
		p.BudgetRatio = 0.5
	}
	return p
}

func startReplicaLab(t *testing.T, hedge, outlier bool) *lab.Lab {
	t.Helper()
	return labtest.Start(t, lab.Config{Replicas: chaos.ReplicaLayout, Default: replicaPolicy(outlier),
		Policies: map[string]resilience.Policy{"product": productPolicy(hedge, outlier)}})
}

func replicaScenario(t *testing.T, name string) chaos.Scenario {
	t.Helper()
	for _, sc := range chaos.ReplicaScenarios() {
		if sc.Name == name {
			return sc
		}
	}
	t.Fatalf("no replica scenario %q", name)
	return chaos.Scenario{}
}

// loadedP99 is a healthy p99 above which the machine is too loaded for
// replica-slow's latency claim to mean anything (the hedges queue for the
// CPU like everything else).
const loadedP99 = 100 * time.Millisecond

// TestReplicaScenarios runs every replica scenario, each on a replicated
// lab of its own (ejections and latency windows of one do not leak into
// the next).
func TestReplicaScenarios(t *testing.T) {
	if testing.Short() {
		t.Skip("part of the full suite, not of -short")
	}
	for _, sc := range chaos.ReplicaScenarios() {
		t.Run(sc.Name, func(t *testing.T) {
			l := startReplicaLab(t, true, true)
			res := runScenario(t, l, sc)
			logVerdicts(t, res)
			if !res.Passed() && sc.Name == "replica-slow" && res.Before != nil && res.Before.Latency.P99 > loadedP99 {
				t.Skipf("replica-slow's p99 claim needs a quiet machine: the healthy p99 was already %v (> %v)", res.Before.Latency.P99, loadedP99)
			}
			if !res.Passed() {
				logFailures(t, l, res)
				t.Errorf("scenario %s: hypothesis failed (aborted=%v, errors=%v)", sc.Name, res.Aborted, res.Errors)
			}
			if sc.Name == "replica-kill" {
				logEjection(t, l, res)
			}
		})
	}
}

// logEjection logs the time from the kill to order's first ejection of
// the dead payment replica (the README's figure).
func logEjection(t *testing.T, l *lab.Lab, res *chaos.Result) {
	t.Helper()
	evs, err := l.Events(context.Background(), "endpoint.ejected", res.Started)
	if err != nil || len(evs) == 0 || len(res.Windows) == 0 {
		t.Logf("no ejection seen (%v)", err)
		return
	}
	killed := res.LoadStart.Add(res.Windows[0].Start)
	for _, ev := range evs {
		ts, _ := time.Parse(time.RFC3339Nano, ev["@timestamp"].(string))
		t.Logf("order ejected %v %v after the kill", ev["labels.endpoint"], ts.Sub(killed).Round(time.Millisecond))
	}
}

// TestHedgingMatters: replica-slow with hedging off fails, its catalogue
// p99 at the slow replica's 800 ms or more.
func TestHedgingMatters(t *testing.T) {
	if testing.Short() {
		t.Skip("part of the full suite, not of -short")
	}
	res := runScenario(t, startReplicaLab(t, false, true), replicaScenario(t, "replica-slow"))
	logVerdicts(t, res)
	p99 := failedLatency(t, res)
	if p99 < 800*time.Millisecond {
		t.Errorf("catalogue p99 without hedging = %v, want ≥ 800ms", p99)
	}
}

// TestOutlierDetectionMatters runs replica-kill twice (with a longer
// kill), with outlier detection on and off. Off, the ejection claim fails, but what the clients
// see barely changes (0 5xx, about the same retry amplification): retries
// on another replica already keep them whole. The detector's work is to
// stop sending attempts to the dead replica: with it on, order's attempts
// that fail on a connection error (only the dead replica's do) must be
// fewer than with it off.
func TestOutlierDetectionMatters(t *testing.T) {
	if testing.Short() {
		t.Skip("part of the full suite, not of -short")
	}
	// The kill lasts 6 s here, not 3: the detector needs a few failures
	// in a row on each order replica before it ejects, so a short kill
	// hides what it saves.
	sc := replicaScenario(t, "replica-kill")
	sc.Faults[0].Until = sc.Faults[0].At + 6*time.Second
	sc.Load.Duration = sc.Faults[0].Until + 2*time.Second
	failed := map[bool]float64{}
	for _, outlier := range []bool{true, false} {
		l := startReplicaLab(t, true, outlier)
		res := runScenario(t, l, sc)
		failed[outlier] = failedAttempts(t, l)
		if outlier {
			continue
		}
		logVerdicts(t, res)
		for _, v := range res.Verdicts {
			if v.Kind == chaos.CheckLogEvent && v.Pass {
				t.Errorf("an endpoint was ejected with outlier detection off: %s", v.Measured)
			}
		}
		if res.Passed() {
			t.Error("replica-kill passed with outlier detection off: its hypothesis does not test the detector")
		}
	}
	t.Logf("order's attempts to payment failed on a connection error: %v with outlier detection, %v without", failed[true], failed[false])
	if failed[true] >= failed[false] {
		t.Errorf("outlier detection on: %v attempts sent to the dead replica, off: %v; want fewer with it on", failed[true], failed[false])
	}
}

// failedAttempts sums, over order's replicas, the attempts to payment that
// failed on a connection error.
func failedAttempts(t *testing.T, l *lab.Lab) float64 {
	t.Helper()
	var sum float64
	for _, addr := range l.ReplicaAddrs("order") {
		m, err := chaos.ScrapeMetrics(context.Background(), l.HTTPClient(), "http://"+addr+"/metrics")
		if err != nil {
			t.Fatal(err)
		}
		sum += m.CounterSum("faultlab_client_attempts_total", map[string]string{"name": "payment", "outcome": "error"})
	}
	return sum
}

// failedLatency returns the measured p99 of the failed latency verdict of
// res, failing the test if there is none.
func failedLatency(t *testing.T, res *chaos.Result) time.Duration {
	t.Helper()
	for _, v := range res.Verdicts {
		if v.Kind == chaos.CheckLatency && !v.Pass && !v.Skipped {
			d, err := time.ParseDuration(strings.Fields(v.Measured)[0])
			if err != nil {
				t.Fatalf("latency verdict measured %q: %v", v.Measured, err)
			}
			return d
		}
	}
	t.Fatal("no failed latency verdict")
	return 0
}

// TestKillRestartReplica: a killed replica stops answering at once and
// answers again after Restart, on the same address.
func TestKillRestartReplica(t *testing.T) {
	l := labtest.Start(t, lab.Config{Replicas: map[string]int{"payment": 2}})
	ctx := context.Background()
	addrs := l.ReplicaAddrs("payment")
	if len(addrs) != 2 {
		t.Fatalf("payment replicas = %v, want 2", addrs)
	}
	for _, hop := range []string{"order-to-payment-1", "order-to-payment-2", "gateway-to-payment-2"} {
		if l.Proxies[hop] == "" {
			t.Errorf("no proxy %s in %v", hop, l.Proxies)
		}
	}
	if l.Proxies["order-to-payment"] != "" || l.Proxies["order-to-product"] == "" {
		t.Errorf("one replica keeps its hop name, two name theirs: %v", l.Proxies)
	}
	health := func() error {
		resp, err := http.Get("http://" + addrs[1] + "/healthz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		return nil
	}
	if err := health(); err != nil {
		t.Fatalf("payment-2 before the kill: %v", err)
	}
	if err := l.Kill(ctx, "payment-2"); err != nil {
		t.Fatal(err)
	}
	if err := health(); err == nil {
		t.Error("payment-2 answers after the kill")
	}
	if err := l.Kill(ctx, "payment-2"); !errors.Is(err, lab.ErrReplica) {
		t.Errorf("second kill: %v, want ErrReplica", err)
	}
	for _, bad := range []string{"payment-3", "gateway-1", "payment"} {
		if err := l.Kill(ctx, bad); !errors.Is(err, lab.ErrReplica) {
			t.Errorf("Kill(%q) = %v, want ErrReplica", bad, err)
		}
	}
	if err := l.Restart(ctx, "payment-2"); err != nil {
		t.Fatal(err)
	}
	if err := health(); err != nil {
		t.Errorf("payment-2 after the restart: %v", err)
	}
	if err := l.Restart(ctx, "payment-2"); !errors.Is(err, lab.ErrReplica) {
		t.Errorf("restart of a running replica: %v, want ErrReplica", err)
	}
	if _, err := lab.Start(ctx, lab.Config{Ephemeral: true, Replicas: map[string]int{"payment": 2}}); err == nil {
		t.Error("replicas without DataDir: no error")
	}
	checkReplicaFaults(t, l, addrs)
}

// checkReplicaFaults: the admin API lists the replicas, and an HTTP fault
// on a replicated service is set on, and cleared from, every replica.
func checkReplicaFaults(t *testing.T, l *lab.Lab, addrs []string) {
	ctx := context.Background()
	admin := httptest.NewServer(l.AdminHandler(l.Keys.Service))
	defer admin.Close()
	list, err := (&lab.AdminClient{URL: admin.URL, ServiceKey: l.Keys.Service, HTTP: admin.Client()}).List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http://" + addrs[0], "http://" + addrs[1]}; !slices.Equal(list["payment"], want) || len(list["order"]) != 1 {
		t.Errorf("admin list = %v, want payment %v and one order", list, want)
	}
	f := chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: "payment", HTTP: fault.Fault{Name: "burst", Kind: fault.KindStatus, Status: 503, Probability: 1}}
	count := func() (n int) {
		for _, a := range addrs {
			fs, err := (&fault.Client{BaseURL: "http://" + a, ServiceKey: l.Keys.Service, HTTP: http.DefaultClient}).List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(fs)
		}
		return n
	}
	if err := l.ApplyFault(ctx, f); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("after ApplyFault: %d faults on the two payment replicas, want one each", n)
	}
	if err := l.ResetFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("after ResetFaults: %d faults left on the payment replicas", n)
	}
}

// logFailures logs the failed requests of a run and the warnings the
// services logged for them.
func logFailures(t *testing.T, l *lab.Lab, res *chaos.Result) {
	t.Helper()
	if res.Load != nil {
		for _, c := range res.Load.Calls {
			t.Logf("call %s: %d, statuses %v", c.Name, c.Total, c.Status)
		}
	}
	logs, _ := filepath.Glob(filepath.Join(l.LogDir, "*.log"))
	var lines []string
	for _, f := range logs {
		b, _ := os.ReadFile(f)
		lines = append(lines, strings.Split(string(b), "\n")...)
	}
	fails := res.Failures
	if res.Before != nil {
		fails = append(fails, res.Before.Failures...)
	}
	for _, f := range fails {
		t.Logf("failed: %+v", f)
		for _, line := range lines {
			if strings.Contains(line, f.TraceID) && !strings.Contains(line, `"info"`) {
				t.Logf("  %.1500s", line)
			}
		}
	}
}

// TestAdminAPI: the admin API kills and restarts a replica with the
// service key, refuses without it, and answers problems for a bad name or
// action; Remote drives a FaultReplica step through it.
func TestAdminAPI(t *testing.T) {
	l := labtest.Start(t, lab.Config{Replicas: map[string]int{"payment": 2}, AdminAddr: "127.0.0.1:0"})
	ctx := context.Background()
	c := &lab.AdminClient{URL: "http://" + l.AdminAddr, ServiceKey: l.Keys.Service, HTTP: l.HTTPClient()}
	if err := c.Kill(ctx, "payment-2"); err != nil {
		t.Fatal(err)
	}
	if err := c.Kill(ctx, "payment-2"); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("second kill: %v, want 'not running'", err)
	}
	if err := c.Restart(ctx, "payment-2"); err != nil {
		t.Fatal(err)
	}
	bad := &lab.AdminClient{URL: c.URL, ServiceKey: "wrong", HTTP: c.HTTP}
	if err := bad.Kill(ctx, "payment-2"); err == nil {
		t.Error("kill with a wrong service key succeeded")
	}
	resp, err := http.Post(c.URL+lab.AdminReplicasPath+"payment-2/explode", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
		t.Errorf("no key: status %d, want 401 or 403", resp.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodPost, c.URL+lab.AdminReplicasPath+"payment-2/explode", nil)
	req.Header.Set("X-Service-Key", l.Keys.Service)
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("unknown action: %d %s, want 404 problem+json", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	remote := lab.NewRemote(lab.RemoteConfig{URLs: map[string]string{}, AdminURL: c.URL, ServiceKey: l.Keys.Service})
	step := chaos.KillReplica("kill", "payment-1", 0, time.Second).Fault
	if err := remote.ApplyFault(ctx, step); err != nil {
		t.Fatalf("remote kill: %v", err)
	}
	if err := remote.RevertFault(ctx, step); err != nil {
		t.Fatalf("remote restart: %v", err)
	}
}
