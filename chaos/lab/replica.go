package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

// ErrReplica is wrapped by the errors of Kill, Drain and Restart: an
// unknown replica, or one already stopped or running.
var ErrReplica = errors.New("replica")

// reconcilePeriod is how often each order and product replica runs its
// background work (as `faultlab serve` does).
const reconcilePeriod = 2 * time.Second

// replica is one listener serving one assembled service. A lab has one per
// service, or Config.Replicas of them; each can stop and start on its own.
type replica struct {
	name    string // <service>-<n>
	addr    string
	hops    []string // the proxies in front of it, one per caller
	unit    *shop.Unit
	handler http.Handler

	mu      sync.Mutex
	srv     *http.Server       // nil while stopped
	stopCtx context.CancelFunc // ends serving (gracefully) and reconciling
	done    chan struct{}      // closed once both have ended
}

// start serves r on ln and runs its background work until runCtx ends or
// r stops; a server's fatal error goes to errs.
func (r *replica) start(runCtx context.Context, ln net.Listener, errs chan<- error) {
	ctx, cancel := context.WithCancel(runCtx)
	srv := server.New(r.handler, nil)
	done := make(chan struct{})
	r.mu.Lock()
	r.srv, r.stopCtx, r.done = srv, cancel, done
	r.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := server.Serve(ctx, srv, ln); err != nil {
			select {
			case errs <- fmt.Errorf("%s: %w", r.name, err):
			default:
			}
		}
	})
	wg.Go(func() { r.unit.ReconcileEvery(ctx, reconcilePeriod, nil) })
	go func() {
		wg.Wait()
		close(done)
	}()
}

// stop ends r: abruptly (every connection closed at once) or gracefully,
// and waits until it has stopped.
func (r *replica) stop(abrupt bool) error {
	r.mu.Lock()
	srv, cancel, done := r.srv, r.stopCtx, r.done
	r.srv = nil
	r.mu.Unlock()
	if srv == nil {
		return fmt.Errorf("%w %s: not running", ErrReplica, r.name)
	}
	if abrupt {
		_ = srv.Close()
	}
	cancel()
	<-done
	return nil
}

// wait blocks until r has stopped (Lab.Close).
func (r *replica) wait() {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

var _ chaos.Replicas = (*Lab)(nil)

// replica returns the named replica, e.g. payment-2.
func (l *Lab) replica(name string) (*replica, error) {
	svc, n, err := topology.ParseReplica(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrReplica, err)
	}
	rs := l.replicas[svc]
	if n > len(rs) {
		return nil, fmt.Errorf("%w %s: %s runs %d replica(s)", ErrReplica, name, svc, len(rs))
	}
	return rs[n-1], nil
}

// Kill stops a replica like a SIGKILL: its listener and every connection
// to it close at once, requests in flight get no answer, its background
// work stops. Its store stays (the replicas of a service share it). The
// proxies in front of it are disabled until Restart: Toxiproxy would keep
// its callers' connections open to a dead upstream, where a dead process's
// port refuses them.
func (l *Lab) Kill(ctx context.Context, name string) error {
	return l.stopReplica(ctx, name, true)
}

// Drain stops a replica gracefully: its proxies are disabled first, as
// Kill's, so callers move to the other replicas (a request cut there is
// retried elsewhere: every call between services is idempotent or carries
// an Idempotency-Key); then its listener closes, the requests in flight
// finish (within server.DefaultShutdownTimeout), idle connections close.
func (l *Lab) Drain(ctx context.Context, name string) error {
	return l.stopReplica(ctx, name, false)
}

func (l *Lab) stopReplica(ctx context.Context, name string, abrupt bool) error {
	r, err := l.replica(name)
	if err != nil {
		return err
	}
	if abrupt {
		if err := r.stop(true); err != nil {
			return err
		}
		return l.setHops(ctx, r, toxi.Apply)
	}
	// A drain takes the replica out of its callers' way first (its
	// proxies refuse connections and drop theirs, so no request waits on a
	// connection to a replica that is going), then stops it gracefully.
	if err := l.setHops(ctx, r, toxi.Apply); err != nil {
		return err
	}
	return r.stop(false)
}

// setHops applies (toxi.Apply) or removes (toxi.Remove) a Down on every
// proxy in front of r.
func (l *Lab) setHops(ctx context.Context, r *replica, do func(context.Context, *toxiclient.Client, toxi.Toxic) error) error {
	var errs []error
	for _, h := range r.hops {
		errs = append(errs, do(ctx, l.Toxiproxy(), toxi.Toxic{Hop: h, Kind: toxi.Down}))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w %s: %w", ErrReplica, r.name, err)
	}
	return nil
}

// Restart starts a stopped replica again on its address, with the service
// it served before (its store on disk, shared with the other replicas),
// and enables its proxies.
func (l *Lab) Restart(ctx context.Context, name string) error {
	r, err := l.replica(name)
	if err != nil {
		return err
	}
	r.mu.Lock()
	running := r.srv != nil
	r.mu.Unlock()
	if running {
		return fmt.Errorf("%w %s: already running", ErrReplica, name)
	}
	r.wait()
	ln, err := server.Listen(r.addr)
	if err != nil {
		return fmt.Errorf("%w %s: %w", ErrReplica, name, err)
	}
	r.start(l.runCtx, ln, l.errs)
	return l.setHops(ctx, r, toxi.Remove)
}

// ReplicaAddrs returns the listen addresses of a service's replicas, in
// order (one for a service that is not replicated).
func (l *Lab) ReplicaAddrs(service string) []string {
	var out []string
	for _, r := range l.replicas[service] {
		out = append(out, r.addr)
	}
	return out
}

// ReplicaURLs returns each service's replicas' base URLs, replica 1
// first.
func (l *Lab) ReplicaURLs() map[string][]string {
	out := map[string][]string{}
	for name := range l.replicas {
		for _, a := range l.ReplicaAddrs(name) {
			out[name] = append(out[name], "http://"+a)
		}
	}
	return out
}

// replicaCounts checks Config.Replicas and returns the count of every
// service (1 unless set).
func (cfg Config) replicaCounts() (map[string]int, error) {
	counts := map[string]int{}
	for _, name := range shop.Services {
		counts[name] = 1
	}
	for svc, n := range cfg.Replicas {
		if _, err := topology.ParseReplicas(fmt.Sprintf("%s=%d", svc, n)); err != nil {
			return nil, fmt.Errorf("lab: %w", err)
		}
		counts[svc] = n
		if n > 1 && cfg.DataDir == "" && cfg.DatabaseURL == "" {
			return nil, fmt.Errorf("lab: %d replicas of %s share its store: set DataDir or DatabaseURL", n, svc)
		}
	}
	return counts, nil
}

// replicaAddr is the default listen address of replica n of service.
func replicaAddr(service string, n int) string {
	return topology.Addr(topology.ReplicaPort(topology.Port(service), n))
}
