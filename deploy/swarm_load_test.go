package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	fchaos "github.com/faultlab/faultlab/chaos" // compose_test.go has a const chaos
	"github.com/faultlab/faultlab/chaos/history"
	loadgen "github.com/faultlab/faultlab/chaos/load" // compose_test.go has a func load
	"github.com/faultlab/faultlab/internal/proctest"
	"github.com/faultlab/faultlab/topology"
)

// The load of the Swarm test: an open loop against the published gateway,
// in chunks of loadChunk (each waits for its requests in flight, so a run
// ends without cancelling any), create_order without client retries, so
// that every failure the shop lets through is counted.
const (
	loadRate        = 20 // requests per second
	loadConcurrency = 8
	loadChunk       = 5 * time.Second
	// pollEvery is how often the test looks at the swarm's state.
	pollEvery = 500 * time.Millisecond
)

var swarmMix = []fchaos.MixEntry{
	{Call: fchaos.CallListProducts, Weight: 2},
	{Call: fchaos.CallGetProduct, Weight: 1},
	{Call: fchaos.CallCreateOrder, Weight: 2},
}

// loadRun is the merged reports of one run of underLoad.
type loadRun struct {
	total, ok int
	status    map[int]int
	failures  []loadgen.Sample
	elapsed   time.Duration
}

func (r loadRun) String() string {
	return fmt.Sprintf("%d requests in %s, %d failed, statuses %v", r.total, r.elapsed.Round(100*time.Millisecond), r.total-r.ok, r.status)
}

// underLoad runs the load, every create_order recorded in rec with a key
// starting with prefix, while during runs, and one chunk more after it
// returns. It returns the load and during's error.
func (s *swarm) underLoad(rec *history.Recorder, prefix string, during func() error) (loadRun, error) {
	t := s.t
	var n atomic.Uint64
	w := &fchaos.Workload{Gateway: s.gateway, Token: s.token, Recorder: rec,
		Key: func() string { return fmt.Sprintf("%s-%d", prefix, n.Add(1)) }}
	hc := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2 * loadConcurrency}}
	defer hc.CloseIdleConnections()
	if err := w.Setup(context.Background(), hc, false); err != nil {
		t.Fatalf("load setup: %v", err)
	}
	calls, err := w.Calls(swarmMix)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- during() }()
	run := loadRun{status: map[int]int{}}
	var derr error
	for finished := false; ; {
		rep, err := loadgen.Run(context.Background(), loadgen.Config{Rate: loadRate, Duration: loadChunk,
			Concurrency: loadConcurrency, Mix: calls, Client: hc})
		if err != nil {
			t.Fatal(err)
		}
		run.total, run.ok, run.elapsed = run.total+rep.Total, run.ok+rep.Successes, run.elapsed+rep.Elapsed
		for st, c := range rep.Status {
			run.status[st] += c
		}
		run.failures = append(run.failures, rep.Failures...)
		if finished {
			return run, derr
		}
		select {
		case derr = <-done:
			finished = true
		default:
		}
	}
}

// killUnderLoad kills one payment task 5 s into the load; Swarm starts a
// replacement; the history check finds no anomaly.
func (s *swarm) killUnderLoad(t *testing.T) {
	before, err := s.healthy("payment")
	if err != nil || len(before) != 3 {
		t.Fatalf("payment tasks before the kill: %v %v", before, err)
	}
	rec := &history.Recorder{}
	var killed time.Time
	var replaced time.Duration
	run, err := s.underLoad(rec, "swarm-kill", func() error {
		<-time.After(loadChunk) // the experiment's schedule: 5 s of steady load first
		if out, err := s.docker(time.Minute, "kill", before[0]); err != nil {
			return fmt.Errorf("%w\n%s", err, out)
		}
		killed = time.Now()
		err := poll(time.Minute, func() error {
			now, err := s.healthy("payment")
			if err == nil && (len(now) != 3 || slices.Contains(now, before[0])) {
				err = fmt.Errorf("payment tasks healthy: %v (killed %s)", now, before[0])
			}
			return err
		})
		replaced = time.Since(killed)
		return err
	})
	if err != nil {
		t.Fatalf("kill and replace: %v", err)
	}
	t.Logf("killed payment task %.12s; Swarm had 3 healthy payment tasks again %s later", before[0], replaced.Round(100*time.Millisecond))
	t.Logf("load: %s", run)
	for _, f := range run.failures {
		t.Logf("client-visible failure %.1fs after the kill: %s %d %s", f.Start.Sub(killed).Seconds(), f.Call, f.Status, f.Error)
	}
	t.Logf("what hid the kill from the clients (order's and the gateway's logs): %v", s.events(killed.Add(-time.Second)))
	if run.ok < run.total*9/10 {
		t.Errorf("only %d of %d requests succeeded around the kill of one of three payment tasks", run.ok, run.total)
	}
	s.checkHistory(t, rec.Ops())
}

// rollingUpdate rolls payment, then order, under load: every task is
// replaced, not one request fails, and the history check finds no anomaly.
func (s *swarm) rollingUpdate(t *testing.T) {
	old := map[string][]string{}
	for _, svc := range []string{topology.Payment, topology.Order} {
		ids, err := s.healthy(svc)
		if err != nil {
			t.Fatal(err)
		}
		old[svc] = ids
	}
	rec := &history.Recorder{}
	took := map[string]time.Duration{}
	began := time.Now()
	run, err := s.underLoad(rec, "swarm-update", func() error {
		for _, svc := range []string{topology.Payment, topology.Order} {
			t0 := time.Now()
			if err := s.update(svc); err != nil {
				return err
			}
			took[svc] = time.Since(t0)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("rolling update: %v", err)
	}
	for svc, ids := range old {
		now, err := s.healthy(svc)
		if err != nil || len(now) != len(ids) || slices.ContainsFunc(now, func(id string) bool { return slices.Contains(ids, id) }) {
			t.Errorf("%s after the update: tasks %v (before %v) %v", svc, now, ids, err)
		}
	}
	t.Logf("docker service update --force: payment (3 tasks) %s, order (2 tasks) %s",
		took[topology.Payment].Round(100*time.Millisecond), took[topology.Order].Round(100*time.Millisecond))
	t.Logf("load: %s", run)
	t.Logf("the callers' resilience events during the update: %v", s.events(began))
	for _, f := range run.failures {
		t.Errorf("failed during the rolling update: %s %d %s", f.Call, f.Status, f.Error)
	}
	if run.ok != run.total {
		t.Errorf("%d of %d requests failed during the rolling update", run.total-run.ok, run.total)
	}
	s.checkHistory(t, rec.Ops())
}

// events counts the resilience events (retries, ejections, returns)
// that order and the gateway logged since since, by event.action. It reads
// each task's container, the stopped ones included (docker service logs
// can hang on the tasks of a service that was just updated).
func (s *swarm) events(since time.Time) map[string]int {
	n := map[string]int{}
	for _, svc := range []string{topology.Order, topology.Gateway} {
		ids, err := s.docker(30*time.Second, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+s.name+"_"+svc)
		if err != nil {
			s.t.Logf("%s tasks: %v", svc, err)
			continue
		}
		for _, id := range strings.Fields(ids) {
			out, err := s.docker(30*time.Second, "logs", "--since", since.UTC().Format(time.RFC3339Nano), id)
			if err != nil {
				s.t.Logf("%s logs: %v", svc, err)
				continue
			}
			for _, line := range strings.Split(out, "\n") {
				for _, action := range []string{"retry.attempt", "retry.budget_exhausted", "endpoint.ejected", "endpoint.returned"} {
					if strings.Contains(line, `"event.action":"`+action+`"`) {
						n[svc+" "+action]++
					}
				}
			}
		}
	}
	return n
}

// update rolls one service (stack.yml's update_config: one task at a
// time, start-first) and checks that Swarm completed it, not rolled back.
func (s *swarm) update(svc string) error {
	name := s.name + "_" + svc
	if out, err := s.docker(3*time.Minute, "service", "update", "--force", "--detach=false", "--quiet", name); err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	out, err := s.docker(30*time.Second, "service", "inspect", "--format", "{{.UpdateStatus.State}}", name)
	if err != nil {
		return fmt.Errorf("%w\n%s", err, out)
	}
	if st := strings.TrimSpace(out); st != "completed" {
		return fmt.Errorf("update of %s: state %q, want completed", svc, st)
	}
	return nil
}

// checkHistory waits for the shop to settle and checks ops against the
// stores. Settling may take a while: order's reconciler runs every 5 s in
// each order task, and sends a charge again only once the claim of the
// request that was cut off has run out.
func (s *swarm) checkHistory(t *testing.T, ops []history.Op) {
	var snap history.Snapshot
	start := time.Now()
	first := ""
	proctest.Eventually(t, "the shop settles (no order pending, no charge processing, nothing reserved)", 2*time.Minute, pollEvery, func() error {
		var err error
		if snap, err = history.Fetch(context.Background(), s.source); err != nil {
			return err
		}
		if fchaos.Quiet(snap) {
			return nil
		}
		if first == "" {
			first = inFlight(snap)
		}
		return errors.New("still in flight: " + inFlight(snap))
	})
	if first != "" {
		t.Logf("settled %s after the load (in flight at first: %s)", time.Since(start).Round(100*time.Millisecond), first)
	}
	rep := history.Check(ops, snap)
	t.Logf("%s; %d orders tried, %d in the store", rep, rep.Keys, rep.Orders)
	if !rep.OK() {
		t.Errorf("history check: %d anomalies", len(rep.Anomalies))
	}
}

// inFlight says what keeps snap from being quiet.
func inFlight(snap history.Snapshot) string {
	pending, processing, reserved := 0, 0, int64(0)
	for _, o := range snap.Orders {
		if o.Status == history.StatusPending {
			pending++
		}
	}
	for _, c := range snap.Charges {
		if c.Status == history.ChargeProcessing {
			processing++
		}
	}
	for _, l := range snap.Stock {
		reserved += l.Reserved
	}
	return fmt.Sprintf("%d orders pending, %d charges processing, %d units reserved", pending, processing, reserved)
}

// probe runs Toxiproxy (faultlab/toxiproxy:local) with a config of its
// own: one proxy each to order, payment and product by their names on the
// overlay, on their ports. It runs on a bridge network of its own with
// those ports published on loopback, and is connected to the stack's
// internal overlay: the test's way to the stores' /internal endpoints,
// which the stack publishes nowhere.
func (s *swarm) probe() history.Source {
	t := s.t
	name := s.name + "-probe"
	type proxy struct {
		Name     string `json:"name"`
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}
	var proxies []proxy
	args := []string{"run", "-d", "--name", name, "--network", name, "--label", "faultlab.test=" + s.name}
	for _, svc := range []string{topology.Order, topology.Payment, topology.Product} {
		port := topology.Port(svc)
		proxies = append(proxies, proxy{Name: svc, Listen: fmt.Sprintf("0.0.0.0:%d", port), Upstream: fmt.Sprintf("%s:%d", svc, port), Enabled: true})
		args = append(args, "-p", fmt.Sprintf("127.0.0.1::%d", port))
	}
	cfg, err := json.Marshal(proxies)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "probe.json")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := s.docker(time.Minute, "network", "create", "--label", "faultlab.test="+s.name, name); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.docker(time.Minute, "network", "rm", name); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
	args = append(args, "-v", path+":/probe.json:ro", "faultlab/toxiproxy:local", "-host", "0.0.0.0", "-config", "/probe.json")
	if out, err := s.docker(time.Minute, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.docker(time.Minute, "rm", "-f", name); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
	if out, err := s.docker(time.Minute, "network", "connect", s.name+"_internal", name); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	url := map[string]string{}
	for _, p := range proxies {
		_, port, _ := strings.Cut(p.Listen, ":")
		out, err := s.docker(30*time.Second, "port", name, port+"/tcp")
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		url[p.Name] = "http://" + strings.Fields(out)[0]
	}
	src := history.Source{OrderURL: url[topology.Order], PaymentURL: url[topology.Payment], ProductURL: url[topology.Product],
		ServiceKey: s.serviceKey, HTTP: &http.Client{Timeout: 30 * time.Second}}
	proctest.Eventually(t, "the stores' /internal endpoints through the probe", time.Minute, pollEvery, func() error {
		_, err := history.Fetch(context.Background(), src)
		return err
	})
	return src
}

// poll calls fn until it succeeds or within has passed; it returns fn's
// last error then. For goroutines, where proctest.Eventually's t.Fatalf
// may not be called.
func poll(within time.Duration, fn func() error) error {
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(pollEvery) // polling interval, not a wait for state
	}
}
