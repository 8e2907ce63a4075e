package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/api"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// Defaults.
const (
	DefaultMaxBody      = 64 << 10
	DefaultCacheEntries = 256
	maxCachedBody       = 1 << 20
	// CacheStatusHeader marks an answer served from the last-known-good copy.
	CacheStatusHeader = "X-Cache-Status"
)

// Config configures the gateway. The zero value works: upstreams at their
// default loopback ports through kit.DefaultClient, and an empty gateway
// key (so every service will refuse it: set Keys.Gateway).
type Config struct {
	// Base is the logger, registry, public URL, keys, clock, Wrap and Mount.
	kit.Base
	// Per upstream: the (resilience) client and base URL. Nil client:
	// kit.DefaultClient(); empty URL: the default loopback port.
	UserClient    *http.Client
	UserURL       string
	ProductClient *http.Client
	ProductURL    string
	OrderClient   *http.Client
	OrderURL      string
	PaymentClient *http.Client
	PaymentURL    string
	// MaxBody bounds request bodies (413 beyond); default 64 KiB.
	MaxBody int64
	// CacheEntries bounds the last-known-good catalogue; default 256.
	CacheEntries int
	// MinRequestTimeout is the shortest deadline a client may ask for with
	// Request-Timeout; shorter values are raised to it. Default 100 ms.
	MinRequestTimeout time.Duration
}

// DefaultMinRequestTimeout is Config.MinRequestTimeout's default: below
// it, a request could not reach any upstream and answer, and a client
// could only make healthy services look unavailable.
const DefaultMinRequestTimeout = 100 * time.Millisecond

type upstream struct {
	name string
	hc   *http.Client
	base string
}

// Service is the gateway, an http.Handler safe for concurrent use.
//
// ServeHTTP serves the public API. Close releases nothing today (the
// gateway has no store); it is there so every service closes alike.
type Service struct {
	*kit.Frame // ServeHTTP, Registry, Close
	cfg        Config
	log        *slog.Logger
	cache      *lru
	fallback   *prometheus.CounterVec
	routes     []Route
}

// Route is one route the gateway serves; Path is in httprouter syntax
// (/api/v1/orders/:id).
type Route struct {
	Method, Path string
}

// withDefaults fills in the zero fields of c (Base and the upstreams are
// the frame's).
func (c Config) withDefaults() Config {
	c.MaxBody = kit.Positive(c.MaxBody, DefaultMaxBody)
	c.CacheEntries = kit.Positive(c.CacheEntries, DefaultCacheEntries)
	c.MinRequestTimeout = kit.Positive(c.MinRequestTimeout, DefaultMinRequestTimeout)
	return c
}

// fixed is the target of a route that forwards to the upstream path p.
func fixed(p string) func(*http.Request) (string, bool) {
	return func(*http.Request) (string, bool) { return p, true }
}

// withID is the target of a route with an :id: prefix plus the id, when
// the id is valid.
func withID(prefix string) func(*http.Request) (string, bool) {
	return func(r *http.Request) (string, bool) {
		id := router.Param(r, "id")
		return prefix + url.PathEscape(id), kit.ValidID(id)
	}
}

// New builds the gateway.
func New(cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	s := &Service{cache: newLRU(cfg.CacheEntries)}
	// The trust boundary (Edge) runs first, before Wrap (the deadline and
	// fault middleware) can read anything a client set.
	f := kit.NewFrame(kit.Spec{
		Name: topology.Gateway, Base: &cfg.Base, Edge: s.edge, Guard: guard,
		Upstreams: []kit.Upstream{
			{Name: topology.User, Client: &cfg.UserClient, URL: &cfg.UserURL},
			{Name: topology.Product, Client: &cfg.ProductClient, URL: &cfg.ProductURL},
			{Name: topology.Order, Client: &cfg.OrderClient, URL: &cfg.OrderURL},
			{Name: topology.Payment, Client: &cfg.PaymentClient, URL: &cfg.PaymentURL},
		},
	})
	s.Frame, s.cfg = f, cfg
	up := func(name string) upstream {
		hc, base := f.Client(name)
		return upstream{name: name, hc: hc, base: base}
	}
	users, products, orders, payments := up(topology.User), up(topology.Product), up(topology.Order), up(topology.Payment)
	spec, err := api.JSON()
	if err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	routes := []struct {
		method, path string
		h            http.Handler
	}{
		{http.MethodPost, topology.RouteLogin, s.forward(users, fixed("/users/api/login"), false)},
		{http.MethodPost, "/users/api/login", s.forward(users, fixed("/users/api/login"), false)},
		{http.MethodGet, topology.RouteProducts, s.forward(products, fixed("/products"), true)},
		{http.MethodGet, topology.RouteProducts + "/:id", s.forward(products, withID("/products/"), true)},
		{http.MethodPost, topology.RouteProducts, s.forward(products, fixed("/products"), false)},
		{http.MethodPost, topology.RouteOrders, s.forward(orders, fixed("/orders"), false)},
		{http.MethodGet, topology.RouteOrders, s.forward(orders, fixed("/orders"), false)},
		{http.MethodGet, topology.RouteOrders + "/:id", s.forward(orders, withID("/orders/"), false)},
		{http.MethodGet, topology.RoutePayments + "/:id", s.forward(payments, withID("/payments/"), false)},
		{http.MethodGet, api.PathJSON, document("application/json", spec)},
		{http.MethodGet, api.PathYAML, document(api.YAMLContentType, api.YAML())},
	}
	r := f.Router()
	for _, rt := range routes {
		r.Handle(rt.method, rt.path, rt.h)
		s.routes = append(s.routes, Route{Method: rt.method, Path: rt.path})
	}
	for _, p := range []string{kit.RouteHealthz, kit.RouteReadyz, kit.RouteMetrics} {
		s.routes = append(s.routes, Route{Method: http.MethodGet, Path: p}) // registered by kit.Handler
	}
	f.Serve(r)
	s.log = cfg.Logger
	s.fallback = kit.CounterVec(s.Registry(), prometheus.CounterOpts{
		Namespace: observability.Namespace, Name: "fallback_total",
		Help: "Fallbacks served, by name and kind.",
	}, "name", "kind")
	return s, nil
}

// Routes lists every route the gateway serves, the health routes
// included. api/openapi.yaml documents each of them, and nothing else (a
// test checks both ways).
func (s *Service) Routes() []Route { return append([]Route(nil), s.routes...) }

// document serves the API document b as contentType.
func document(contentType string, b []byte) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		w.Header().Set("Cache-Control", "public, max-age=300")
		_, _ = w.Write(b)
	})
}

// guard answers 404 to any path that is not in canonical form or that
// names an internal route, before routing can interpret it.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.URL.EscapedPath()
		if r.URL.RawPath != "" {
			raw = r.URL.RawPath
		}
		p := r.URL.Path
		if !strings.HasPrefix(p, "/") || !router.CleanPath(raw) || !router.CleanPath(p) ||
			strings.Contains(p, "%") || strings.Contains(strings.ToLower(p), "/internal") {
			problem.Write(w, r, problem.NotFound("no such resource"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// edge is the trust boundary: it deletes every internal header
// (contract.Internal) from the client's request, so that only the gateway
// sets them, and turns the client's Request-Timeout, if any, into the
// request's deadline, no shorter than MinRequestTimeout. The budget sent
// upstream is then computed from that deadline by the resilience client.
func (s *Service) edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		contract.StripInternal(r.Header)
		v := r.Header.Get(contract.RequestTimeout)
		if v == "" {
			next.ServeHTTP(w, r)
			return
		}
		d, ok := parseRequestTimeout(v)
		if !ok {
			problem.Write(w, r, problem.BadRequest(contract.RequestTimeout+" must be a number of seconds, e.g. 2 or 0.5"))
			return
		}
		d = max(d, s.cfg.MinRequestTimeout)
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, clientTimeoutKey{}, d)))
	})
}

type clientTimeoutKey struct{}

// maxRequestTimeout caps a parsed Request-Timeout (the deadline middleware
// caps the request anyway); it keeps the arithmetic from overflowing.
const maxRequestTimeout = time.Hour

// parseRequestTimeout reads a non-negative number of seconds with at most
// three decimals ("2", "0.5", "1.25").
func parseRequestTimeout(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	whole, frac, dot := strings.Cut(v, ".")
	if whole == "" || len(whole) > 6 || (dot && frac == "") || len(frac) > 3 || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, false
	}
	secs, err := strconv.Atoi(whole)
	if err != nil {
		return 0, false
	}
	d := time.Duration(secs) * time.Second
	if frac != "" {
		ms, _ := strconv.Atoi((frac + "00")[:3])
		d += time.Duration(ms) * time.Millisecond
	}
	return min(d, maxRequestTimeout), true
}

// Headers copied from the client to the upstream, and back.
var (
	requestHeaders  = []string{"Authorization", kit.IdempotencyKeyHeader, "Content-Type", "Accept"}
	responseHeaders = []string{"Content-Type", "Location", "Link", "Retry-After", "Cache-Control", "WWW-Authenticate", "Idempotent-Replayed"}
)

func (s *Service) forward(up upstream, target func(*http.Request) (string, bool), catalogue bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := target(r)
		if !ok {
			problem.Write(w, r, problem.NotFound("no such resource"))
			return
		}
		body, ok := s.readBody(w, r)
		if !ok {
			return
		}
		req, ok := s.upstreamRequest(w, r, up, path, body)
		if !ok {
			return
		}
		cacheKey := r.URL.Path + "?" + r.URL.RawQuery

		resp, err := up.hc.Do(req)
		if err != nil {
			s.callFailed(w, r, up, cacheKey, catalogue, err)
			return
		}
		defer resp.Body.Close()
		s.relay(w, r, up, cacheKey, catalogue, resp)
	})
}

// readBody reads the client's body, up to MaxBody. On a bad body it writes
// the problem and reports false.
func (s *Service) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, true
	}
	if r.ContentLength > s.cfg.MaxBody {
		problem.Write(w, r, problem.Newf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", s.cfg.MaxBody))
		return nil, false
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			problem.Write(w, r, err)
			return nil, false
		}
		problem.Write(w, r, problem.BadRequest("could not read the request body"))
		return nil, false
	}
	return b, true
}

// upstreamRequest builds the request to up for path: the client's query,
// body and requestHeaders, the gateway key and the client's address.
func (s *Service) upstreamRequest(w http.ResponseWriter, r *http.Request, up upstream, path string, body []byte) (*http.Request, bool) {
	u := up.base + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	var reqBody any
	if len(body) > 0 {
		reqBody = body
	}
	req, err := kit.NewRequest(r.Context(), r.Method, u, reqBody)
	if err != nil {
		problem.Write(w, r, problem.BadRequest("malformed request"))
		return nil, false
	}
	req.Header.Del("Content-Type")
	req.Header.Del("Accept")
	for _, h := range requestHeaders {
		if v := r.Header.Values(h); len(v) > 0 {
			req.Header[h] = append([]string(nil), v...)
		}
	}
	req.Header.Set(auth.GatewayKeyHeader, s.cfg.Keys.Gateway)
	req.Header.Set(contract.ForwardedFor, kit.RemoteIP(r))
	return req, true
}

// callFailed answers a call to up that brought no response (err): a stale
// catalogue page, the client's own timeout, the upstream's own problem, or
// the upstream's unavailability.
func (s *Service) callFailed(w http.ResponseWriter, r *http.Request, up upstream, cacheKey string, catalogue bool, err error) {
	if catalogue && s.serveStale(w, r, cacheKey, err) {
		return
	}
	// The upstream explained itself (order: "payment is
	// temporarily unavailable"; user: "too many failed logins"):
	// pass its problem on, with the Retry-After it asked for. A
	// 429 stays a 429: the client is being limited, not told that
	// the service is down.
	if d, ok := r.Context().Value(clientTimeoutKey{}).(time.Duration); ok && errors.Is(r.Context().Err(), context.DeadlineExceeded) {
		// The client's own Request-Timeout ran out: say so, and
		// do not blame a healthy upstream.
		problem.Write(w, r, problem.Newf(http.StatusGatewayTimeout, "the request's %s of %v passed before %s answered", contract.RequestTimeout, d, up.name))
		return
	}
	var ue *resilience.UpstreamError
	if errors.As(err, &ue) && ue.Problem != nil && (ue.Status >= 500 || ue.Status == http.StatusTooManyRequests) {
		w.Header().Set("Content-Type", problem.ContentType)
		w.Header().Set("Retry-After", strconv.Itoa(int(ue.RetryAfter()/time.Second)))
		writePublicProblem(w, r, ue.Status, ue.Problem)
		return
	}
	problem.Write(w, r, kit.UpstreamProblem(up.name, err))
}

// relay passes up's response on: responseHeaders, then the body (cached
// for a catalogue page, a public problem for an upstream's problem).
func (s *Service) relay(w http.ResponseWriter, r *http.Request, up upstream, cacheKey string, catalogue bool, resp *http.Response) {
	if catalogue && resp.StatusCode >= 500 {
		if s.serveStale(w, r, cacheKey, errors.New(resp.Status)) {
			return
		}
	}
	for _, h := range responseHeaders {
		if v := resp.Header.Values(h); len(v) > 0 {
			w.Header()[h] = append([]string(nil), v...)
		}
	}
	if catalogue && resp.StatusCode == http.StatusOK {
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxCachedBody+1))
		if err != nil {
			problem.Write(w, r, kit.UpstreamProblem(up.name, err))
			return
		}
		if len(b) <= maxCachedBody {
			s.cache.put(cached{key: cacheKey, body: b, contentType: resp.Header.Get("Content-Type"), link: resp.Header.Get("Link")})
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = w.Write(b)
		return
	}
	if resp.StatusCode >= 400 && strings.HasPrefix(resp.Header.Get("Content-Type"), problem.ContentType) {
		b, err := io.ReadAll(io.LimitReader(resp.Body, kit.MaxResponseBody))
		if err != nil {
			problem.Write(w, r, kit.UpstreamProblem(up.name, err))
			return
		}
		writePublicProblem(w, r, resp.StatusCode, b)
		return
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, io.LimitReader(resp.Body, kit.MaxResponseBody))
}

// writePublicProblem passes an upstream's problem document b on with its
// "instance" set to the path the client asked for: the upstream's own path
// is an internal route the client cannot use. A body that is not a JSON
// object goes through unchanged.
func writePublicProblem(w http.ResponseWriter, r *http.Request, status int, b []byte) {
	if nb, ok := withMember(b, "instance", r.URL.Path); ok {
		b = nb
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// withMember returns the JSON object b with its member name set to the
// string v (added last if absent), every other member as it was and in its
// place, and a final newline; ok is false if b is not one JSON object.
func withMember(b []byte, name, v string) (_ []byte, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	val, err := json.Marshal(v)
	if err != nil {
		return nil, false
	}
	var out bytes.Buffer
	out.WriteByte('{')
	put := func(key string, raw []byte) {
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		k, _ := json.Marshal(key)
		out.Write(k)
		out.WriteByte(':')
		out.Write(raw)
	}
	found := false
	for dec.More() {
		t, err := dec.Token()
		key, isKey := t.(string)
		if err != nil || !isKey {
			return nil, false
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, false
		}
		if key == name {
			raw, found = val, true
		}
		put(key, raw)
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // trailing data: not one object
	}
	if !found {
		put(name, val)
	}
	out.WriteString("}\n")
	return out.Bytes(), true
}

// serveStale answers from the last-known-good copy if there is one.
func (s *Service) serveStale(w http.ResponseWriter, r *http.Request, key string, cause error) bool {
	c, ok := s.cache.get(key)
	if !ok {
		return false
	}
	s.fallback.WithLabelValues("catalogue", "stale").Inc()
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "serving stale catalogue",
		slog.String(observability.FieldEventAction, "fallback.stale_catalogue"),
		slog.String(observability.FieldUpstream, "product"),
		slog.String("url.path", r.URL.Path),
		slog.String(observability.FieldErrorMessage, cause.Error()))
	h := w.Header()
	h.Set("Content-Type", c.contentType)
	if c.link != "" {
		h.Set("Link", c.link)
	}
	h.Set(CacheStatusHeader, "stale")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(c.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(c.body)
	return true
}
