package deploy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
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

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/internal/proctest"
)

// swarm is a Docker Swarm stack of deploy/swarm/stack.yml.
type swarm struct {
	t          *testing.T
	root       string
	name       string
	env        []string
	gateway    string
	serviceKey string
	source     history.Source // the stores' /internal endpoints, through the probe
	token      string         // alice's access token
}

// newSwarm builds the images, makes this engine a swarm manager and
// registers the stack's removal; the stack gets fresh keys and a fresh
// database password, and the gateway a free port.
func newSwarm(t *testing.T) *swarm {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	port := proctest.FreePorts(t, 1)[0]
	s := &swarm{t: t, root: root, name: "faultlabswarm" + strconv.Itoa(os.Getpid()), gateway: "http://127.0.0.1:" + port,
		serviceKey: randomHex(t)}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FAULTLAB_") {
			s.env = append(s.env, kv)
		}
	}
	s.env = append(s.env, "FAULTLAB_GATEWAY_PORT="+port, "FAULTLAB_PUBLIC_URL="+s.gateway,
		"FAULTLAB_SERVICE_KEY="+s.serviceKey, "FAULTLAB_GATEWAY_KEY="+randomHex(t), "FAULTLAB_POSTGRES_PASSWORD="+randomHex(t),
		"FAULTLAB_USER_SIGNING_KEY="+signingKey(t))
	// Cached by input hash; toxiproxy is the probe's.
	build := exec.Command("bash", "scripts/images.sh", "faultlab", "postgres", "toxiproxy")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("scripts/images.sh: %v\n%s", err, out)
	} else {
		t.Logf("scripts/images.sh:\n%s", bytes.TrimSpace(out))
	}
	s.joinSwarm()
	t.Cleanup(func() { s.remove() })
	return s
}

// signingKey writes a fresh Ed25519 key, PKCS #8 PEM as services/user
// reads it (and as openssl genpkey -algorithm ed25519 writes it), and
// returns its path: the stack's user_signing_key secret.
func signingKey(t *testing.T) string {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "user-signing.key")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
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
	// The swarm makes docker_gwbridge (the overlays' way out) and leaves
	// it behind on leave: remove it too unless it was here before.
	_, gwErr := s.docker(30*time.Second, "network", "inspect", "docker_gwbridge")
	if out, err := s.docker(time.Minute, "swarm", "init", "--advertise-addr", "127.0.0.1"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := s.docker(time.Minute, "swarm", "leave", "--force"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
		if gwErr == nil {
			return
		}
		if _, err := s.docker(30*time.Second, "network", "inspect", "docker_gwbridge"); err != nil {
			return // not made this time
		}
		if out, err := s.docker(time.Minute, "network", "rm", "docker_gwbridge"); err != nil {
			t.Errorf("%v\n%s", err, out)
		}
	})
}

// healthy returns the ids of the running containers of one service whose
// health check passes (a service is healthy once its store is open and it
// listens).
func (s *swarm) healthy(service string) ([]string, error) {
	out, err := s.docker(30*time.Second, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+s.name+"_"+service,
		"--filter", "status=running", "--filter", "health=healthy")
	if err != nil {
		return nil, fmt.Errorf("%w\n%s", err, out)
	}
	return strings.Fields(out), nil
}

// post sends a JSON body to the gateway, with token and key when set.
func (s *swarm) post(path, token, key, body string) (int, []byte, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodPost, s.gateway+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if key != "" {
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

// logIn logs alice in and returns her access token.
func (s *swarm) logIn() (string, error) {
	st, body, err := s.post("/api/v1/login", "", "", `{"email":"alice@example.com","password":"alice-password"}`)
	if err != nil || st != http.StatusOK {
		return "", fmt.Errorf("login: %d %s %v", st, body, err)
	}
	var login struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(body, &login); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	return login.AccessToken, nil
}

func (s *swarm) login() string {
	tok, err := s.logIn()
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// sharedKey: ten logins (each issued by either user task) and, with each
// token, GET /api/v1/orders (each validated by either user task, through
// the gateway's dns+ balancing): with a key per task about half would
// answer 401; with the one secret key none does.
func (s *swarm) sharedKey() {
	t := s.t
	c := &http.Client{Timeout: 10 * time.Second}
	for i := range 10 {
		tok, err := s.logIn()
		if err != nil {
			t.Fatal(err)
		}
		req, err := http.NewRequest(http.MethodGet, s.gateway+"/api/v1/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("token %d of 10 from the user tasks: GET /api/v1/orders answered %d, want 200", i+1, resp.StatusCode)
		}
	}
}

// order logs in and places one order with key; it returns the status, or
// an error when the gateway did not answer.
func (s *swarm) order(key string) (int, error) {
	tok, err := s.logIn()
	if err != nil {
		return 0, err
	}
	st, body, err := s.post("/api/v1/orders", tok, key, `{"items":[{"product_id":"prd_002","quantity":1}]}`)
	if err != nil || st != http.StatusCreated {
		return st, fmt.Errorf("order: %d %s %v", st, bytes.TrimSpace(body), err)
	}
	return st, nil
}

// TestSwarmStack deploys deploy/swarm/stack.yml on a one-node swarm on
// loopback (the shop on the local PostgreSQL image, payment ×3, order ×2,
// product ×2, user ×2 on one signing key, a Swarm secret), places an order through the published gateway, then, under
// load (chaos.Workload, every create_order recorded):
//
//   - kills one of payment's three tasks; Swarm starts a replacement, and
//     the history check (chaos/history, over the stores' /internal
//     endpoints) finds no anomaly; the client-visible failures are logged;
//   - rolls payment, then order, with `docker service update --force`
//     (start-first, stack.yml): not one request fails, and the history
//     check finds no anomaly.
//
// It leaves the swarm and removes the stack, its networks and its volumes,
// on failure too.
func TestSwarmStack(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: builds images and runs a swarm")
	}
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
		}
		t.Skipf("skipping: no Docker engine answers: %v: %s", err, bytes.TrimSpace(out))
	}
	s := newSwarm(t)
	start := time.Now()
	if out, err := s.docker(2*time.Minute, "stack", "deploy", "--detach=true", "-c", "deploy/swarm/stack.yml", s.name); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	proctest.Eventually(t, "an order through the published gateway", 3*time.Minute, pollEvery, func() error { _, err := s.order("swarm-before"); return err })
	t.Logf("stack up and an order confirmed after %s", time.Since(start).Round(100*time.Millisecond))
	// All at once: a task that started before PostgreSQL answered may
	// still exit and be replaced.
	proctest.Eventually(t, "every task healthy", time.Minute, pollEvery, func() error {
		for svc, n := range map[string]int{"payment": 3, "order": 2, "product": 2, "user": 2, "gateway": 1, "postgres": 1} {
			ids, err := s.healthy(svc)
			if err == nil && len(ids) != n {
				err = fmt.Errorf("%s: %d of %d tasks healthy", svc, len(ids), n)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	s.source = s.probe()
	s.token = s.login()
	s.sharedKey()

	t.Run("kill", s.killUnderLoad)
	t.Run("rolling-update", s.rollingUpdate)
	t.Logf("TestSwarmStack: %s from deploy to the end of the checks", time.Since(start).Round(time.Second))
}

// remove takes the stack down and waits until its containers and networks
// are gone (docker stack rm returns before they are).
func (s *swarm) remove() {
	t := s.t
	if t.Failed() {
		// docker logs per task: docker service logs can hang on tasks that
		// are gone.
		for _, svc := range []string{"gateway", "order", "payment", "postgres"} {
			ids, _ := s.docker(30*time.Second, "ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+s.name+"_"+svc)
			for _, id := range strings.Fields(ids) {
				out, _ := s.docker(30*time.Second, "logs", "--tail", "20", id)
				t.Logf("%s task %s logs (tail):\n%s", svc, id, out)
			}
		}
	}
	if out, err := s.docker(time.Minute, "stack", "rm", s.name); err != nil {
		t.Errorf("%v\n%s", err, out)
		return
	}
	label := "label=com.docker.stack.namespace=" + s.name
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		c, _ := s.docker(30*time.Second, "ps", "-aq", "--filter", label)
		n, _ := s.docker(30*time.Second, "network", "ls", "-q", "--filter", label)
		if strings.TrimSpace(c+n) == "" {
			// The stack's named volume (pgdata) outlives docker stack rm.
			v, _ := s.docker(30*time.Second, "volume", "ls", "-q", "--filter", label)
			if vols := strings.Fields(v); len(vols) > 0 {
				if out, err := s.docker(time.Minute, append([]string{"volume", "rm"}, vols...)...); err != nil {
					t.Errorf("%v\n%s", err, out)
				}
			}
			return
		}
		time.Sleep(500 * time.Millisecond) // polling interval, not a wait for state
	}
	t.Errorf("stack %s: containers or networks left after a minute", s.name)
}
