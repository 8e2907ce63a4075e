package containerlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/topology"
)

// ErrReplica is wrapped by the errors of Kill, Drain and Restart: an
// unknown replica, or one the lab cannot stop or start.
var ErrReplica = errors.New("replica")

// replicaCounts checks Config.Replicas and returns the count of every
// service (1 unless set).
func replicaCounts(replicas map[string]int) (map[string]int, error) {
	counts := map[string]int{}
	for _, s := range services {
		counts[s.name] = 1
	}
	for svc, n := range replicas {
		if _, err := topology.ParseReplicas(fmt.Sprintf("%s=%d", svc, n)); err != nil {
			return nil, fmt.Errorf("containerlab: %w", err)
		}
		counts[svc] = n
	}
	return counts, nil
}

// instanceName is the container (and network alias) of replica n of a
// service that runs of replicas: the service's name for one, as in
// docker-compose.yml.
func instanceName(service string, n, of int) string {
	if of <= 1 {
		return service
	}
	return topology.ReplicaName(service, n)
}

// instances returns every replica's container name, in start order.
func (l *Lab) instances() []string {
	var out []string
	for _, s := range services {
		for n := 1; n <= l.counts[s.name]; n++ {
			out = append(out, instanceName(s.name, n, l.counts[s.name]))
		}
	}
	return out
}

// toxiproxyConfig is the -config of the lab's Toxiproxy: one proxy per hop
// and callee replica, as docker/toxiproxy/toxiproxy.json has for
// docker-compose.yml's layout (deploy checks that file).
func toxiproxyConfig(counts map[string]int) ([]byte, error) {
	type proxy struct {
		Name     string `json:"name"`
		Listen   string `json:"listen"`
		Upstream string `json:"upstream"`
		Enabled  bool   `json:"enabled"`
	}
	var out []proxy
	for _, h := range topology.Hops() {
		of := counts[h.Callee]
		for n := 1; n <= of; n++ {
			out = append(out, proxy{
				Name:     topology.ReplicaHopName(h.Caller, h.Callee, n, of),
				Listen:   "0.0.0.0:" + strconv.Itoa(topology.ReplicaPort(h.Port, n)),
				Upstream: instanceName(h.Callee, n, of) + ":" + strconv.Itoa(topology.Port(h.Callee)),
				Enabled:  true,
			})
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("containerlab: toxiproxy config: %w", err)
	}
	return b, nil
}

// promConfigPath is where the Prometheus image has the compose
// prometheus.yml.
const promConfigPath = "/etc/prometheus/prometheus.yml"

// retarget points the compose prometheus.yml baked into the Prometheus
// container at the lab's containers: each service's job scrapes each of
// its replicas (for docker-compose.yml's layout, the file as it is), and
// reloads it. Everything else in the file (intervals, rules) stays.
func (l *Lab) retarget(ctx context.Context) error {
	c := l.containers["prometheus"]
	rc, err := c.CopyFileFromContainer(ctx, promConfigPath)
	if err != nil {
		return fmt.Errorf("containerlab: read %s: %w", promConfigPath, err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("containerlab: read %s: %w", promConfigPath, err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("containerlab: %s: %w", promConfigPath, err)
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	for _, j := range jobs {
		job, _ := j.(map[string]any)
		name, _ := job["job_name"].(string)
		if _, ok := l.counts[name]; !ok {
			continue
		}
		var targets []string
		for n := 1; n <= l.counts[name]; n++ {
			targets = append(targets, instanceName(name, n, l.counts[name])+":"+strconv.Itoa(topology.Port(name)))
		}
		job["static_configs"] = []any{map[string]any{"targets": targets}}
	}
	if b, err = yaml.Marshal(cfg); err != nil {
		return fmt.Errorf("containerlab: %s: %w", promConfigPath, err)
	}
	if err := c.CopyToContainer(ctx, b, promConfigPath, 0o644); err != nil {
		return fmt.Errorf("containerlab: write %s: %w", promConfigPath, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, l.urls["prometheus"]+"/-/reload", nil)
	if err != nil {
		return fmt.Errorf("containerlab: reload prometheus: %w", err)
	}
	resp, err := l.hc.Do(req)
	if err != nil {
		return fmt.Errorf("containerlab: reload prometheus: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("containerlab: reload prometheus: status %d", resp.StatusCode)
	}
	return nil
}

// removeVolumes removes the replicas' shared stores.
func removeVolumes(ctx context.Context, names []string) error {
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("containerlab: docker client: %w", err)
	}
	defer cli.Close()
	var errs []error
	for _, v := range names {
		if _, err := cli.VolumeRemove(ctx, v, client.VolumeRemoveOptions{Force: true}); err != nil {
			errs = append(errs, fmt.Errorf("containerlab: remove volume %s: %w", v, err))
		}
	}
	return errors.Join(errs...)
}

// replica returns the container of a replica such as payment-2.
func (l *Lab) replica(name string) (*testcontainers.DockerContainer, error) {
	svc, n, err := topology.ParseReplica(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReplica, err)
	}
	if n > l.counts[svc] {
		return nil, fmt.Errorf("%w %s: %s runs %d replica(s)", ErrReplica, name, svc, l.counts[svc])
	}
	c := l.containers[instanceName(svc, n, l.counts[svc])]
	if c == nil {
		return nil, fmt.Errorf("%w %s: no container", ErrReplica, name)
	}
	return c, nil
}

// Kill implements chaos.Replicas: SIGKILL to the replica's container (its
// process dies at once; the kernel closes its connections; Docker's DNS
// stops answering its name, so Toxiproxy's new upstream connections to it
// fail). The container and its store stay, for Restart.
func (l *Lab) Kill(ctx context.Context, name string) error {
	c, err := l.replica(name)
	if err != nil {
		return err
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return fmt.Errorf("%w %s: docker client: %w", ErrReplica, name, err)
	}
	defer cli.Close()
	if _, err := cli.ContainerKill(ctx, c.GetContainerID(), client.ContainerKillOptions{Signal: "SIGKILL"}); err != nil {
		return fmt.Errorf("%w %s: kill: %w", ErrReplica, name, err)
	}
	return nil
}

// Drain implements chaos.Replicas: `docker stop` (SIGTERM: the service
// stops listening and finishes the requests in flight; SIGKILL after 10 s).
func (l *Lab) Drain(ctx context.Context, name string) error {
	c, err := l.replica(name)
	if err != nil {
		return err
	}
	if err := c.Stop(ctx, nil); err != nil {
		return fmt.Errorf("%w %s: stop: %w", ErrReplica, name, err)
	}
	return nil
}

// Restart implements chaos.Replicas: it starts the replica's container
// again and waits until it answers /healthz, then tells the Remote where
// Docker published it (HTTP faults reach every replica there). The
// harness's calls to a replicated service go to its first replica's
// published port, which Docker may move on a restart: restarting replica
// 1 is then an error (the replica scenarios stop others).
func (l *Lab) Restart(ctx context.Context, name string) error {
	c, err := l.replica(name)
	if err != nil {
		return err
	}
	if err := c.Start(ctx); err != nil {
		return fmt.Errorf("%w %s: start: %w", ErrReplica, name, err)
	}
	svc, n, _ := topology.ParseReplica(name)
	ep, err := c.PortEndpoint(ctx, strconv.Itoa(topology.Port(svc))+"/tcp", "http")
	if err != nil {
		return fmt.Errorf("%w %s: endpoint: %w", ErrReplica, name, err)
	}
	if err := l.Remote.SetReplicaURL(svc, n, ep); err != nil {
		return fmt.Errorf("%w %s: %w", ErrReplica, name, err)
	}
	if alias := instanceName(svc, 1, l.counts[svc]); c == l.containers[alias] && ep != l.urls[alias] {
		return fmt.Errorf("%w %s: restarted on %s, the harness still calls %s", ErrReplica, name, ep, l.urls[alias])
	}
	return nil
}

// ApplyFault implements chaos.Env: a replica fault stops a container
// (Kill or Drain); everything else goes to Toxiproxy or the services' fault
// API (lab.Remote).
func (l *Lab) ApplyFault(ctx context.Context, f chaos.FaultSpec) error {
	if f.Kind != chaos.FaultReplica {
		return l.Remote.ApplyFault(ctx, f)
	}
	if f.Drain {
		return l.Drain(ctx, f.Replica)
	}
	return l.Kill(ctx, f.Replica)
}

// RevertFault implements chaos.Env: a replica fault ends with Restart.
func (l *Lab) RevertFault(ctx context.Context, f chaos.FaultSpec) error {
	if f.Kind != chaos.FaultReplica {
		return l.Remote.RevertFault(ctx, f)
	}
	return l.Restart(ctx, f.Replica)
}
