package containerlab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	chaoslab "github.com/faultlab/faultlab/chaos/lab"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/observability/promapi"
	"github.com/faultlab/faultlab/topology"
)

func TestMain(m *testing.M) {
	// Before testcontainers reads its configuration: no Ryuk (its image
	// cannot be pulled here); the tests remove what they start.
	os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	// Inside a container (/.dockerenv) testcontainers reaches published
	// ports through the default gateway. With a local engine (unix socket)
	// the ports are published on this host's loopback; use it unless told
	// otherwise.
	if os.Getenv("TESTCONTAINERS_HOST_OVERRIDE") == "" {
		if h := os.Getenv("DOCKER_HOST"); h == "" || strings.HasPrefix(h, "unix://") {
			os.Setenv("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
		}
	}
	code := m.Run()
	shared.close()
	os.Exit(code)
}

// shared is one lab for the whole package: starting it costs seconds, and
// every test resets faults before it uses it.
var shared sharedLab

type sharedLab struct {
	once sync.Once
	lab  *Lab
	skip string // why the lab cannot run here
	err  error
}

func (s *sharedLab) close() {
	if s.lab != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := s.lab.Close(ctx); err != nil {
			fmt.Fprintln(os.Stderr, "containerlab: close:", err)
		}
	}
}

// dockerReachable reports why the Docker engine cannot be used, or "".
// It asks the engine the docker CLI (and so scripts/images.sh) would use:
// DOCKER_HOST, else the default socket. testcontainers would fall back to
// other sockets on its own, then images.sh would fail.
func dockerReachable(ctx context.Context) string {
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		return fmt.Sprintf("no Docker engine: %v", err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Sprintf("no Docker engine reachable at %s: %v", cli.DaemonHost(), err)
	}
	return ""
}

// testPolicy is the in-process suite's (chaos/lab/scenarios_test.go): a
// short breaker open interval so that recovery fits in a scenario of a few
// seconds.
var testPolicy = chaoslab.ScenarioPolicy

// buildImages runs scripts/images.sh, which rebuilds bin/faultlab and every
// image whose inputs changed, and returns the id of each image it reported
// (by the faultlab.inputs label it printed): the lab runs exactly what was
// built from this tree, even if another images.sh moves the :local tags
// meanwhile.
func buildImages(ctx context.Context, names ...string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "bash", append([]string{"../../scripts/images.sh"}, names...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("scripts/images.sh: %w\n%s", err, out.String())
	}
	fmt.Fprint(os.Stderr, out.String())
	ids := map[string]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "faultlab/") || !strings.HasPrefix(f[len(f)-1], "inputs=") {
			continue
		}
		hash := strings.TrimPrefix(f[len(f)-1], "inputs=")
		b, err := exec.CommandContext(ctx, "docker", "image", "ls", "-q", "--no-trunc",
			"--filter", "label=faultlab.inputs="+hash).Output()
		if err != nil {
			return nil, fmt.Errorf("docker image ls (%s): %w", f[0], err)
		}
		id, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
		if id == "" {
			return nil, fmt.Errorf("scripts/images.sh reported %s inputs=%s, but no image has that label", f[0], hash)
		}
		ids[f[0]] = id
	}
	for _, n := range names {
		if ids["faultlab/"+n+":local"] == "" {
			return nil, fmt.Errorf("scripts/images.sh did not report faultlab/%s:local:\n%s", n, out.String())
		}
	}
	return ids, nil
}

// lab returns the shared lab with every fault removed.
func lab(t testing.TB) *Lab {
	t.Helper()
	shared.once.Do(func() {
		pctx, pcancel := context.WithTimeout(context.Background(), 15*time.Second)
		shared.skip = dockerReachable(pctx)
		pcancel()
		if shared.skip != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		ids, err := buildImages(ctx, "faultlab", "toxiproxy", "prometheus")
		if err != nil {
			shared.err = err
			return
		}
		shared.lab, shared.err = Start(ctx, Config{
			Image:           ids["faultlab/faultlab:local"],
			ToxiproxyImage:  ids["faultlab/toxiproxy:local"],
			PrometheusImage: ids["faultlab/prometheus:local"],
			Policy:          testPolicy,
		})
	})
	if shared.skip != "" {
		t.Skip("skipping the container lab: " + shared.skip)
	}
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := shared.lab.ResetFaults(ctx); err != nil {
		t.Fatalf("reset faults: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := shared.lab.ResetFaults(ctx); err != nil {
			t.Errorf("reset faults: %v", err)
		}
	})
	return shared.lab
}

// call sends one request through the gateway and returns status, body and
// how long it took.
func call(t testing.TB, l *Lab, method, path string, body any) (int, []byte, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, l.GatewayURL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := l.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprintf("containerlab-%d", time.Now().UnixNano()))
	}
	start := time.Now()
	resp, err := l.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, time.Since(start)
}

// firstProductID finds a product id in the catalogue.
func firstProductID(t testing.TB, l *Lab) string {
	t.Helper()
	code, body, _ := call(t, l, http.MethodGet, "/api/v1/products", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/products: %d %s", code, body)
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("GET /api/v1/products: %v", err)
	}
	if id := findID(v); id != "" {
		return id
	}
	t.Fatalf("GET /api/v1/products: no product id in %s", body)
	return ""
}

func findID(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if id, ok := x["id"].(string); ok && id != "" {
			return id
		}
		for _, k := range []string{"products", "items", "data"} {
			if id := findID(x[k]); id != "" {
				return id
			}
		}
	case []any:
		for _, e := range x {
			if id := findID(e); id != "" {
				return id
			}
		}
	}
	return ""
}

// TestLatencyOnOneHop: a latency toxic on order-to-payment slows orders (which
// charge) and nothing else, and removing it restores them.
func TestLatencyOnOneHop(t *testing.T) {
	l := lab(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := firstProductID(t, l)

	code, body, base := call(t, l, http.MethodPost, "/api/v1/orders", chaos.OrderBody(id))
	if code/100 != 2 {
		t.Fatalf("POST /api/v1/orders before the toxic: %d %s", code, body)
	}

	const delay = 1500 * time.Millisecond
	f := chaos.FaultSpec{Kind: chaos.FaultToxic, Hop: "order-to-payment",
		Toxic: toxi.Toxic{Kind: toxi.Latency, LatencyMs: int(delay / time.Millisecond)}}
	if err := l.ApplyFault(ctx, f); err != nil {
		t.Fatal(err)
	}
	code, body, slow := call(t, l, http.MethodPost, "/api/v1/orders", chaos.OrderBody(id))
	if slow < delay {
		t.Errorf("order with %v on order-to-payment took %v (status %d), want ≥ %v", delay, slow, code, delay)
	}
	if _, _, list := call(t, l, http.MethodGet, "/api/v1/products", nil); list >= delay {
		t.Errorf("GET /api/v1/products took %v with latency only on order-to-payment", list)
	}
	t.Logf("order: %v without the toxic, %v with %v on order-to-payment (status %d %s)", base, slow, delay, code, strings.TrimSpace(string(body)))

	if err := l.RevertFault(ctx, f); err != nil {
		t.Fatal(err)
	}
	// The breaker on order → payment may have opened: orders recover once it
	// lets a probe through, within its cool-down.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body, after := call(t, l, http.MethodPost, "/api/v1/orders", chaos.OrderBody(id))
		if code/100 == 2 && after < delay {
			t.Logf("orders recovered after the toxic: %d in %v", code, after)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("orders did not recover within 60s of removing the toxic: last %d in %v (%s)", code, after, body)
		}
		time.Sleep(500 * time.Millisecond) // poll interval, bounded by the deadline
	}
}

// TestPrometheusScrapesEveryService: Prometheus in the lab sees every
// service up, so alert checks have data.
func TestPrometheusScrapesEveryService(t *testing.T) {
	l := lab(t)
	deadline := time.Now().Add(45 * time.Second)
	for {
		up, err := upTargets(l)
		if err == nil && len(up) == 5 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus targets up: %v (err %v), want the five services", up, err)
		}
		time.Sleep(500 * time.Millisecond) // polling Prometheus' scrape state, bounded by the deadline
	}
}

func upTargets(l *Lab) ([]string, error) {
	ts, err := targets(l)
	var up []string
	for _, tg := range ts {
		if tg.Health == "up" {
			up = append(up, tg.Job)
		}
	}
	return up, err
}

// upInstances returns the host of every service target that is up, sorted.
func upInstances(l *Lab) ([]string, error) {
	ts, err := targets(l)
	var up []string
	for _, tg := range ts {
		if tg.Health == "up" {
			host, _, _ := strings.Cut(tg.Instance, ":")
			up = append(up, host)
		}
	}
	slices.Sort(up)
	return up, err
}

// targets returns Prometheus' active targets of the five services' jobs.
func targets(l *Lab) ([]promapi.Target, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ts, err := promapi.Targets(ctx, l.HTTPClient(), l.URL("prometheus"))
	return slices.DeleteFunc(ts, func(t promapi.Target) bool {
		return !slices.Contains(topology.Names(), t.Job)
	}), err
}

// TestScenarios runs the same catalogue scenarios, with the same options,
// as the in-process lab (chaos/lab/scenarios_test.go), through containers:
// the hypotheses must hold across real network boundaries too.
func TestScenarios(t *testing.T) {
	for _, name := range []string{"payment-down", "payment-latency", "user-down"} {
		t.Run(name, func(t *testing.T) {
			sc, ok := chaos.Lookup(name)
			if !ok {
				t.Fatalf("scenario %s is not in chaos.Catalogue", name)
			}
			l := lab(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := chaos.Run(ctx, l, sc, chaos.Options{SteadyState: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			logVerdicts(t, res)
			if res.History == nil {
				t.Error("no history check: the scenario's data checks must include it")
			} else if !res.History.OK() {
				t.Log(res.History.String())
			}
			if !res.Passed() {
				logBreakerEvents(t, l, res.LoadStart)
				t.Errorf("scenario %s: hypothesis failed (aborted=%q, errors=%v)", name, res.Aborted, res.Errors)
			}
		})
	}
}

func logVerdicts(t *testing.T, res *chaos.Result) {
	t.Helper()
	for _, v := range res.Verdicts {
		t.Logf("%s %-8s %-60s measured %-28s want %s %s", v.Word(), v.Phase, v.Check, v.Measured, v.Want, v.Note)
	}
	last := map[string]chaos.BreakerState{}
	for _, b := range res.Breakers {
		if last[b.Breaker] != b.State {
			t.Logf("breaker %s %s at %v", b.Breaker, b.State, b.At.Round(10*time.Millisecond))
			last[b.Breaker] = b.State
		}
	}
	for _, w := range res.Windows {
		t.Logf("fault %q active %v–%v %s", w.Step, w.Start.Round(10*time.Millisecond), w.End.Round(10*time.Millisecond), w.Error)
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

// logBreakerEvents logs every breaker transition the services logged since
// the main load started, to explain a failed verdict.
func logBreakerEvents(t *testing.T, l *Lab, since time.Time) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	evs, err := l.Events(ctx, "breaker.state_change", since)
	if err != nil {
		t.Logf("breaker events: %v", err)
		return
	}
	for _, ev := range evs {
		ts, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(ev["@timestamp"]))
		t.Logf("at %v %v: %v", ts.Sub(since).Round(10*time.Millisecond), ev["service.name"], ev["message"])
	}
}
