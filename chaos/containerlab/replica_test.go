package containerlab

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// replicaPolicy is the in-process replica suite's policy
// (chaos/lab/replica_test.go): the scenario policy with 1 s base ejections
// and a floor of 20 retries per budget window.
func replicaPolicy() resilience.Policy {
	p := testPolicy
	p.OutlierBaseEjection = time.Second
	p.BudgetMinRetries = 20
	return p
}

// TestReplicaKill runs replica-kill through containers, on the layout of
// docker-compose.yml (chaos.ReplicaLayout: product=3, order=2, payment=3,
// each replica a container, the replicas of a service on one Docker volume):
// payment-2's container gets SIGKILL under load and is started again. No
// client sees a 5xx, the history check finds 0 anomalies, and order ejects
// the dead replica; Prometheus (the compose prometheus.yml as it is)
// scrapes every replica.
func TestReplicaKill(t *testing.T) {
	if testing.Short() {
		t.Skip("part of the full suite, not of -short: starts 12 containers")
	}
	l := replicaLab(t)
	checkReplicaTargets(t, l)
	var sc chaos.Scenario
	for _, s := range chaos.ReplicaScenarios() {
		if s.Name == "replica-kill" {
			sc = s
		}
	}
	if sc.Name == "" {
		t.Fatal("no replica-kill in chaos.ReplicaScenarios")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	res, err := chaos.Run(ctx, l, sc, chaos.Options{SteadyState: time.Second, Recovery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	logVerdicts(t, res)
	fives, total := 0, 0
	for _, rep := range []*load.Report{res.Before, res.Load, res.After} {
		if rep == nil {
			continue
		}
		total += rep.Total
		for code, n := range rep.Status {
			if code >= 500 {
				fives += n
			}
		}
	}
	anomalies := -1
	if res.History != nil {
		anomalies = len(res.History.Anomalies)
		t.Logf("history: %s", res.History.String())
	}
	t.Logf("replica-kill in containers: %d responses with a 5xx of %d, %d history anomalies, %v in all", fives, total, anomalies, time.Since(start).Round(100*time.Millisecond))
	logEjections(t, l, res)
	if fives != 0 {
		t.Errorf("%d responses with a 5xx, want 0", fives)
	}
	if anomalies != 0 {
		t.Errorf("history check: %d anomalies, want 0", anomalies)
	}
	if !res.Passed() {
		logBreakerEvents(t, l, res.LoadStart)
		t.Errorf("replica-kill: hypothesis failed (aborted=%q, errors=%v)", res.Aborted, res.Errors)
	}
	checkFaultOnEveryReplica(t, l)
}

// checkFaultOnEveryReplica: an HTTP fault on payment is set on each of its
// replicas, payment-2 included at the host port Docker gave its restarted
// container, and ResetFaults clears them all.
func checkFaultOnEveryReplica(t *testing.T, l *Lab) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: "payment", HTTP: fault.Fault{Name: "probe", Kind: fault.KindStatus, Status: 503, Probability: 0.01}}
	count := func() int {
		n := 0
		for i := 1; i <= l.counts["payment"]; i++ {
			c, err := l.replica(fmt.Sprintf("payment-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			ep, err := c.PortEndpoint(ctx, strconv.Itoa(topology.Port("payment"))+"/tcp", "http")
			if err != nil {
				t.Fatal(err)
			}
			fs, err := (&fault.Client{BaseURL: ep, ServiceKey: l.cfg.ServiceKey, HTTP: l.hc}).List(ctx)
			if err != nil {
				t.Fatalf("payment-%d faults: %v", i, err)
			}
			n += len(fs)
		}
		return n
	}
	if err := l.ApplyFault(ctx, f); err != nil {
		t.Fatalf("HTTP fault on every payment replica: %v", err)
	}
	if n := count(); n != l.counts["payment"] {
		t.Errorf("%d faults on %d payment replicas, want one each", n, l.counts["payment"])
	}
	if err := l.ResetFaults(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Errorf("%d faults left on the payment replicas after ResetFaults", n)
	}
}

// replicaLab starts a lab of its own on docker-compose.yml's layout,
// removed when the test ends.
func replicaLab(t *testing.T) *Lab {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	skip := dockerReachable(ctx)
	cancel()
	if skip != "" {
		t.Skip("skipping the container lab: " + skip)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ids, err := buildImages(ctx, "faultlab", "toxiproxy", "prometheus")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(ctx, Config{
		Image:           ids["faultlab/faultlab:local"],
		ToxiproxyImage:  ids["faultlab/toxiproxy:local"],
		PrometheusImage: ids["faultlab/prometheus:local"],
		Policy:          replicaPolicy(),
		Replicas:        chaos.ReplicaLayout,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return l
}

// checkReplicaTargets: Prometheus sees every replica of every service up,
// each as a target of its service's job.
func checkReplicaTargets(t *testing.T, l *Lab) {
	t.Helper()
	want := l.instances()
	slices.Sort(want)
	deadline := time.Now().Add(45 * time.Second)
	for {
		up, err := upInstances(l)
		if err == nil && slices.Equal(up, want) {
			return
		}
		if time.Now().After(deadline) {
			ts, terr := targets(l)
			t.Fatalf("prometheus targets up: %v (err %v), want %v; targets: %+v (%v)", up, err, want, ts, terr)
		}
		time.Sleep(500 * time.Millisecond) // polling Prometheus' scrape state, bounded by the deadline
	}
}

// logEjections logs order's endpoint.ejected events and how long after the
// kill each came.
func logEjections(t *testing.T, l *Lab, res *chaos.Result) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := l.Events(ctx, "endpoint.ejected", res.LoadStart)
	if err != nil || len(evs) == 0 || len(res.Windows) == 0 {
		t.Logf("no ejection seen (%v)", err)
		return
	}
	killed := res.LoadStart.Add(res.Windows[0].Start)
	at := func(ev map[string]any) time.Time {
		ts, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["@timestamp"]))
		return ts
	}
	slices.SortFunc(evs, func(a, b map[string]any) int { return at(a).Compare(at(b)) })
	for _, ev := range evs {
		t.Logf("%v ejected %v %v after the kill", ev["service.name"], ev["labels.endpoint"], at(ev).Sub(killed).Round(time.Millisecond))
	}
}

// TestReplicaNames: the lab's replica control refuses names that are not
// replicas it runs, and replicas without a container, before touching
// Docker.
func TestReplicaNames(t *testing.T) {
	counts, err := replicaCounts(map[string]int{"payment": 3})
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{counts: counts}
	for _, bad := range []string{"payment-4", "gateway-1", "payment", "payment-2"} {
		if err := l.Kill(context.Background(), bad); !errors.Is(err, ErrReplica) {
			t.Errorf("Kill(%q) = %v, want ErrReplica", bad, err)
		}
	}
	if _, err := replicaCounts(map[string]int{"gateway": 2}); err == nil {
		t.Error("replicas of the gateway: no error")
	}
	if _, err := replicaCounts(map[string]int{"payment": 9}); err == nil {
		t.Error("9 payment replicas: no error")
	}
}
