package console

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// Lab is the running lab the console watches and drives. *lab.Remote (and
// so *lab.Lab) implements it.
type Lab interface {
	chaos.Env
	// URL is a service's base URL.
	URL(service string) string
	// Toxiproxy is the Toxiproxy client, or nil when the lab has none.
	Toxiproxy() *toxiclient.Client
	// Faults is a service's HTTP fault client.
	Faults(service string) (*fault.Client, error)
}

// DefaultAddr is where `faultlab up` serves the console.
const DefaultAddr = "127.0.0.1:8090"

// Errors.
var (
	// ErrConfig is wrapped by every error of a bad Config.
	ErrConfig = errors.New("console: bad config")
	// ErrNotLoopback is wrapped by Loopback's refusal of an address.
	ErrNotLoopback = errors.New("the console listens on loopback only (127.0.0.1, ::1 or localhost)")
)

// Config configures New. Lab is required; the zero value of every other
// field works.
type Config struct {
	// Lab is the running lab.
	Lab Lab
	// Topology lists the services and hops; nil means topology.Default.
	Topology *topology.Topology
	// Endpoints lists each service's base URLs, one per replica; a service
	// missing here has the one Lab.URL names.
	Endpoints map[string][]string
	// Scenarios are those the page can start; nil means chaos.Catalogue().
	Scenarios []chaos.Scenario
	// RunOptions are passed to chaos.Run (Progress is the console's own).
	RunOptions chaos.Options
	// Clock paces the scrapes and dates the rates; nil means the wall clock.
	Clock resilience.Clock
	// Every is the scrape period; 0 means 1s.
	Every time.Duration
	// Token guards the mutating endpoints; empty means a random one.
	Token string
}

// Server is the console: an http.Handler plus the scrape loop. It is safe
// for concurrent use.
type Server struct {
	cfg       Config
	token     string
	mux       *http.ServeMux
	hub       *hub
	scenarios map[string]chaos.Scenario

	mu    sync.Mutex
	state State
	prev  *scrape
	run   *RunState

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ln     net.Listener
}

// New returns a console over cfg.Lab. Call Run (or Start) to scrape.
func New(cfg Config) (*Server, error) {
	if cfg.Lab == nil {
		return nil, fmt.Errorf("%w: Lab is required", ErrConfig)
	}
	if cfg.Topology == nil {
		cfg.Topology = topology.Default
	}
	if cfg.Scenarios == nil {
		cfg.Scenarios = chaos.Catalogue()
	}
	if cfg.Clock == nil {
		cfg.Clock = wallClock{}
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	if cfg.Every < 100*time.Millisecond {
		return nil, fmt.Errorf("%w: Every %s is under 100ms", ErrConfig, cfg.Every)
	}
	if cfg.Token == "" {
		b := make([]byte, 24)
		_, _ = rand.Read(b)
		cfg.Token = hex.EncodeToString(b)
	}
	s := &Server{cfg: cfg, token: cfg.Token, hub: newHub(), scenarios: map[string]chaos.Scenario{}}
	for _, sc := range cfg.Scenarios {
		s.scenarios[sc.Name] = sc
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.state = s.emptyState()
	s.mux = s.routes()
	return s, nil
}

// Start listens on addr (a loopback address), scrapes and serves until
// Close. It returns once the console listens.
func Start(cfg Config, addr string) (*Server, error) {
	if err := Loopback(addr); err != nil {
		return nil, err
	}
	s, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := server.Listen(addr)
	if err != nil {
		return nil, fmt.Errorf("console: %w", err)
	}
	s.ln = ln
	srv := server.New(s, nil)
	// An event stream lives as long as the page: each event pushes the
	// write deadline on instead (see events).
	srv.WriteTimeout = 0
	s.wg.Add(2)
	go func() { defer s.wg.Done(); s.Run(s.ctx) }()
	go func() { defer s.wg.Done(); _ = server.Serve(s.ctx, srv, ln) }()
	return s, nil
}

// Loopback reports an error unless addr is host:port with a loopback host
// (127.0.0.1, ::1 or localhost): the console can break the lab.
func Loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: want host:port: %w", addr, ErrNotLoopback)
	}
	if !loopbackHost(host) {
		return fmt.Errorf("address %q: %w", addr, ErrNotLoopback)
	}
	return nil
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Addr is the address Start listens on ("" before Start).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is the page's address ("" before Start).
func (s *Server) URL() string {
	if s.ln == nil {
		return ""
	}
	return "http://" + s.Addr() + "/"
}

// Token is the token the mutating endpoints demand.
func (s *Server) Token() string { return s.token }

// ServeHTTP serves the page and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Run scrapes every Every until ctx (or Close) ends it; the first scrape is
// at once.
func (s *Server) Run(ctx context.Context) {
	for {
		s.Scrape(ctx)
		select {
		case <-ctx.Done():
			return
		case <-s.ctx.Done():
			return
		case <-s.cfg.Clock.After(s.cfg.Every):
		}
	}
}

// Close stops the scrapes, a running scenario, the event streams and the
// listener, if any.
func (s *Server) Close() error {
	s.cancel()
	s.hub.close()
	s.wg.Wait()
	return nil
}

type wallClock struct{}

func (wallClock) Now() time.Time                         { return time.Now() }
func (wallClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
