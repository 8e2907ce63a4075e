package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/proctest"
	"github.com/faultlab/faultlab/internal/walkthrough"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
)

// stack is one Compose project of the lab's files, on host ports of its own.
type stack struct {
	t       *testing.T
	cli     []string
	root    string
	project string
	env     []string
	gateway string // http://127.0.0.1:<port>
	toxi    string // http://127.0.0.1:<port>
}

func newStack(t *testing.T) *stack {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	s := &stack{t: t, cli: compose(t), root: root, project: fmt.Sprintf("faultlabtest%d", os.Getpid())}
	ports := proctest.FreePorts(t, 2)
	gw, tp := ports[0], ports[1]
	s.gateway, s.toxi = "http://127.0.0.1:"+gw, "http://127.0.0.1:"+tp
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAULTLAB_") && !strings.HasPrefix(kv, "TOXIPROXY_IMAGE=") && !strings.HasPrefix(kv, "COMPOSE_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "FAULTLAB_GATEWAY_PORT="+gw, "FAULTLAB_TOXIPROXY_PORT="+tp, "FAULTLAB_PUBLIC_URL="+s.gateway)
	return s
}

// run runs the Compose CLI on the project and returns its combined output.
func (s *stack) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args = append([]string{"-p", s.project}, args...)
	cmd := exec.CommandContext(ctx, s.cli[0], append(s.cli[1:], args...)...)
	cmd.Dir, cmd.Env = s.root, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("compose %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

func (s *stack) up(files ...string) {
	s.t.Helper()
	var args []string
	for _, f := range files {
		args = append(args, "-f", f)
	}
	if out, err := s.run(5*time.Minute, append(args, "up", "-d")...); err != nil {
		s.t.Fatalf("%v\n%s", err, out)
	}
}

// waitOK polls url until it answers 200, or fails the test at the deadline.
func waitOK(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(500 * time.Millisecond) // polling interval, not a wait for state
	}
	t.Fatalf("%s did not answer 200 within %s: %s", url, within, last)
}

// call sends one JSON request and returns the status, content type, body and
// how long it took.
func call(t *testing.T, method, url, token, key, body string) (int, string, string, time.Duration) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	c := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), string(b), time.Since(start)
}

// TestComposeUp brings docker-compose.yml up as a user would (`docker-compose
// up -d`, core services from local images, product, order and payment
// replicated), runs the README's walk-through against its gateway, then adds
// the chaos overlay and uses toxiproxy-cli to slow order-to-payment-1..3
// (every payment replica, as order reaches them): orders degrade to a clear
// 409 or 503, the catalogue does not notice, and once the toxics are gone
// the same order goes through, charged once.
// orderToPayment are order's proxies to the three payment replicas of
// docker-compose.yml (docker/toxiproxy/toxiproxy.json).
var orderToPayment = []string{"order-to-payment-1", "order-to-payment-2", "order-to-payment-3"}

func TestComposeUp(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: builds images and starts containers")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		t.Skipf("skipping: no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
	}
	for _, tool := range walkthrough.Tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("skipping: the walk-through needs %s: %v", tool, err)
		}
	}
	cliPath, err := logstore.FindTool("toxiproxy-cli", logstoretest.Dirs()...)
	if err != nil {
		if logstoretest.Required() {
			t.Fatal(err)
		}
		t.Skipf("skipping: %v", err)
	}
	s := newStack(t)
	build := exec.Command("bash", "scripts/images.sh", "faultlab", "toxiproxy")
	build.Dir = s.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		files := []string{"-f", "docker-compose.yml", "-f", "docker-compose.chaos.yml"}
		if t.Failed() {
			out, _ := s.run(time.Minute, append(files, "logs", "--no-color", "--tail", "40")...)
			t.Logf("compose logs (tail):\n%s", out)
		}
		if out, err := s.run(3*time.Minute, append(files, "down", "-v", "--remove-orphans")...); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})

	// 1. The core services, and the README's walk-through against them.
	s.up("docker-compose.yml")
	waitOK(t, s.gateway+"/readyz", 3*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := walkthrough.Run(ctx, filepath.Join(s.root, "README.md"), s.gateway, t.TempDir())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, err := range walkthrough.Check(out, s.gateway) {
		t.Errorf("walk-through on compose: %v", err)
	}
	if t.Failed() {
		t.Fatalf("walk-through output:\n%s", out)
	}

	// 2. The chaos overlay: every hop through Toxiproxy, state kept.
	s.up("docker-compose.yml", "docker-compose.chaos.yml")
	waitOK(t, s.toxi+"/proxies", 2*time.Minute)
	waitOK(t, s.gateway+"/readyz", 3*time.Minute)
	st, _, body, _ := call(t, http.MethodPost, s.gateway+"/api/v1/login", "", "", `{"email":"alice@example.com","password":"alice-password"}`)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal([]byte(body), &login); st != http.StatusOK || err != nil || login.AccessToken == "" {
		t.Fatalf("login through the overlay: %d %s", st, body)
	}
	tok := login.AccessToken
	order := `{"items":[{"product_id":"prd_002","quantity":1}]}`
	if st, _, body, _ := call(t, http.MethodPost, s.gateway+"/api/v1/orders", tok, "compose-before", order); st != http.StatusCreated {
		t.Fatalf("order before the toxic: %d %s", st, body)
	}

	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(cliPath, append([]string{"--host", s.toxi}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("toxiproxy-cli %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	list := cli("list")
	for _, hop := range orderToPayment {
		if !strings.Contains(list, hop) {
			t.Fatalf("toxiproxy-cli list shows no %s:\n%s", hop, list)
		}
		cli("toxic", "add", "-t", "latency", "-a", "latency=2000", hop)
	}
	st, ct, body, took := call(t, http.MethodPost, s.gateway+"/api/v1/orders", tok, "compose-slow", order)
	if (st != http.StatusConflict && st != http.StatusServiceUnavailable) || ct != "application/problem+json" {
		t.Errorf("order with 2 s on every order-to-payment-<n>: %d %s %s in %s, want 409 or 503 problem+json", st, ct, body, took)
	}
	t.Logf("order with 2 s on every order-to-payment-<n>: %d in %s: %s", st, took.Round(time.Millisecond), body)
	if st, _, body, took := call(t, http.MethodGet, s.gateway+"/api/v1/products?limit=2", tok, "", ""); st != http.StatusOK {
		t.Errorf("catalogue with slow order-to-payment proxies: %d %s", st, body)
	} else {
		t.Logf("catalogue meanwhile: 200 in %s", took.Round(time.Millisecond))
	}

	for _, hop := range orderToPayment {
		cli("toxic", "remove", "-n", "latency_downstream", hop)
	}
	// The client retries its order with the same key until the breaker
	// lets payment through again.
	deadline := time.Now().Add(90 * time.Second)
	for {
		st, _, body, _ = call(t, http.MethodPost, s.gateway+"/api/v1/orders", tok, "compose-slow", order)
		if st == http.StatusCreated || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second) // the client's retry interval
	}
	if st != http.StatusCreated || !strings.Contains(body, `"status":"confirmed"`) {
		t.Fatalf("order after the toxic was removed: %d %s", st, body)
	}
	var o struct {
		ID        string `json:"id"`
		PaymentID string `json:"payment_id"`
	}
	if err := json.Unmarshal([]byte(body), &o); err != nil {
		t.Fatal(err)
	}
	st, _, body, _ = call(t, http.MethodGet, s.gateway+"/api/v1/payments/"+o.PaymentID, tok, "", "")
	if st != http.StatusOK || !strings.Contains(body, `"order_id":"`+o.ID+`"`) {
		t.Errorf("payment %s of order %s: %d %s", o.PaymentID, o.ID, st, body)
	}
}
