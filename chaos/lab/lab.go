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
	"time"

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
	Units map[string]*shop.Unit
	// Addrs maps each service to its listen address.
	Addrs map[string]string
	// Proxies maps each hop name to its proxy's listen address.
	Proxies map[string]string
	Toxi    *toxi.Server
	Keys    auth.Keys
	LogDir  string
	// DataDir holds the stores (empty: in memory).
	DataDir string

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errs   chan error
	files  []*os.File
	once   sync.Once
	closeE error
}

// Start brings the lab up and returns once every service listens.
func Start(ctx context.Context, cfg Config) (_ *Lab, err error) {
	cfg = cfg.withDefaults()
	l := &Lab{Units: map[string]*shop.Unit{}, Addrs: map[string]string{}, Proxies: map[string]string{}, Keys: cfg.Keys, DataDir: cfg.DataDir, errs: make(chan error, 8)}
	defer func() {
		if err != nil {
			_ = l.Close()
		}
	}()
	runCtx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel

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
	l.serve(runCtx, cfg, lns)
	l.reconcileEvery(runCtx)

	urls := map[string]string{}
	for name, a := range l.Addrs {
		urls[name] = "http://" + a
	}
	l.Remote = NewRemote(RemoteConfig{URLs: urls, ToxiproxyURL: l.Toxi.URL(), ServiceKey: cfg.Keys.Service, LogDir: l.LogDir, DataDir: cfg.DataDir})
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

// listen opens every service's listener and notes its address in Addrs.
// On an error it closes those it opened.
func (l *Lab) listen(cfg Config) (map[string]net.Listener, error) {
	lns := map[string]net.Listener{}
	for _, name := range shop.Services {
		addr := shop.DefaultListen[name]
		if cfg.Ephemeral {
			addr = "127.0.0.1:0"
		}
		if a, ok := cfg.Listen[name]; ok {
			addr = a
		}
		ln, err := server.Listen(addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return nil, fmt.Errorf("lab: %s: %w", name, err)
		}
		lns[name] = ln
		l.Addrs[name] = ln.Addr().String()
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
		urls := map[string]string{}
		for _, up := range shop.Upstreams[name] {
			urls[up] = "http://" + l.Proxies[HopName(name, up)]
		}
		u, err := shop.Build(name, shop.Options{
			DataDir: cfg.DataDir, DatabaseURL: cfg.DatabaseURL, PublicURL: cfg.PublicURL, Keys: cfg.Keys, URLs: urls,
			Policies: cfg.Policies, Default: cfg.Default, Logger: logger, Argon2: cfg.Argon2,
		})
		if err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		l.Units[name] = u
	}
	return nil
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
		listen := topology.Addr(h.Port)
		if cfg.Ephemeral {
			listen = "127.0.0.1:0"
		}
		hops = append(hops, toxi.Hop{Name: h.Name, Listen: listen, Upstream: l.Addrs[h.Callee]})
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

// serve serves each Unit on its listener until runCtx ends; a server's
// error goes to l.errs.
func (l *Lab) serve(runCtx context.Context, cfg Config, lns map[string]net.Listener) {
	for _, name := range shop.Services {
		h := l.Units[name].Handler
		if cfg.Wrap != nil {
			h = cfg.Wrap(name, h)
		}
		srv := server.New(h, nil)
		ln := lns[name]
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			if err := server.Serve(runCtx, srv, ln); err != nil {
				select {
				case l.errs <- err:
				default:
				}
			}
		}()
	}
}

// reconcileEvery runs the background work: order settles what a crash or
// a lost answer left pending and drains its release outbox; product gives
// back reservations past their TTL (as `faultlab serve` does for each).
func (l *Lab) reconcileEvery(runCtx context.Context) {
	for _, name := range []string{topology.Order, topology.Product} {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			l.Units[name].ReconcileEvery(runCtx, 2*time.Second, nil)
		}()
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
		l.wg.Wait()
		var errs []error
		if l.Toxi != nil {
			errs = append(errs, l.Toxi.Close())
		}
		for _, u := range l.Units {
			errs = append(errs, u.Close())
		}
		for _, f := range l.files {
			errs = append(errs, f.Close())
		}
		l.closeE = errors.Join(errs...)
	})
	return l.closeE
}
