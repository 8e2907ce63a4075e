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
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/proctest"
)

// swarm is a Docker Swarm stack of deploy/swarm/stack.yml.
type swarm struct {
	t       *testing.T
	root    string
	name    string
	env     []string
	gateway string
}

func (s *swarm) docker(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Dir, cmd.Env = s.root, s.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("docker %s: %w", strings.Join(args, " "), err)
	}
	return string(out), nil
}

// joinSwarm makes this engine a swarm manager on loopback, and leaves the
// swarm at cleanup; a swarm that was already active is used and left alone.
func (s *swarm) joinSwarm() {
	t := s.t
	state, err := s.docker(30*time.Second, "info", "--format", "{{.Swarm.LocalNodeState}}")
	if err != nil {
		t.Fatalf("%v\n%s", err, state)
	}
	if strings.TrimSpace(state) == "active" {
		t.Log("this engine is already in a swarm: using it, and not leaving it afterwards")
		return
	}
	if out, err := s.docker(time.Minute, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.docker(time.Minute, "swarm", "leave", "--force"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
}

// tasks returns the ids of the running containers of one service.
func (s *swarm) tasks(service string) []string {
	out, err := s.docker(30*time.Second, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.name+"_"+service,
		"--filter", "status=running")
	if err != nil {
		s.t.Fatalf("%v\n%s", err, out)
	}
	return strings.Fields(out)
}

// order logs in and places one order with key; it returns the status, or
// an error when the gateway did not answer.
func (s *swarm) order(key string) (int, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	post := func(path, token, body string) (int, []byte, error) {
		req, err := http.NewRequest(http.MethodPost, s.gateway+path, strings.NewReader(body))
		if err != nil {
			return 0, nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, b, err
	}
	st, body, err := post("/api/v1/login", "", `{"email":"alice@example.com","password":"alice-password"}`)
	if err != nil || st != http.StatusOK {
		return st, fmt.Errorf("login: %d %s %v", st, body, err)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &login); err != nil {
		return st, fmt.Errorf("login: %w", err)
	}
	st, body, err = post("/api/v1/orders", login.AccessToken, `{"items":[{"product_id":"prd_002","quantity":1}]}`)
	if err != nil || st != http.StatusCreated {
		return st, fmt.Errorf("order: %d %s %v", st, bytes.TrimSpace(body), err)
	}
	return st, nil
}

// TestSwarmStack deploys deploy/swarm/stack.yml on a one-node swarm on
// loopback, places an order through the published gateway, kills one of
// payment's three tasks, and sees orders still go through while Swarm
// starts a replacement.
func TestSwarmStack(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: builds an image and runs a swarm")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
		}
		t.Skipf("skipping: no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePorts(t, 1)[0]
	s := &swarm{t: t, root: root, name: "faultlabswarm" + strconv.Itoa(os.Getpid()), gateway: "http://127.0.0.1:" + port}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAULTLAB_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "FAULTLAB_GATEWAY_PORT="+port, "FAULTLAB_PUBLIC_URL="+s.gateway)
	build := exec.Command("bash", "scripts/images.sh", "faultlab") // cached by input hash
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	}
	s.joinSwarm()
	t.Cleanup(func() { s.remove() })
	start := time.Now()
	if out, err := s.docker(2*time.Minute, "stack", "deploy", "--detach=true", "-c", "deploy/swarm/stack.yml", s.name); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	proctest.Eventually(t, "an order through the published gateway", 2*time.Minute, 500*time.Millisecond, func() error { _, err := s.order("swarm-before"); return err })
	t.Logf("stack up and an order confirmed after %s", time.Since(start).Round(100*time.Millisecond))

	payment := s.tasks("payment")
	if len(payment) != 3 {
		t.Fatalf("payment runs %d tasks, want 3", len(payment))
	}
	if out, err := s.docker(time.Minute, "kill", payment[0]); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	killed := time.Now()
	ok := 0
	for i := range 5 {
		if _, err := s.order(fmt.Sprintf("swarm-after-%d", i)); err == nil {
			ok++
		} else {
			t.Logf("order %d after the kill: %v", i, err)
		}
	}
	if ok == 0 {
		t.Fatal("no order went through after one payment task was killed")
	}
	proctest.Eventually(t, "Swarm replaces the killed payment task", time.Minute, 500*time.Millisecond, func() error {
		if n := len(s.tasks("payment")); n != 3 {
			return fmt.Errorf("%d payment tasks running", n)
		}
		return nil
	})
	t.Logf("after the kill: %d of 5 orders confirmed; payment back to 3 tasks after %s", ok, time.Since(killed).Round(100*time.Millisecond))
}

// remove takes the stack down and waits until its containers and networks
// are gone (docker stack rm returns before they are).
func (s *swarm) remove() {
	t := s.t
	if t.Failed() {
		for _, svc := range []string{"gateway", "order", "payment"} {
			out, _ := s.docker(time.Minute, "service", "logs", "--tail", "20", s.name+"_"+svc)
			t.Logf("%s logs (tail):\n%s", svc, out)
		}
	}
	if out, err := s.docker(time.Minute, "stack", "rm", s.name); err != nil {
		t.Errorf("%v\n%s", err, out)
		return
	}
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		c, _ := s.docker(30*time.Second, "ps", "-aq", "--filter", "label=com.docker.stack.namespace="+s.name)
		n, _ := s.docker(30*time.Second, "network", "ls", "-q", "--filter", "label=com.docker.stack.namespace="+s.name)
		if strings.TrimSpace(c+n) == "" {
			return
		}
		time.Sleep(500 * time.Millisecond) // polling interval, not a wait for state
	}
	t.Errorf("stack %s: containers or networks left after a minute", s.name)
}
