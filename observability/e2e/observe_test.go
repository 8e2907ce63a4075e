package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
	"github.com/faultlab/faultlab/observability/promapi"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/shop"
)

// observePorts are the fixed ports of `make run` and `make observe`.
var observePorts = []string{
	"8080", "8081", "8082", "8083", "8084", "8474",
	"21001", "21002", "21003", "21004", "21005", "21006", "21007", "21008", "21009",
	"9428", "9090", "9093", "5066",
}

// alertNames are the rules of observability/prometheus/rules.
var alertNames = []string{"ServiceDown", "CircuitBreakerOpen", "GatewayErrorBudgetBurn",
	"HighLatencyP99", "RetryBudgetExhausted", "TokenValidationDegraded"}

// TestMakeObserve runs scripts/observe.sh (`make observe`) beside a lab on
// the default ports, as a user does after `make run`, and checks what its
// banner promises: Prometheus scrapes all five services and loaded every
// alert rule and the Alertmanager; the lab's log lines reach VictoriaLogs
// through Filebeat, findable by trace id; Ctrl-C stops every process.
func TestMakeObserve(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: starts the lab on its default ports and four observability processes")
	}
	var path []string
	for _, tool := range []string{"victoria-logs", "filebeat", "prometheus", "alertmanager"} {
		path = append(path, filepath.Dir(logstoretest.Tool(t, tool)))
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skipf("skipping: scripts/observe.sh needs curl: %v", err)
	}
	for _, port := range observePorts {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err != nil {
			if logstoretest.Required() {
				t.Fatalf("port %s is taken (is `make run` or `make observe` running?): %v", port, err)
			}
			t.Skipf("skipping: port %s is taken (is `make run` or `make observe` running?): %v", port, err)
		}
		ln.Close()
	}
	dir := t.TempDir()
	l, err := lab.Start(context.Background(), lab.Config{
		DataDir: filepath.Join(dir, "lab"),
		Argon2:  &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1},
	})
	if err != nil {
		t.Fatalf("start the lab on its default ports: %v", err)
	}
	t.Cleanup(func() { _ = l.Close() })

	obsDir := filepath.Join(dir, "observe")
	cmd := exec.Command("bash", "../../scripts/observe.sh")
	cmd.Env = append(os.Environ(),
		"PATH="+strings.Join(append(path, os.Getenv("PATH")), string(os.PathListSeparator)),
		"FAULTLAB_LOG_DIR="+l.LogDir, "FAULTLAB_OBSERVE_DIR="+obsDir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 64)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			for _, tool := range []string{"victoria-logs", "filebeat", "alertmanager", "prometheus"} {
				b, _ := os.ReadFile(filepath.Join(obsDir, tool+".log"))
				if len(b) > 2<<10 {
					b = b[len(b)-2<<10:]
				}
				t.Logf("%s.log (tail):\n%s", tool, b)
			}
			t.Logf("observe.sh stderr:\n%s", stderr.String())
		}
	})

	// The banner comes once every process answers.
	var banner []string
	deadline := time.After(2 * time.Minute)
wait:
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				t.Fatalf("observe.sh ended before it was up: %v\n%s", <-exited, strings.Join(banner, "\n"))
			}
			banner = append(banner, line)
			if strings.HasPrefix(line, "observe: up.") {
				break wait
			}
		case <-deadline:
			t.Fatalf("observe.sh not up within 2m:\n%s", strings.Join(banner, "\n"))
		}
	}
	go func() { // keep draining; the script prints on the way out too
		for range lines {
		}
	}()

	const prom = "http://127.0.0.1:9090"
	pollUntil(t, 30*time.Second, "Prometheus scrapes every service", func() (bool, string) {
		ts, err := promapi.Targets(t.Context(), nil, prom)
		if err != nil {
			return false, err.Error()
		}
		up := map[string]bool{}
		for _, svc := range shop.Services {
			up[svc] = len(promapi.Up(ts, svc)) > 0
		}
		for _, svc := range shop.Services {
			if !up[svc] {
				return false, fmt.Sprintf("targets %v", up)
			}
		}
		return true, ""
	})

	var rules struct {
		Data struct {
			Groups []struct {
				Rules []struct {
					Name string `json:"name"`
					Type string `json:"type"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"data"`
	}
	if err := getJSON(prom+"/api/v1/rules", &rules); err != nil {
		t.Fatal(err)
	}
	var loaded []string
	for _, g := range rules.Data.Groups {
		for _, r := range g.Rules {
			if r.Type == "alerting" {
				loaded = append(loaded, r.Name)
			}
		}
	}
	for _, name := range alertNames {
		if !slices.Contains(loaded, name) {
			t.Errorf("Prometheus of make observe has not loaded alert %s (loaded: %v)", name, loaded)
		}
	}
	pollUntil(t, 30*time.Second, "Prometheus finds the Alertmanager", func() (bool, string) {
		var am struct {
			Data struct {
				Active []struct {
					URL string `json:"url"`
				} `json:"activeAlertmanagers"`
			} `json:"data"`
		}
		if err := getJSON(prom+"/api/v1/alertmanagers", &am); err != nil {
			return false, err.Error()
		}
		for _, a := range am.Data.Active {
			if strings.Contains(a.URL, "127.0.0.1:9093") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("active alertmanagers %+v", am.Data.Active)
	})

	// One request with a trace id of ours, found across services in
	// VictoriaLogs.
	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req, err := http.NewRequest(http.MethodGet, "http://127.0.0.1:8080/api/v1/products?limit=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /api/v1/products: %s", resp.Status)
	}
	vl := logstore.VictoriaLogs{URL: "http://127.0.0.1:9428"}
	pollUntil(t, time.Minute, "the request's lines reach VictoriaLogs", func() (bool, string) {
		rows, err := vl.Query(t.Context(), `trace.id:"`+traceID+`"`, 20)
		if err != nil {
			return false, err.Error()
		}
		services := map[string]bool{}
		for _, r := range rows {
			if s, ok := r["service.name"].(string); ok {
				services[s] = true
			}
		}
		return services["gateway"] && services["product"], fmt.Sprintf("%d lines from %v", len(rows), services)
	})

	// Ctrl-C stops them all.
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		stopped = true
	case <-time.After(30 * time.Second):
		t.Fatal("observe.sh did not stop within 30s of Ctrl-C")
	}
	for _, port := range []string{"9428", "9090", "9093", "5066"} {
		pollUntil(t, 10*time.Second, "port "+port+" freed after Ctrl-C", func() (bool, string) {
			ln, err := net.Listen("tcp", "127.0.0.1:"+port)
			if err != nil {
				return false, err.Error()
			}
			ln.Close()
			return true, ""
		})
	}
}

// getJSON decodes the answer to a GET of url into v.
func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
