package containerlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/network"
	"github.com/testcontainers/testcontainers-go/wait"

	"github.com/faultlab/faultlab/chaos"
	chaoslab "github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// Config says which images to run. The zero value runs the images that
// scripts/images.sh builds, with demo keys and the services' default
// policies.
type Config struct {
	// Image is the faultlab image (a tag or an image id); default
	// faultlab/faultlab:local.
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
	// Policy, if not zero, plays the part of shop.Options.Default in the
	// in-process lab: every caller uses it for every upstream, and fills
	// in the per-hop timeouts itself (shop.Layered). Start passes it to
	// each container as FAULTLAB_POLICY_<UPSTREAM>.
	Policy resilience.Policy
	// Env adds (or overrides) environment variables, by service name (every
	// replica of it).
	Env map[string]map[string]string
	// Replicas runs that many replicas of a service (1 unless set; only
	// topology.Replicable services), as docker-compose.yml does with
	// chaos.ReplicaLayout: replica n is the container <service>-<n> on the
	// lab network, every replica of a service mounts one Docker volume at
	// /data (their SQLite store, shared in WAL mode), and each caller
	// reaches it through its own proxy <caller>-to-<callee>-<n>
	// (topology.ReplicaHopName, port topology.ReplicaPort), all of which it
	// gets as a list in FAULTLAB_<CALLEE>_URL. With one replica, names and
	// ports stay as in docs/CONTRACTS.md.
	Replicas map[string]int
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
// each reached through the hop proxies <name>-to-<callee>[-<n>] on
// toxiproxy (the first on the hop's port in toxiproxy.json).
type service struct {
	name    string
	port    int
	callees map[string]int // callee → hop proxy port in toxiproxy.json
}

// services in start order: each after its callees (topology).
var services = fromTopology()

func fromTopology() []service {
	var out []service
	for _, name := range topology.StartOrder() {
		s := service{name: name, port: topology.Port(name)}
		for _, up := range topology.Upstreams(name) {
			if s.callees == nil {
				s.callees = map[string]int{}
			}
			h, _ := topology.HopOf(name, up)
			s.callees[up] = h.Port
		}
		out = append(out, s)
	}
	return out
}

// Lab is the five services (product, order and payment replicated if
// Config.Replicas says so), Toxiproxy on every hop and Prometheus, each in
// its own container on a private Docker network. It implements chaos.Env:
// everything but Events and the replica faults is the embedded *lab.Remote
// over the containers' published ports (a replicated service through its
// first replica; HTTP faults on every replica); Events reads every container's logs, and a replica fault
// kills, stops or starts that replica's container (chaos.Replicas). It is
// safe for concurrent use once Start has returned.
type Lab struct {
	*chaoslab.Remote

	cfg        Config
	counts     map[string]int // replicas of each service
	net        *testcontainers.DockerNetwork
	volumes    []string                                   // the shared stores of replicated services
	containers map[string]*testcontainers.DockerContainer // by network alias: service or replica name, "toxiproxy", "prometheus"
	urls       map[string]string                          // host-side base URLs by the same names
	hc         *http.Client
}

var (
	_ chaos.Env         = (*Lab)(nil)
	_ chaos.Credentials = (*Lab)(nil)
	_ chaos.Historian   = (*Lab)(nil) // the history check reads the stores' /internal endpoints
	_ chaos.Replicas    = (*Lab)(nil)
)

// Start starts the lab and waits until every container is ready. On error
// it removes what it started.
func Start(ctx context.Context, cfg Config) (_ *Lab, err error) {
	cfg.defaults()
	counts, err := replicaCounts(cfg.Replicas)
	if err != nil {
		return nil, err
	}
	l := &Lab{
		cfg:        cfg,
		counts:     counts,
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
	if err := l.startAll(ctx); err != nil {
		return nil, err
	}
	urls, replicas := map[string]string{}, map[string][]string{}
	for _, s := range services {
		urls[s.name] = l.urls[instanceName(s.name, 1, counts[s.name])]
		for n := 1; n <= counts[s.name]; n++ {
			replicas[s.name] = append(replicas[s.name], l.urls[instanceName(s.name, n, counts[s.name])])
		}
	}
	// HTTP faults and their reset reach every replica (Replicas); Restart
	// tells the Remote where Docker published a restarted container.
	l.Remote = chaoslab.NewRemote(chaoslab.RemoteConfig{
		URLs:          urls,
		Replicas:      replicas,
		ToxiproxyURL:  l.urls["toxiproxy"],
		ServiceKey:    cfg.ServiceKey,
		PrometheusURL: l.urls["prometheus"], // "" without Prometheus: Alerts is not supported
		HTTP:          l.hc,
	})
	return l, nil
}

// startAll starts Toxiproxy with one proxy per hop and replica, every
// replica of every service (each after its callees) and Prometheus.
func (l *Lab) startAll(ctx context.Context) error {
	proxies, err := toxiproxyConfig(l.counts)
	if err != nil {
		return err
	}
	toxiPort := strconv.Itoa(topology.ToxiproxyPort)
	if err := l.run(ctx, "toxiproxy", l.cfg.ToxiproxyImage, toxiPort,
		wait.ForHTTP("/proxies").WithPort(toxiPort+"/tcp"),
		testcontainers.WithFiles(testcontainers.ContainerFile{
			Reader: bytes.NewReader(proxies), ContainerFilePath: "/config/toxiproxy.json", FileMode: 0o644,
		})); err != nil {
		return err
	}
	for _, s := range services {
		port := fmt.Sprint(s.port)
		of := l.counts[s.name]
		opts := []testcontainers.ContainerCustomizer{
			testcontainers.WithEnv(serviceEnv(s, l.cfg)),
			testcontainers.WithCmd("serve", s.name),
		}
		if of > 1 {
			vol := fmt.Sprintf("%s-%s-data", l.net.Name, s.name)
			l.volumes = append(l.volumes, vol)
			opts = append(opts, testcontainers.WithMounts(testcontainers.VolumeMount(vol, "/data")))
		}
		for n := 1; n <= of; n++ {
			if err := l.run(ctx, instanceName(s.name, n, of), l.cfg.Image, port,
				wait.ForHTTP("/healthz").WithPort(port+"/tcp"), opts...); err != nil {
				return err
			}
		}
	}
	if l.cfg.NoPrometheus {
		return nil
	}
	if err := l.run(ctx, "prometheus", l.cfg.PrometheusImage, "9090",
		wait.ForHTTP("/-/ready").WithPort("9090/tcp")); err != nil {
		return err
	}
	return l.retarget(ctx)
}

// serviceEnv is the environment of one service's containers.
func serviceEnv(s service, cfg Config) map[string]string {
	env := map[string]string{
		"FAULTLAB_LISTEN":      fmt.Sprintf("0.0.0.0:%d", s.port),
		"FAULTLAB_DATA_DIR":    "/data",
		"FAULTLAB_GATEWAY_KEY": cfg.GatewayKey,
		"FAULTLAB_SERVICE_KEY": cfg.ServiceKey,
		"FAULTLAB_LOG_LEVEL":   "info",
	}
	for callee, hop := range s.callees {
		up := strings.ToUpper(callee)
		var urls []string
		for n := 1; n <= max(1, cfg.Replicas[callee]); n++ {
			urls = append(urls, fmt.Sprintf("http://toxiproxy:%d", topology.ReplicaPort(hop, n)))
		}
		env["FAULTLAB_"+up+"_URL"] = strings.Join(urls, ",")
		if cfg.Policy != (resilience.Policy{}) {
			env["FAULTLAB_POLICY_"+up] = cfg.Policy.String()
		}
	}
	for k, v := range cfg.Env[s.name] {
		env[k] = v
	}
	return env
}

// run starts one container on the lab network, reachable there as alias,
// with port published on a random host port.
func (l *Lab) run(ctx context.Context, alias, image, port string, ready wait.Strategy, opts ...testcontainers.ContainerCustomizer) error {
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
		return fmt.Errorf("containerlab: start %s (%s): %w", alias, image, err)
	}
	ep, err := c.PortEndpoint(ctx, port+"/tcp", "http")
	if err != nil {
		return fmt.Errorf("containerlab: %s endpoint: %w", alias, err)
	}
	l.urls[alias] = ep
	return nil
}

// Close removes every container, the shared stores and the network.
func (l *Lab) Close(ctx context.Context) error {
	var errs []error
	for name, c := range l.containers {
		if err := testcontainers.TerminateContainer(c, testcontainers.StopContext(ctx)); err != nil {
			errs = append(errs, fmt.Errorf("containerlab: remove %s: %w", name, err))
		}
	}
	l.containers = map[string]*testcontainers.DockerContainer{}
	if len(l.volumes) > 0 {
		errs = append(errs, removeVolumes(ctx, l.volumes))
		l.volumes = nil
	}
	if l.net != nil {
		if err := l.net.Remove(ctx); err != nil {
			errs = append(errs, fmt.Errorf("containerlab: remove network: %w", err))
		}
		l.net = nil
	}
	l.hc.CloseIdleConnections()
	return errors.Join(errs...)
}

// URL returns the host-side base URL of a service (its first replica),
// a replica (payment-2), "toxiproxy" or "prometheus".
func (l *Lab) URL(name string) string {
	if u, ok := l.urls[name]; ok {
		return u
	}
	return l.urls[instanceName(name, 1, l.counts[name])]
}

// Container returns the container of a service of one replica, a replica
// (payment-2), "toxiproxy" or "prometheus", e.g. to stop and start it.
func (l *Lab) Container(name string) *testcontainers.DockerContainer { return l.containers[name] }

// Events implements chaos.Env: it reads every replica's stderr (ECS NDJSON)
// from Docker; lab.Remote would read log files, which stay in the
// containers.
func (l *Lab) Events(ctx context.Context, action string, since time.Time) ([]map[string]any, error) {
	var out []map[string]any
	for _, name := range l.instances() {
		c := l.containers[name]
		if c == nil {
			continue
		}
		rc, err := c.Logs(ctx)
		if err != nil {
			return nil, fmt.Errorf("containerlab: logs of %s: %w", name, err)
		}
		evs, err := chaoslab.ParseEvents(rc, action, since)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("containerlab: logs of %s: %w", name, err)
		}
		out = append(out, evs...)
	}
	return out, nil
}
