package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/internal/proctest"
	"github.com/faultlab/faultlab/observability/incident"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/shop"
)

// rulesFile is the real rules file, as promtool tests it and Prometheus
// loads it in `make observe`.
const rulesFile = "../prometheus/rules/faultlab.rules.yml"

// TestObservabilityEndToEnd runs payment-down and user-down against an
// ephemeral lab watched by real Prometheus, Filebeat and VictoriaLogs.
func TestObservabilityEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: starts Prometheus, VictoriaLogs, Filebeat and a lab for ~1 minute")
	}
	ctx := t.Context()
	vl := logstoretest.VictoriaLogs(t)
	l := startLab(t)
	logstoretest.Filebeat(t, "../filebeat/filebeat.local.yml",
		"FAULTLAB_LOG_DIR="+l.LogDir, "FAULTLAB_VLOGS_URL="+vl.URL)
	prom := startPrometheus(t, l.Addrs)
	l.SetPrometheusURL(prom)
	logs := logstore.VictoriaLogs{URL: vl.URL}

	// --- payment-down: CircuitBreakerOpen fires during the fault. ---
	res := runScenario(t, l, "payment-down", "CircuitBreakerOpen")
	fault := faultWindow(t, res)
	a, ok := findAlert(t, prom, "CircuitBreakerOpen", map[string]string{"job": "order", "name": "payment"})
	if !ok || a.State != "firing" {
		t.Fatalf("after payment-down, CircuitBreakerOpen{job=order,name=payment} is %+v (found %v), want firing (keep_firing_for 30s)", a, ok)
	}
	// activeAt is the evaluation that first saw the open breaker; with
	// for: 0s it fired there.
	detect := a.ActiveAt.Sub(fault.start)
	t.Logf("time to detect (payment down → CircuitBreakerOpen firing in Prometheus): %v (fault %v..%v, alert active at %v)",
		detect.Round(time.Millisecond), fault.start.Format("15:04:05.000"), fault.end.Format("15:04:05.000"), a.ActiveAt.Format("15:04:05.000"))
	// payment-down's fault lasts 2.5s and detection takes up to one breaker
	// trip, one scrape and one evaluation, so the alert may become active
	// just after the revert; the claim is that it fires while the breaker
	// is open, which outlasts the fault by the open timeout.
	// The scenario's own report records the time to detect.
	if len(res.Detections) != 1 || res.Detections[0].Alert != "CircuitBreakerOpen" || res.Detections[0].TimeToDetect() < 0 {
		t.Errorf("payment-down report detections %+v, want CircuitBreakerOpen seen firing after the fault", res.Detections)
	} else {
		t.Logf("payment-down report: CircuitBreakerOpen seen firing %v after the fault began", res.Detections[0].TimeToDetect().Round(time.Millisecond))
	}
	closedAt := breakerClosed(t, res, "order→payment")
	if a.ActiveAt.Before(fault.start) || !a.ActiveAt.Before(closedAt) {
		t.Errorf("CircuitBreakerOpen became active at %v, outside fault start %v .. breaker closed %v", a.ActiveAt, fault.start, closedAt)
	}

	// Prometheus sees the breaker closed again soon after recovery, long
	// before the alert's keep_firing_for lets it resolve.
	closedBy := pollUntil(t, 15*time.Second, "order's payment breaker closed in Prometheus", func() (bool, string) {
		v, err := promQuery(ctx, prom, `faultlab_circuitbreaker_state{job="order",name="payment",state="closed"}`)
		return err == nil && v == 1, fmt.Sprintf("value %v, err %v", v, err)
	})
	t.Logf("breaker seen closed in Prometheus %v after the fault's revert", closedBy.Sub(fault.end).Round(time.Millisecond))

	// --- logs reach VictoriaLogs through Filebeat. ---
	pollUntil(t, 30*time.Second, "order's breaker-open line in VictoriaLogs", func() (bool, string) {
		rows, err := logs.Query(ctx, `event.action:"breaker.state_change"`, 0)
		for _, r := range rows {
			if r["service.name"] == "order" && r["labels.upstream"] == "payment" && r["labels.to"] == "open" {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d breaker.state_change lines, err %v", len(rows), err)
	})

	traceID := failedOrderTrace(t, res)
	fileEvents, err := incident.Timeline(ctx, incident.Files{Dir: l.LogDir}, traceID, incident.Filter{})
	if err != nil {
		t.Fatalf("timeline from the lab's files: %v", err)
	}
	var rows []map[string]any
	pollUntil(t, 30*time.Second, "the failing order's lines in VictoriaLogs", func() (bool, string) {
		rows, err = logs.Query(ctx, `trace.id:"`+traceID+`"`, 0)
		return err == nil && len(rows) >= len(fileEvents), fmt.Sprintf("%d of %d lines, err %v", len(rows), len(fileEvents), err)
	})
	seen := map[string]bool{}
	for _, r := range rows {
		seen[fmt.Sprint(r["service.name"], " ", r["event.action"], " ", r["http.response.status_code"])] = true
	}
	for _, want := range []string{"gateway http.request 503", "order http.request 503"} {
		if !seen[want] {
			t.Errorf("VictoriaLogs lines of trace %s lack %q: %v", traceID, want, seen)
		}
	}

	// --- faultlab incident rebuilds the request's path from VictoriaLogs. ---
	evs, err := incident.Timeline(ctx, incident.VictoriaLogs{Client: logs}, traceID, incident.Filter{Since: res.Started.Add(-time.Minute)})
	if err != nil {
		t.Fatalf("incident timeline: %v", err)
	}
	if len(evs) != len(fileEvents) {
		t.Errorf("timeline from VictoriaLogs has %d events, the log files %d", len(evs), len(fileEvents))
	}
	var path []string
	toPayment := false
	for _, e := range evs {
		path = append(path, e.Service+":"+e.Action)
		toPayment = toPayment || (e.Service == "order" && e.Upstream == "payment")
	}
	// The gateway answers last (its access line is written when its
	// handler returns); lines carry millisecond timestamps, so it may tie
	// with its own upstream.call line.
	var answer *incident.Event
	for i, e := range evs {
		if e.Service == "gateway" && e.Action == "http.request" {
			answer = &evs[i]
		}
	}
	if answer == nil || answer.Status != 503 || answer.Method != "POST" || !strings.HasSuffix(answer.Route, "/orders") {
		t.Errorf("no gateway access line answering 503 to POST …/orders in the timeline %v: %+v", path, answer)
	} else {
		for _, e := range evs {
			if e.Service != "gateway" && e.Time.After(answer.Time) {
				t.Errorf("%s %s at %v is after the gateway's answer at %v", e.Service, e.Action, e.Time, answer.Time)
			}
		}
	}
	if evs[0].Service == "gateway" && evs[0].Action == "http.request" {
		t.Errorf("the timeline starts with the gateway's answer: %v", path)
	}
	if !toPayment {
		t.Errorf("the timeline shows no order event about its call to payment: %v", path)
	}
	var b bytes.Buffer
	if err := incident.Render(&b, evs); err != nil {
		t.Fatal(err)
	}
	t.Logf("faultlab incident %s:\n%s", traceID, b.String())

	// --- user-down: TokenValidationDegraded fires during the fault. ---
	ures := runScenario(t, l, "user-down", "TokenValidationDegraded")
	ufault := faultWindow(t, ures)
	if len(ures.Detections) != 1 || ures.Detections[0].TimeToDetect() < 0 {
		t.Errorf("user-down report detections %+v, want TokenValidationDegraded seen firing after the fault", ures.Detections)
	} else {
		t.Logf("user-down report: TokenValidationDegraded seen firing %v after the fault began", ures.Detections[0].TimeToDetect().Round(time.Millisecond))
	}
	ta, ok := findAlert(t, prom, "TokenValidationDegraded", nil)
	if !ok {
		// runScenario already required the alert_fires verdict (the alert
		// was seen firing during the run); with no keep_firing_for, it may
		// have resolved once the token cache's fallbacks stopped.
		t.Logf("TokenValidationDegraded fired during user-down and has resolved since")
	} else {
		t.Logf("time to detect (user down → TokenValidationDegraded firing): %v", ta.ActiveAt.Sub(ufault.start).Round(time.Millisecond))
		if ta.ActiveAt.Before(ufault.start) {
			t.Errorf("TokenValidationDegraded active at %v, before user-down's fault at %v", ta.ActiveAt, ufault.start)
		}
	}

	// --- CircuitBreakerOpen for order→payment resolves: the breaker closed
	// (above) and keep_firing_for (30s) has passed. ---
	resolved := pollUntil(t, time.Until(fault.end.Add(45*time.Second)), "CircuitBreakerOpen{job=order,name=payment} resolved", func() (bool, string) {
		a, ok := findAlert(t, prom, "CircuitBreakerOpen", map[string]string{"job": "order", "name": "payment"})
		return !ok, fmt.Sprintf("%+v", a)
	})
	t.Logf("CircuitBreakerOpen{order,payment} resolved %v after the fault's revert (keep_firing_for 30s)", resolved.Sub(fault.end).Round(time.Millisecond))

	// --- no log line carries a secret. ---
	token, err := l.Token(ctx)
	if err != nil {
		t.Fatalf("token: %v", err)
	}
	scanSecrets(t, l.LogDir, map[string]string{
		"bearer token":        token,
		"customer password":   user.DemoCustomerPassword,
		"admin password":      user.DemoAdminPassword,
		"gateway key":         l.Keys.Gateway,
		"service key":         l.Keys.Service,
		"default gateway key": lab.DefaultGatewayKey,
		"default service key": lab.DefaultServiceKey,
	})
}

func startLab(t *testing.T) *lab.Lab {
	t.Helper()
	return labtest.Start(t, lab.Config{
		// A short open interval so that recovery fits in a few seconds.
		Default: resilience.Policy{BreakerOpenTimeout: 2 * time.Second, BreakerMinRequests: 6},
	})
}

// startPrometheus runs the real Prometheus with the real rules, scraping
// each service (job = service name) every second, and returns its URL once
// every target has been scraped up.
func startPrometheus(t *testing.T, addrs map[string]string) string {
	t.Helper()
	rules, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - %q\nscrape_configs:\n", rules)
	for _, svc := range shop.Services {
		fmt.Fprintf(&cfg, "  - job_name: %s\n    static_configs:\n      - targets: [%q]\n", svc, addrs[svc])
	}
	u := runPrometheus(t, cfg.String())
	pollUntil(t, 15*time.Second, "every service scraped up", func() (bool, string) {
		v, err := promQuery(t.Context(), u, `count(up == 1)`)
		return err == nil && v == float64(len(shop.Services)), fmt.Sprintf("%v up, err %v", v, err)
	})
	return u
}

// runPrometheus runs the real Prometheus on cfg until the test ends, and
// returns its URL once it is ready.
func runPrometheus(t *testing.T, cfg string) string {
	t.Helper()
	bin := logstoretest.Tool(t, "prometheus")
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := proctest.FreeAddrs(t, 1)[0]
	done := proctest.Start(t, "prometheus", exec.Command(bin,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--log.level=warn"), syscall.SIGTERM)
	u := "http://" + addr
	pollUntil(t, 30*time.Second, "prometheus ready", func() (bool, string) {
		select {
		case <-done:
			t.Fatal("prometheus exited") // its output is logged at Cleanup
		default:
		}
		resp, err := http.Get(u + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	return u
}

// runScenario runs a catalogue scenario with an extra check that alert
// fires, and fails the test unless the run was clean and the alert fired.
func runScenario(t *testing.T, env chaos.Env, name, alert string) *chaos.Result {
	t.Helper()
	sc, ok := chaos.Lookup(name)
	if !ok {
		t.Fatalf("no scenario %q", name)
	}
	sc.Hypothesis = append(slices.Clone(sc.Hypothesis), chaos.Check{Kind: chaos.CheckAlertFires, Alert: alert})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, env, sc, chaos.Options{SteadyState: time.Second})
	if err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	judged := false
	for _, v := range res.Verdicts {
		mark := "PASS"
		switch {
		case v.Skipped:
			mark = "SKIP"
		case !v.Pass:
			mark = "FAIL"
		}
		t.Logf("%s %s %-8s %-55s measured %-24s want %s %s", name, mark, v.Phase, v.Check, v.Measured, v.Want, v.Note)
		if v.Kind == chaos.CheckAlertFires {
			judged = true
			if v.Skipped || !v.Pass {
				t.Errorf("%s: alert %s was not seen firing (%s)", name, alert, mark)
			}
		}
	}
	if !judged {
		t.Errorf("%s: no alert_fires verdict", name)
	}
	// The scenario's own hypothesis is judged by chaos/lab's TestScenarios;
	// here only the alert check and a clean run count, so that a timing
	// check squeezed by the extra processes does not hide what this test
	// is about.
	if res.Aborted != "" || len(res.Errors) > 0 {
		t.Errorf("%s: aborted %q, errors %v", name, res.Aborted, res.Errors)
	}
	if !res.Passed() {
		t.Logf("note: %s's own hypothesis did not fully pass (see FAIL lines above)", name)
	}
	return res
}

type window struct{ start, end time.Time }

// faultWindow is the wall-clock span of a run's first fault.
func faultWindow(t *testing.T, res *chaos.Result) window {
	t.Helper()
	if len(res.Windows) == 0 || res.Windows[0].End < 0 {
		t.Fatalf("%s: no complete fault window: %+v", res.Scenario.Name, res.Windows)
	}
	w := res.Windows[0]
	return window{res.LoadStart.Add(w.Start), res.LoadStart.Add(w.End)}
}

// breakerClosed is when the run's samples first saw breaker closed after
// having seen it open.
func breakerClosed(t *testing.T, res *chaos.Result, breaker string) time.Time {
	t.Helper()
	opened := false
	for _, b := range res.Breakers {
		if b.Breaker != breaker {
			continue
		}
		switch {
		case b.State == "open":
			opened = true
		case opened && b.State == "closed":
			return res.LoadStart.Add(b.At)
		}
	}
	t.Fatalf("%s: breaker %s never seen closed after open: %+v", res.Scenario.Name, breaker, res.Breakers)
	return time.Time{}
}

// failedOrderTrace is the trace id of a create-order request that failed
// with 503 during the fault.
func failedOrderTrace(t *testing.T, res *chaos.Result) string {
	t.Helper()
	for _, f := range res.Failures {
		if f.Call == chaos.CallCreateOrder && f.Status == http.StatusServiceUnavailable && f.TraceID != "" {
			return f.TraceID
		}
	}
	t.Fatalf("payment-down recorded no failed create_order with a trace id: %+v", res.Failures)
	return ""
}

// findAlert returns the active alert named name whose labels include want.
func findAlert(t *testing.T, prom, name string, want map[string]string) (chaos.Alert, bool) {
	t.Helper()
	as, err := lab.PrometheusAlerts(t.Context(), http.DefaultClient, prom)
	if err != nil {
		t.Fatalf("alerts: %v", err)
	}
next:
	for _, a := range as {
		if a.Name != name {
			continue
		}
		for k, v := range want {
			if a.Labels[k] != v {
				continue next
			}
		}
		return a, true
	}
	return chaos.Alert{}, false
}

// promQuery runs an instant query that must return one sample.
func promQuery(ctx context.Context, prom, q string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, prom+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return 0, fmt.Errorf("query %s: %w", q, err)
	}
	if n := len(body.Data.Result); n != 1 {
		return 0, fmt.Errorf("query %s: %d samples, want 1", q, n)
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// pollUntil calls cond every 200ms until it holds, and fails the test with
// cond's last note if it does not within d. It returns when cond held.
func pollUntil(t *testing.T, d time.Duration, what string, cond func() (bool, string)) time.Time {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, note := cond()
		if ok {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %s", what, d, note)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("%s: %v", what, t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// jwtLike matches a JWT-shaped bearer token (base64url JSON header and
// payload), whoever's it is.
var jwtLike = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.eyJ`)

// scanSecrets reads every line of every log file in dir and fails on any
// secret or JWT-shaped token.
func scanSecrets(t *testing.T, dir string, secrets map[string]string) {
	t.Helper()
	for name, s := range secrets {
		if len(s) < 8 {
			t.Fatalf("secret %q is %q: too short to scan for", name, s)
		}
	}
	if !jwtLike.MatchString(secrets["bearer token"]) {
		t.Logf("note: the lab's token is not JWT-shaped, so the pattern scan only covers other tokens")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil || len(paths) != len(shop.Services) {
		t.Fatalf("log files in %s: %v (err %v), want one per service", dir, paths, err)
	}
	lines := 0
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		for n := 1; sc.Scan(); n++ {
			lines++
			line := sc.Text()
			for name, s := range secrets {
				if strings.Contains(line, s) {
					t.Errorf("%s:%d carries the %s: %.300s", filepath.Base(p), n, name, line)
				}
			}
			if m := jwtLike.FindString(line); m != "" {
				t.Errorf("%s:%d carries a bearer token (%s…): %.300s", filepath.Base(p), n, m, line)
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if lines < 500 {
		t.Errorf("scanned only %d log lines; the two scenarios should have written thousands", lines)
	}
	t.Logf("secrets scan: %d lines in %d files, no secret found", lines, len(paths))
}
