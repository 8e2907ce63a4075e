package toxi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	toxiclient "github.com/Shopify/toxiproxy/v2/client"
	"github.com/faultlab/faultlab/internal/proc"
	"github.com/faultlab/faultlab/topology"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
)

// DefaultAPIAddr is the Toxiproxy API address of the lab (docs/CONTRACTS.md).
var DefaultAPIAddr = topology.ToxiproxyAddr()

// Config configures Start. The zero value listens on DefaultAPIAddr and
// discards Toxiproxy's logs.
type Config struct {
	// APIAddr is where the Toxiproxy API listens; "127.0.0.1:0" picks a free
	// port (see Server.URL). Empty means DefaultAPIAddr.
	APIAddr string
	// Logger receives Toxiproxy's own log lines at debug level. Nil drops them.
	Logger *slog.Logger
	// StartTimeout bounds how long Start waits for the API to answer.
	// Zero means 5s.
	StartTimeout time.Duration
}

// Server is a running, embedded Toxiproxy. It is safe for concurrent use.
type Server struct {
	api    *toxiproxy.ApiServer
	http   *http.Server
	url    string
	client *toxiclient.Client
	done   chan error

	closeOnce sync.Once
	closeErr  error
}

// Start serves the Toxiproxy API on cfg.APIAddr and returns once it answers
// /version, or an error if it does not within cfg.StartTimeout or ctx ends.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.APIAddr == "" {
		cfg.APIAddr = DefaultAPIAddr
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 5 * time.Second
	}
	zl := zerolog.Nop()
	if cfg.Logger != nil {
		zl = zerolog.New(&slogWriter{log: cfg.Logger}).Level(zerolog.DebugLevel)
	}
	ln, err := net.Listen("tcp", cfg.APIAddr)
	if err != nil {
		return nil, fmt.Errorf("toxi: listen on %s: %w", cfg.APIAddr, err)
	}
	api := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zl)
	s := &Server{
		api: api,
		http: &http.Server{
			Handler:           api.Routes(),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       60 * time.Second,
		},
		url:  "http://" + ln.Addr().String(),
		done: make(chan error, 1),
	}
	s.client = toxiclient.NewClient(s.url)
	go func() {
		err := s.http.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	if err := s.waitReady(ctx, cfg.StartTimeout); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) waitReady(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	stopped, err := proc.WaitHTTP(ctx, s.url+"/version", 10*time.Millisecond, s.done)
	switch {
	case errors.Is(err, proc.ErrExited):
		return fmt.Errorf("toxi: API server stopped: %w", stopped)
	case err != nil:
		return fmt.Errorf("toxi: API at %s did not answer: %w", s.url, err)
	}
	return nil
}

// URL is the base URL of the Toxiproxy API, e.g. http://127.0.0.1:8474.
func (s *Server) URL() string { return s.url }

// Client returns a Toxiproxy client for this server.
func (s *Server) Client() *toxiclient.Client { return s.client }

// Close stops the API and every proxy. It is safe to call more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.http.Shutdown(ctx)
		if err != nil {
			err = errors.Join(err, s.http.Close())
		}
		s.closeErr = errors.Join(err, s.api.Collection.Clear())
	})
	return s.closeErr
}

// Hop is one Toxiproxy proxy between a caller and its upstream, named
// "<caller>-to-<callee>" (docs/CONTRACTS.md).
type Hop struct {
	// Name is the proxy name, e.g. "order-to-payment".
	Name string `json:"name"`
	// Listen is the proxy's address; "127.0.0.1:0" picks a free port.
	Listen string `json:"listen"`
	// Upstream is the host:port the proxy forwards to.
	Upstream string `json:"upstream"`
}

// ErrHop is wrapped by errors about a malformed Hop.
var ErrHop = errors.New("invalid hop")

// CreateHops creates one enabled proxy per hop and returns the hops with
// their actual listen addresses. On error, the proxies already created stay;
// Close or Reset the server to clean up.
func (s *Server) CreateHops(hops []Hop) ([]Hop, error) {
	out := make([]Hop, 0, len(hops))
	for _, h := range hops {
		if h.Name == "" || h.Upstream == "" {
			return out, fmt.Errorf("toxi: %w: name and upstream are required (%+v)", ErrHop, h)
		}
		if h.Listen == "" {
			h.Listen = "127.0.0.1:0"
		}
		p, err := s.client.CreateProxy(h.Name, h.Listen, h.Upstream)
		if err != nil {
			return out, fmt.Errorf("toxi: create hop %s: %w", h.Name, err)
		}
		h.Listen = p.Listen
		out = append(out, h)
	}
	return out, nil
}

// slogWriter turns zerolog JSON lines into debug records on a slog.Logger.
type slogWriter struct{ log *slog.Logger }

func (w *slogWriter) Write(p []byte) (int, error) {
	var line map[string]any
	msg := "toxiproxy"
	attrs := []any{slog.String("labels.component", "toxiproxy")}
	if json.Unmarshal(p, &line) == nil {
		if m, ok := line["message"].(string); ok && m != "" {
			msg = "toxiproxy: " + m
		}
		for _, k := range []string{"name", "proxy", "upstream", "toxic_type", "client"} {
			if v, ok := line[k].(string); ok {
				attrs = append(attrs, slog.String("labels.toxiproxy_"+k, v))
			}
		}
	}
	w.log.Debug(msg, attrs...)
	return len(p), nil
}
