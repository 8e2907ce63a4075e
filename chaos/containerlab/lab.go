package containerlab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
)

// Config says which images to run. The zero value runs the images that
// scripts/images.sh builds, with demo keys.
type Config struct {
	// Image is the faultlab image; default faultlab/faultlab:local.
	Image string
	// ToxiproxyImage must hold /toxiproxy and /config/toxiproxy.json with one
	// proxy per hop; default faultlab/toxiproxy:local.
	ToxiproxyImage string
	// PrometheusImage has the compose prometheus.yml and rules baked in;
	// default faultlab/prometheus:local. NoPrometheus leaves it out (Alerts
	// then wraps chaos.ErrNotSupported).
	PrometheusImage string
	NoPrometheus    bool
	// GatewayKey and ServiceKey are the services' secrets; default demo keys.
	GatewayKey, ServiceKey string
	// StartupTimeout bounds each container's wait for readiness; default 60s.
	StartupTimeout time.Duration
}

func (c *Config) defaults() {
	if c.Image == "" {
		c.Image = "faultlab/faultlab:local"
	}
	if c.ToxiproxyImage == "" {
		c.ToxiproxyImage = "faultlab/toxiproxy:local"
	}
	if c.PrometheusImage == "" {
		c.PrometheusImage = "faultlab/prometheus:local"
	}
	if c.GatewayKey == "" {
		c.GatewayKey = "containerlab-gateway-key"
	}
	if c.ServiceKey == "" {
		c.ServiceKey = "containerlab-service-key"
	}
	if c.StartupTimeout == 0 {
		c.StartupTimeout = 60 * time.Second
	}
}

// service is one lab service: its port (docs/CONTRACTS.md) and its callees,
// each reached through the hop proxy <name>-to-<callee> on toxiproxy.
type service struct {
	name    string
	port    int
	callees map[string]int // callee → hop proxy port in toxiproxy.json
}

// services in start order: each after its callees.
var services = []service{
	{"user", 8081, nil},
	{"product", 8082, map[string]int{"user": 21005}},
	{"payment", 8084, map[string]int{"user": 21009}},
	{"order", 8083, map[string]int{"user": 21006, "product": 21007, "payment": 21008}},
	{"gateway", 8080, map[string]int{"user": 21001, "product": 21002, "order": 21003, "payment": 21004}},
}

// Lab is the five services, Toxiproxy on every hop and Prometheus, each in
// its own container on a private Docker network. It implements chaos.Env.
// It is safe for concurrent use.
type Lab struct {
	cfg        Config
	net        *testcontainers.DockerNetwork
	containers map[string]*testcontainers.DockerContainer // by service name, "toxiproxy", "prometheus"
	urls       map[string]string                          // host-side base URLs
	toxi       *toxiclient.Client
	hc         *http.Client

	mu    sync.Mutex
	token string
}

var _ chaos.Env = (*Lab)(nil)

// Start starts the lab and waits until every container is ready. On error
// it removes what it started.
func Start(ctx context.Context, cfg Config) (_ *Lab, err error) {
	cfg.defaults()
	l := &Lab{
		cfg:        cfg,
		containers: map[string]*testcontainers.DockerContainer{},
		urls:       map[string]string{},
		hc: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
		},
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, l.Close(context.WithoutCancel(ctx)))
		}
	}()
	l.net, err = network.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("containerlab: network: %w", err)
	}

	tp, err := l.run(ctx, "toxiproxy", cfg.ToxiproxyImage, "8474",
		wait.ForHTTP("/proxies").WithPort("8474/tcp"))
	if err != nil {
		return nil, err
	}
	_ = tp
	l.toxi = toxiclient.NewClient(l.urls["toxiproxy"])

	for _, s := range services {
		env := map[string]string{
			"FAULTLAB_LISTEN":      fmt.Sprintf("0.0.0.0:%d", s.port),
			"FAULTLAB_DATA_DIR":    "/data",
			"FAULTLAB_GATEWAY_KEY": cfg.GatewayKey,
			"FAULTLAB_SERVICE_KEY": cfg.ServiceKey,
			"FAULTLAB_LOG_LEVEL":   "info",
		}
		for callee, hop := range s.callees {
			env["FAULTLAB_"+strings.ToUpper(callee)+"_URL"] = fmt.Sprintf("http://toxiproxy:%d", hop)
		}
		port := fmt.Sprint(s.port)
		if _, err := l.run(ctx, s.name, cfg.Image, port,
			wait.ForHTTP("/healthz").WithPort(port+"/tcp"),
			testcontainers.WithEnv(env),
			testcontainers.WithCmd("serve", s.name)); err != nil {
			return nil, err
		}
	}

	if !cfg.NoPrometheus {
		if _, err := l.run(ctx, "prometheus", cfg.PrometheusImage, "9090",
			wait.ForHTTP("/-/ready").WithPort("9090/tcp")); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// run starts one container on the lab network, reachable there as alias,
// with port published on a random host port.
func (l *Lab) run(ctx context.Context, alias, image, port string, ready wait.Strategy, opts ...testcontainers.ContainerCustomizer) (*testcontainers.DockerContainer, error) {
	opts = append([]testcontainers.ContainerCustomizer{
		network.WithNetwork([]string{alias}, l.net),
		testcontainers.WithExposedPorts(port + "/tcp"),
		testcontainers.WithWaitStrategyAndDeadline(l.cfg.StartupTimeout, ready),
		testcontainers.WithLabels(map[string]string{"faultlab.containerlab": alias}),
	}, opts...)
	c, err := testcontainers.Run(ctx, image, opts...)
	if c != nil {
		l.containers[alias] = c
	}
	if err != nil {
		return nil, fmt.Errorf("containerlab: start %s (%s): %w", alias, image, err)
	}
	ep, err := c.PortEndpoint(ctx, port+"/tcp", "http")
	if err != nil {
		return nil, fmt.Errorf("containerlab: %s endpoint: %w", alias, err)
	}
	l.urls[alias] = ep
	return c, nil
}

// Close removes every container and the network.
func (l *Lab) Close(ctx context.Context) error {
	var errs []error
	for name, c := range l.containers {
		if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("containerlab: remove %s: %w", name, err))
		}
	}
	l.containers = map[string]*testcontainers.DockerContainer{}
	if l.net != nil {
		if err := l.net.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("containerlab: remove network: %w", err))
		}
		l.net = nil
	}
	l.hc.CloseIdleConnections()
	return errors.Join(errs...)
}

// URL returns the host-side base URL of a service, "toxiproxy" or
// "prometheus".
func (l *Lab) URL(name string) string { return l.urls[name] }

// Toxiproxy returns a client for the lab's Toxiproxy API.
func (l *Lab) Toxiproxy() *toxiclient.Client { return l.toxi }

// Container returns the container of a service, "toxiproxy" or
// "prometheus", e.g. to stop and start it.
func (l *Lab) Container(name string) *testcontainers.DockerContainer { return l.containers[name] }

// GatewayURL implements chaos.Env.
func (l *Lab) GatewayURL() string { return l.urls["gateway"] }

// HTTPClient implements chaos.Env.
func (l *Lab) HTTPClient() *http.Client { return l.hc }

// Credentials implements chaos.Credentials: the seeded demo customer.
func (l *Lab) Credentials() (email, password string) {
	return user.DemoCustomerEmail, user.DemoCustomerPassword
}

// Token implements chaos.Env: it logs the demo customer in through the
// gateway, once, and reuses the token.
func (l *Lab) Token(ctx context.Context) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token != "" {
		return l.token, nil
	}
	body, err := json.Marshal(user.LoginRequest{Email: user.DemoCustomerEmail, Password: user.DemoCustomerPassword})
	if err != nil {
		return "", fmt.Errorf("containerlab: login: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.GatewayURL()+user.RouteLogin, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("containerlab: login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := l.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("containerlab: login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return "", fmt.Errorf("containerlab: login: status %d: %s", resp.StatusCode, b)
	}
	var lr user.LoginResponse
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil {
		return "", fmt.Errorf("containerlab: login: %w", err)
	}
	if lr.AccessToken == "" {
		return "", errors.New("containerlab: login: no access_token")
	}
	l.token = lr.AccessToken
	return l.token, nil
}

func (l *Lab) faults(svc string) (*fault.Client, error) {
	u, ok := l.urls[svc]
	if !ok || svc == "toxiproxy" || svc == "prometheus" {
		return nil, fmt.Errorf("containerlab: unknown service %q", svc)
	}
	return &fault.Client{BaseURL: u, ServiceKey: l.cfg.ServiceKey, HTTP: l.hc}, nil
}

// ApplyFault implements chaos.Env.
func (l *Lab) ApplyFault(ctx context.Context, f chaos.FaultSpec) error {
	switch f.Kind {
	case chaos.FaultToxic:
		return toxi.Apply(ctx, l.toxi, f.ToxicFault())
	case chaos.FaultHTTP:
		c, err := l.faults(f.Service)
		if err != nil {
			return err
		}
		return c.Set(ctx, f.HTTP)
	}
	return fmt.Errorf("containerlab: fault kind %q: %w", f.Kind, chaos.ErrNotSupported)
}

// RevertFault implements chaos.Env.
func (l *Lab) RevertFault(ctx context.Context, f chaos.FaultSpec) error {
	switch f.Kind {
	case chaos.FaultToxic:
		return toxi.Remove(ctx, l.toxi, f.ToxicFault())
	case chaos.FaultHTTP:
		c, err := l.faults(f.Service)
		if err != nil {
			return err
		}
		return c.Remove(ctx, f.HTTP.Name)
	}
	return fmt.Errorf("containerlab: fault kind %q: %w", f.Kind, chaos.ErrNotSupported)
}

// ResetFaults implements chaos.Env.
func (l *Lab) ResetFaults(ctx context.Context) error {
	errs := []error{toxi.Reset(ctx, l.toxi)}
	for _, s := range services {
		c, err := l.faults(s.name)
		if err == nil {
			err = c.Clear(ctx)
		}
		// A service without the fault middleware has no HTTP faults to clear.
		if !errors.Is(err, fault.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Metrics implements chaos.Env.
func (l *Lab) Metrics(ctx context.Context, svc string) (chaos.MetricFamilies, error) {
	if _, err := l.faults(svc); err != nil {
		return nil, err
	}
	return chaos.ScrapeMetrics(ctx, l.hc, l.urls[svc]+"/metrics")
}

// Charges implements chaos.Env.
func (l *Lab) Charges(ctx context.Context) (chaos.ChargeSummary, error) {
	s, err := payment.NewClient(l.urls["payment"], l.hc, l.cfg.ServiceKey).Summary(ctx)
	if err != nil {
		return chaos.ChargeSummary{}, fmt.Errorf("containerlab: charges: %w", err)
	}
	return chaos.ChargeSummary{Total: s.TotalCharges, Duplicates: len(s.DuplicateOrders)}, nil
}

// Stock implements chaos.Env.
func (l *Lab) Stock(ctx context.Context) (chaos.StockSummary, error) {
	s, err := product.NewClient(l.urls["product"], l.hc, l.cfg.ServiceKey).Stock(ctx)
	if err != nil {
		return chaos.StockSummary{}, fmt.Errorf("containerlab: stock: %w", err)
	}
	return chaos.StockSummary{
		Initial: int(s.Initial), Available: int(s.Available), Reserved: int(s.Reserved), Sold: int(s.Sold),
	}, nil
}

// Events implements chaos.Env: it reads every service's stderr (ECS NDJSON)
// from Docker.
func (l *Lab) Events(ctx context.Context, action string, since time.Time) ([]map[string]any, error) {
	var out []map[string]any
	for _, s := range services {
		c := l.containers[s.name]
		if c == nil {
			continue
		}
		rc, err := c.Logs(ctx)
		if err != nil {
			return nil, fmt.Errorf("containerlab: logs of %s: %w", s.name, err)
		}
		evs, err := parseEvents(rc, action, since)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("containerlab: logs of %s: %w", s.name, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}

func parseEvents(r io.Reader, action string, since time.Time) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		i := bytes.IndexByte(line, '{')
		if i < 0 {
			continue
		}
		var ev map[string]any
		if json.Unmarshal(line[i:], &ev) != nil {
			continue
		}
		if a, _ := ev["event.action"].(string); a != action {
			if ea, ok := ev["event"].(map[string]any); !ok || ea["action"] != action {
				continue
			}
		}
		ts, _ := ev["@timestamp"].(string)
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil || t.Before(since) {
			continue
		}
		out = append(out, ev)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	return out, nil
}

// Alerts implements chaos.Env from Prometheus' /api/v1/alerts.
func (l *Lab) Alerts(ctx context.Context) ([]chaos.Alert, error) {
	u, ok := l.urls["prometheus"]
	if !ok {
		return nil, fmt.Errorf("containerlab: no prometheus: %w", chaos.ErrNotSupported)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/api/v1/alerts", nil)
	if err != nil {
		return nil, fmt.Errorf("containerlab: alerts: %w", err)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("containerlab: alerts: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Data struct {
			Alerts []struct {
				Labels   map[string]string `json:"labels"`
				State    string            `json:"state"`
				ActiveAt time.Time         `json:"activeAt"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("containerlab: alerts: status %d", resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("containerlab: alerts: %w", err)
	}
	out := make([]chaos.Alert, 0, len(body.Data.Alerts))
	for _, a := range body.Data.Alerts {
		out = append(out, chaos.Alert{Name: a.Labels["alertname"], State: a.State, Labels: a.Labels, ActiveAt: a.ActiveAt})
	}
	return out, nil
}
