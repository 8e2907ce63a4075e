package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/httpclient"
	"github.com/faultlab/faultlab/observability/promapi"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// RemoteConfig names the parts of a running lab.
type RemoteConfig struct {
	// URLs maps each service name to its base URL (gateway, user, …).
	URLs map[string]string
	// Replicas maps a replicated service to its replicas' base URLs
	// (AdminClient.List): HTTP faults go to every replica. A service not
	// in it is the one at URLs.
	Replicas map[string][]string
	// ToxiproxyURL is Toxiproxy's API; empty means no toxic faults.
	ToxiproxyURL string
	// ServiceKey reaches the services' internal endpoints.
	ServiceKey string
	// LogDir holds <service>.log NDJSON files; empty means no log events.
	LogDir string
	// PrometheusURL, if set, answers Alerts from /api/v1/alerts.
	PrometheusURL string
	// Email and Password log in for Token; default the demo customer.
	Email, Password string
	// HTTP is the client for every call; nil is a plain client.
	HTTP *http.Client
	// AdminURL is the lab's admin API (`faultlab up`); empty means no
	// replica faults.
	AdminURL string
	// DataDir, when the stores are local files, lets Snapshot read them
	// straight (StoreSnapshot) if the services lack the read endpoints.
	DataDir string
}

// Remote is a chaos.Env over a running lab.
type Remote struct {
	cfg  RemoteConfig
	hc   *http.Client
	toxi *toxiclient.Client

	// replicas stops and starts replicas (FaultReplica); nil: not supported.
	replicas chaos.Replicas

	mu          sync.Mutex
	token       string
	replicaURLs map[string][]string // cfg.Replicas, as SetReplicaURL changes it
}

var _ chaos.Env = (*Remote)(nil)
var _ chaos.Credentials = (*Remote)(nil)
var _ chaos.Historian = (*Remote)(nil)

// NewRemote returns the Env for a running lab.
func NewRemote(cfg RemoteConfig) *Remote {
	if cfg.Email == "" {
		cfg.Email, cfg.Password = user.DemoCustomerEmail, user.DemoCustomerPassword
	}
	r := &Remote{cfg: cfg, hc: cfg.HTTP, replicaURLs: map[string][]string{}}
	for name, urls := range cfg.Replicas {
		r.replicaURLs[name] = slices.Clone(urls)
	}
	if r.hc == nil {
		r.hc = httpclient.Plain(30 * time.Second)
	}
	if cfg.ToxiproxyURL != "" {
		r.toxi = toxiclient.NewClient(cfg.ToxiproxyURL)
	}
	if cfg.AdminURL != "" {
		r.replicas = &AdminClient{URL: cfg.AdminURL, ServiceKey: cfg.ServiceKey, HTTP: r.hc}
	}
	return r
}

// SetPrometheusURL makes Alerts read a Prometheus server's alerts.
func (r *Remote) SetPrometheusURL(u string) {
	r.mu.Lock()
	r.cfg.PrometheusURL = u
	r.mu.Unlock()
}

// URL returns a service's base URL.
func (r *Remote) URL(service string) string { return r.cfg.URLs[service] }

// GatewayURL implements chaos.Env.
func (r *Remote) GatewayURL() string { return r.cfg.URLs[topology.Gateway] }

// HTTPClient implements chaos.Env.
func (r *Remote) HTTPClient() *http.Client { return r.hc }

// Credentials implements chaos.Credentials.
func (r *Remote) Credentials() (string, string) { return r.cfg.Email, r.cfg.Password }

// Toxiproxy returns the Toxiproxy client, or nil.
func (r *Remote) Toxiproxy() *toxiclient.Client { return r.toxi }

// Token implements chaos.Env: it logs in through the gateway once and
// reuses the token.
func (r *Remote) Token(ctx context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.token != "" {
		return r.token, nil
	}
	tok, err := Login(ctx, r.hc, r.GatewayURL(), r.cfg.Email, r.cfg.Password)
	if err != nil {
		return "", err
	}
	r.token = tok
	return tok, nil
}

// Login logs in through the gateway and returns the access token.
func Login(ctx context.Context, hc *http.Client, gatewayURL, email, password string) (string, error) {
	body, err := json.Marshal(user.LoginRequest{Email: email, Password: password})
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gatewayURL+user.RouteLogin, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return "", fmt.Errorf("login: status %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var lr user.LoginResponse
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil {
		return "", fmt.Errorf("login: %w", err)
	}
	if lr.AccessToken == "" {
		return "", errors.New("login: answer has no access_token")
	}
	return lr.AccessToken, nil
}

// Faults returns the HTTP fault client of a service (of its replica 1).
func (r *Remote) Faults(service string) (*fault.Client, error) {
	cs, err := r.replicaFaults(service)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// SetReplicaURL records that replica n (from 1) of a service is now at
// url: a container lab's restarted container may be published on a new
// host port.
func (r *Remote) SetReplicaURL(service string, n int, url string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	urls := r.replicaURLs[service]
	if n < 1 || n > len(urls) {
		return fmt.Errorf("lab: %s has no replica %d in %v", service, n, urls)
	}
	urls[n-1] = url
	return nil
}

// replicaFaults returns the HTTP fault clients of every replica of a
// service, replica 1 first.
func (r *Remote) replicaFaults(service string) ([]*fault.Client, error) {
	r.mu.Lock()
	urls := slices.Clone(r.replicaURLs[service])
	r.mu.Unlock()
	if len(urls) == 0 {
		u, ok := r.cfg.URLs[service]
		if !ok {
			return nil, fmt.Errorf("lab: unknown service %q", service)
		}
		urls = []string{u}
	}
	out := make([]*fault.Client, len(urls))
	for i, u := range urls {
		out[i] = &fault.Client{BaseURL: u, ServiceKey: r.cfg.ServiceKey, HTTP: r.hc}
	}
	return out, nil
}

// ApplyFault implements chaos.Env.
func (r *Remote) ApplyFault(ctx context.Context, f chaos.FaultSpec) error {
	if f.Kind == chaos.FaultReplica {
		return r.onReplica(func(c chaos.Replicas) error {
			if f.Drain {
				return c.Drain(ctx, f.Replica)
			}
			return c.Kill(ctx, f.Replica)
		})
	}
	return r.onFault(f, func() error { return toxi.Apply(ctx, r.toxi, f.ToxicFault()) },
		func(c *fault.Client) error { return c.Set(ctx, f.HTTP) })
}

// RevertFault implements chaos.Env.
func (r *Remote) RevertFault(ctx context.Context, f chaos.FaultSpec) error {
	if f.Kind == chaos.FaultReplica {
		return r.onReplica(func(c chaos.Replicas) error { return c.Restart(ctx, f.Replica) })
	}
	return r.onFault(f, func() error { return toxi.Remove(ctx, r.toxi, f.ToxicFault()) },
		func(c *fault.Client) error { return c.Remove(ctx, f.HTTP.Name) })
}

// onFault runs toxic for a Toxiproxy fault, or httpFault with the fault client
// of each replica of f's service for an HTTP fault.
func (r *Remote) onFault(f chaos.FaultSpec, toxic func() error, httpFault func(*fault.Client) error) error {
	switch f.Kind {
	case chaos.FaultToxic:
		if r.toxi == nil {
			return fmt.Errorf("lab: no toxiproxy: %w", chaos.ErrNotSupported)
		}
		return toxic()
	case chaos.FaultHTTP:
		cs, err := r.replicaFaults(f.Service)
		if err != nil {
			return err
		}
		var errs []error
		for _, c := range cs {
			errs = append(errs, httpFault(c))
		}
		return errors.Join(errs...)
	}
	return fmt.Errorf("lab: fault kind %q: %w", f.Kind, chaos.ErrNotSupported)
}

// onReplica runs do with the lab's replica control, if it has one.
func (r *Remote) onReplica(do func(chaos.Replicas) error) error {
	if r.replicas == nil {
		return fmt.Errorf("lab: replica faults need the admin API of faultlab up (--admin-url; faultlab up --replicas): %w", chaos.ErrNotSupported)
	}
	return do(r.replicas)
}

// ResetFaults implements chaos.Env.
func (r *Remote) ResetFaults(ctx context.Context) error {
	var errs []error
	if r.toxi != nil {
		errs = append(errs, toxi.Reset(ctx, r.toxi))
	}
	for name := range r.cfg.URLs {
		if name == topology.Gateway {
			continue // the gateway keeps /internal/ unreachable, faults included
		}
		cs, err := r.replicaFaults(name)
		errs = append(errs, err)
		for _, c := range cs {
			errs = append(errs, c.Clear(ctx))
		}
	}
	return errors.Join(errs...)
}

// Snapshot implements chaos.Historian over the services' internal read
// endpoints (history.Fetch); where those are missing (404) and DataDir is
// set, straight from the stores (StoreSnapshot).
func (r *Remote) Snapshot(ctx context.Context) (history.Snapshot, error) {
	snap, err := history.Fetch(ctx, history.Source{
		OrderURL: r.cfg.URLs[topology.Order], PaymentURL: r.cfg.URLs[topology.Payment], ProductURL: r.cfg.URLs[topology.Product],
		ServiceKey: r.cfg.ServiceKey, HTTP: r.hc,
	})
	var se *history.StatusError
	if errors.As(err, &se) && se.Status == http.StatusNotFound && r.cfg.DataDir != "" {
		return StoreSnapshot(ctx, r.cfg.DataDir)
	}
	return snap, err
}

// Metrics implements chaos.Env.
func (r *Remote) Metrics(ctx context.Context, service string) (chaos.MetricFamilies, error) {
	u, ok := r.cfg.URLs[service]
	if !ok {
		return nil, fmt.Errorf("lab: unknown service %q", service)
	}
	return chaos.ScrapeMetrics(ctx, r.hc, u+"/metrics")
}

// Charges implements chaos.Env.
func (r *Remote) Charges(ctx context.Context) (chaos.ChargeSummary, error) {
	s, err := payment.NewClient(r.cfg.URLs[topology.Payment], r.hc, r.cfg.ServiceKey).Summary(ctx)
	if err != nil {
		return chaos.ChargeSummary{}, fmt.Errorf("lab: charges: %w", err)
	}
	return chaos.ChargeSummary{Total: s.TotalCharges, Duplicates: len(s.DuplicateOrders)}, nil
}

// Stock implements chaos.Env.
func (r *Remote) Stock(ctx context.Context) (chaos.StockSummary, error) {
	s, err := product.NewClient(r.cfg.URLs[topology.Product], r.hc, r.cfg.ServiceKey).Stock(ctx)
	if err != nil {
		return chaos.StockSummary{}, fmt.Errorf("lab: stock: %w", err)
	}
	return chaos.StockSummary{Initial: int(s.Initial), Available: int(s.Available), Reserved: int(s.Reserved), Sold: int(s.Sold)}, nil
}

// Events implements chaos.Env from the NDJSON log files.
func (r *Remote) Events(ctx context.Context, action string, since time.Time) ([]map[string]any, error) {
	if r.cfg.LogDir == "" {
		return nil, fmt.Errorf("lab: no log dir: %w", chaos.ErrNotSupported)
	}
	files, err := filepath.Glob(filepath.Join(r.cfg.LogDir, "*.log"))
	if err != nil {
		return nil, fmt.Errorf("lab: logs: %w", err)
	}
	var out []map[string]any
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fh, err := os.Open(f)
		if err != nil {
			return nil, fmt.Errorf("lab: logs: %w", err)
		}
		evs, err := ParseEvents(fh, action, since)
		fh.Close()
		if err != nil {
			return nil, fmt.Errorf("lab: %s: %w", f, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}

// ParseEvents reads ECS NDJSON lines and keeps those whose event.action is
// action (any action if empty) at or after since.
func ParseEvents(rd io.Reader, action string, since time.Time) ([]map[string]any, error) {
	var out []map[string]any
	sc := bufio.NewScanner(rd)
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
		if a, _ := ev["event.action"].(string); action != "" && a != action {
			continue
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
func (r *Remote) Alerts(ctx context.Context) ([]chaos.Alert, error) {
	r.mu.Lock()
	u := r.cfg.PrometheusURL
	r.mu.Unlock()
	if u == "" {
		return nil, fmt.Errorf("lab: no prometheus: %w", chaos.ErrNotSupported)
	}
	return PrometheusAlerts(ctx, r.hc, u)
}

// PrometheusAlerts reads the pending and firing alerts of a Prometheus server.
func PrometheusAlerts(ctx context.Context, hc *http.Client, promURL string) ([]chaos.Alert, error) {
	as, err := promapi.Alerts(ctx, hc, promURL)
	if err != nil {
		return nil, err
	}
	out := make([]chaos.Alert, len(as))
	for i, a := range as {
		out[i] = chaos.Alert{Name: a.Name, State: a.State, Labels: a.Labels, ActiveAt: a.ActiveAt}
	}
	return out, nil
}
