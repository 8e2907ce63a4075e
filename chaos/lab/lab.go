package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

// Hops lists every hop between services: caller, callee, and the port of
// its proxy in the default layout (topology, docs/CONTRACTS.md).
var Hops = topology.Hops()

// HopName is the Toxiproxy proxy name of a hop.
func HopName(caller, callee string) string { return topology.HopName(caller, callee) }

// Config configures Start. The zero value starts a lab on the default
// loopback ports with state in memory.
type Config struct {
	// DataDir holds the databases and logs/<service>.log. Empty keeps state
	// in memory and writes no log files.
	DataDir string
	// DatabaseURL, a postgres:// URL, keeps the stores in PostgreSQL
	// (shop.Options.DatabaseURL); DataDir then holds the logs and user's
	// signing key.
	DatabaseURL string
	// Ephemeral listens on 127.0.0.1:0 everywhere (tests) instead of the
	// default ports.
	Ephemeral bool
	// Listen overrides a service's listen address.
	Listen map[string]string
	// ToxiproxyAddr is Toxiproxy's API address (default topology.ToxiproxyAddr).
	ToxiproxyAddr string
	// Keys are the secrets; empty ones get lab defaults.
	Keys auth.Keys
	// PublicURL is the gateway's public URL; default its own address.
	PublicURL string
	// Policies and Default set the resilience policies per upstream.
	Policies map[string]resilience.Policy
	Default  resilience.Policy
	// Console, if set, also receives every service's log lines at
	// ConsoleLevel or above.
	Console      io.Writer
	ConsoleLevel slog.Level
	// Argon2 overrides the password hashing cost (tests).
	Argon2 *user.Argon2Params
	// Replicas runs that many replicas of a service (1 unless set; only
	// services that others call, topology.Replicable), each on its own
	// listener (topology.ReplicaPort) behind its own proxy per caller,
	// <caller>-to-<callee>-<n>; callers balance over them. Replicas share
	// their service's store, so more than one needs DataDir.
	Replicas map[string]int
	// AdminAddr, if set, serves AdminHandler there (keep it on loopback).
	AdminAddr string
	// Wrap, if set, wraps each service's handler where the lab serves it
	// (tests check the gateway's answers against api/openapi.yaml).
	Wrap func(service string, h http.Handler) http.Handler
}

// Default secrets of a local lab. They protect nothing on loopback; any
// other deployment sets its own.
const (
	DefaultGatewayKey = "lab-gateway-key-change-me"
	DefaultServiceKey = "lab-service-key-change-me"
)

// Lab is a running in-process lab.
type Lab struct {
	*Remote
	// Units are the services, the first replica's where replicated.
	Units map[string]*shop.Unit
	// Addrs maps each service to its (first replica's) listen address.
	Addrs map[string]string
	// Proxies maps each hop name to its proxy's listen address.
	Proxies map[string]string
	Toxi    *toxi.Server
	Keys    auth.Keys
	LogDir  string
	// DataDir holds the stores (empty: in memory).
	DataDir string
	// AdminAddr is the admin API's address, when Config.AdminAddr is set.
	AdminAddr string

	replicas map[string][]*replica
	admin    chan struct{} // closed when the admin server has stopped
	runCtx   context.Context
	cancel   context.CancelFunc
	errs     chan error
	files    []*os.File
	once     sync.Once
	closeE   error
}

// Start brings the lab up and returns once every service listens.
func Start(ctx context.Context, cfg Config) (_ *Lab, err error) {
	cfg = cfg.withDefaults()
	l := &Lab{Units: map[string]*shop.Unit{}, Addrs: map[string]string{}, Proxies: map[string]string{}, Keys: cfg.Keys, DataDir: cfg.DataDir,
		replicas: map[string][]*replica{}, errs: make(chan error, 8)}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	l.runCtx, l.cancel = context.WithCancel(context.Background())

	// 1. Listeners first, so hops know their upstreams.
	lns, err := l.listen(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + l.Addrs[topology.Gateway]
	}
	// 2. Toxiproxy and one proxy per hop; 3. logs; 4. the services, each
	// calling its upstreams through their hops.
	if err := l.assemble(ctx, cfg); err != nil {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	// 5. Serve, and reconcile in the background.
	l.serve(lns)
	if err := l.serveAdmin(cfg); err != nil {
		return nil, err
	}

	urls := map[string]string{}
	for name, a := range l.Addrs {
		urls[name] = "http://" + a
	}
	l.Remote = NewRemote(RemoteConfig{URLs: urls, Replicas: l.ReplicaURLs(), ToxiproxyURL: l.Toxi.URL(), ServiceKey: cfg.Keys.Service, LogDir: l.LogDir, DataDir: cfg.DataDir})
	l.Remote.replicas = l
	return l, nil
}

// withDefaults fills in the lab's secrets and Toxiproxy's address.
func (cfg Config) withDefaults() Config {
	if cfg.Keys.Gateway == "" {
		cfg.Keys.Gateway = DefaultGatewayKey
	}
	if cfg.Keys.Service == "" {
		cfg.Keys.Service = DefaultServiceKey
	}
	if cfg.ToxiproxyAddr == "" {
		cfg.ToxiproxyAddr = topology.ToxiproxyAddr()
		if cfg.Ephemeral {
			cfg.ToxiproxyAddr = "127.0.0.1:0"
		}
	}
	return cfg
}

// listen opens every replica's listener, notes its address in Addrs (the
// first replica's) and returns them by replica. On an error it closes
// those it opened.
func (l *Lab) listen(cfg Config) (map[*replica]net.Listener, error) {
	counts, err := cfg.replicaCounts()
	if err != nil {
		return nil, err
	}
	lns := map[*replica]net.Listener{}
	for _, name := range shop.Services {
		for n := 1; n <= counts[name]; n++ {
			addr := replicaAddr(name, n)
			if a, ok := cfg.Listen[name]; ok && n == 1 {
				addr = a
			} else if cfg.Ephemeral {
				addr = "127.0.0.1:0"
			}
			ln, err := server.Listen(addr)
			if err != nil {
				for _, o := range lns {
					o.Close()
				}
				return nil, fmt.Errorf("lab: %s: %w", topology.ReplicaName(name, n), err)
			}
			r := &replica{name: topology.ReplicaName(name, n), addr: ln.Addr().String()}
			lns[r] = ln
			l.replicas[name] = append(l.replicas[name], r)
		}
		l.Addrs[name] = l.replicas[name][0].addr
	}
	return lns, nil
}

// assemble starts Toxiproxy with one proxy per hop, opens the log
// directory and builds every service's Unit.
func (l *Lab) assemble(ctx context.Context, cfg Config) error {
	if err := l.startHops(ctx, cfg); err != nil {
		return err
	}
	if cfg.DataDir != "" {
		l.LogDir = filepath.Join(cfg.DataDir, "logs")
		if err := os.MkdirAll(l.LogDir, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
	}
	for _, name := range shop.Services {
		logger, err := l.logger(name, cfg)
		if err != nil {
			return err
		}
		urls, endpoints := l.upstreamURLs(name)
		for _, r := range l.replicas[name] {
			r.unit, err = shop.Build(name, shop.Options{
				DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, PublicURL: cfg.PublicURL, Keys: cfg.Keys, URLs: urls, Endpoints: endpoints,
				Policies: cfg.Policies, Default: cfg.Default, Logger: logger, Argon2: cfg.Argon2,
			})
			if err != nil {
				return fmt.Errorf("lab: %w", err)
			}
			r.handler = r.unit.Handler
			if cfg.Wrap != nil {
				r.handler = cfg.Wrap(name, r.handler)
			}
		}
		l.Units[name] = l.replicas[name][0].unit
	}
	return nil
}

// upstreamURLs returns the base URL caller calls each upstream at (its
// hop, or its first replica's) and, for an upstream that runs replicated,
// the base URLs of every replica's hop, which caller balances over.
func (l *Lab) upstreamURLs(caller string) (map[string]string, map[string][]string) {
	urls, endpoints := map[string]string{}, map[string][]string{}
	for _, up := range shop.Upstreams[caller] {
		of := len(l.replicas[up])
		for n := 1; n <= of; n++ {
			endpoints[up] = append(endpoints[up], "http://"+l.Proxies[topology.ReplicaHopName(caller, up, n, of)])
		}
		urls[up] = endpoints[up][0]
		if of == 1 {
			delete(endpoints, up)
		}
	}
	return urls, endpoints
}

// startHops starts Toxiproxy and one proxy per hop, in front of the
// callee's listener, and notes each proxy's address in Proxies.
func (l *Lab) startHops(ctx context.Context, cfg Config) error {
	var err error
	l.Toxi, err = toxi.Start(ctx, toxi.Config{APIAddr: cfg.ToxiproxyAddr})
	if err != nil {
		return fmt.Errorf("lab: toxiproxy: %w", err)
	}
	var hops []toxi.Hop
	for _, h := range Hops {
		of := len(l.replicas[h.Callee])
		for n, r := range l.replicas[h.Callee] {
			listen := topology.Addr(topology.ReplicaPort(h.Port, n+1))
			if cfg.Ephemeral {
				listen = "127.0.0.1:0"
			}
			name := topology.ReplicaHopName(h.Caller, h.Callee, n+1, of)
			hops = append(hops, toxi.Hop{Name: name, Listen: listen, Upstream: r.addr})
			r.hops = append(r.hops, name)
		}
	}
	created, err := l.Toxi.CreateHops(hops)
	if err != nil {
		return fmt.Errorf("lab: hops: %w", err)
	}
	for _, h := range created {
		l.Proxies[h.Name] = h.Listen
	}
	return nil
}

// serve serves each replica on its listener until the lab closes or the
// replica stops, with its background work: order settles what a crash or
// a lost answer left pending and drains its release outbox; product gives
// back reservations past their TTL (as `faultlab serve` does for each).
// Every replica does, as every process would: the saga's leases keep two
// order replicas off the same order. A server's error goes to l.errs.
func (l *Lab) serve(lns map[*replica]net.Listener) {
	for r, ln := range lns {
		r.start(l.runCtx, ln, l.errs)
	}
}

func (l *Lab) logger(name string, cfg Config) (*slog.Logger, error) {
	var ws []io.Writer
	if l.LogDir != "" {
		f, err := os.OpenFile(filepath.Join(l.LogDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lab: log file: %w", err)
		}
		l.files = append(l.files, f)
		ws = append(ws, f)
	}
	fileLog := observability.NewLogger(observability.LogOptions{Service: name, Writer: io.MultiWriter(ws...)})
	if cfg.Console == nil {
		if len(ws) == 0 {
			return observability.Discard(), nil
		}
		return fileLog, nil
	}
	console := observability.NewLogger(observability.LogOptions{Service: name, Writer: cfg.Console, Level: cfg.ConsoleLevel})
	return slog.New(fanout{fileLog.Handler(), console.Handler()}), nil
}

var (
	_ chaos.Historian  = (*Lab)(nil)
	_ chaos.Reconciler = (*Lab)(nil)
)

// Reconcile implements chaos.Reconciler: one pass of order's reconciler.
func (l *Lab) Reconcile(ctx context.Context) error {
	_, err := l.Units[topology.Order].Reconcile(ctx)
	return err
}

// Err returns a channel that receives a server's fatal error.
func (l *Lab) Err() <-chan error { return l.errs }

// Services returns the service names, sorted.
func (l *Lab) Services() []string {
	out := make([]string, 0, len(l.Addrs))
	for n := range l.Addrs {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Client returns a plain client for calling the lab from a test.
func (l *Lab) Client() *http.Client { return l.HTTPClient() }

// Close stops the services, Toxiproxy and the stores. It is idempotent.
func (l *Lab) Close() error {
	l.once.Do(func() {
		if l.cancel != nil {
			l.cancel()
		}
		for _, rs := range l.replicas {
			for _, r := range rs {
				r.wait()
			}
		}
		if l.admin != nil {
			<-l.admin
		}
		var errs []error
		if l.Toxi != nil {
			errs = append(errs, l.Toxi.Close())
		}
		for _, rs := range l.replicas {
			for _, r := range rs {
				if r.unit != nil {
					errs = append(errs, r.unit.Close())
				}
			}
		}
		for _, f := range l.files {
			errs = append(errs, f.Close())
		}
		l.closeE = errors.Join(errs...)
	})
	return l.closeE
}
