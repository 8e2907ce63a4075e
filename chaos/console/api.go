package console

import (
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/problem"
)

// TokenHeader carries the console's token on every mutating request.
const TokenHeader = "X-Console-Token"

// downToxic names the pseudo-toxic of a disabled proxy.
const downToxic = string(toxi.Down)

//go:embed web
var webFS embed.FS

var page = template.Must(template.ParseFS(webFS, "web/index.html"))

// routes builds the mux. Every path checks its methods itself, so that a
// wrong one gets problem+json too.
func (s *Server) routes() *http.ServeMux {
	static, _ := fs.Sub(webFS, "web")
	files := http.FileServerFS(static)
	mux := http.NewServeMux()
	handle := func(pattern string, hs map[string]http.HandlerFunc) {
		mux.Handle(pattern, s.guard(methods(hs)))
	}
	handle("/{$}", map[string]http.HandlerFunc{http.MethodGet: s.index})
	handle("/console.js", map[string]http.HandlerFunc{http.MethodGet: files.ServeHTTP})
	handle("/console.css", map[string]http.HandlerFunc{http.MethodGet: files.ServeHTTP})
	handle("/api/state", map[string]http.HandlerFunc{http.MethodGet: func(w http.ResponseWriter, r *http.Request) {
		problem.WriteJSON(w, http.StatusOK, s.State())
	}})
	handle("/api/events", map[string]http.HandlerFunc{http.MethodGet: s.events})
	handle("/api/scenarios", map[string]http.HandlerFunc{http.MethodGet: s.listScenarios})
	handle("/api/toxics", map[string]http.HandlerFunc{http.MethodPost: s.addToxic})
	handle("/api/toxics/{hop}/{name}", map[string]http.HandlerFunc{http.MethodDelete: s.removeToxic})
	handle("/api/faults/{service}", map[string]http.HandlerFunc{http.MethodPost: s.addFault})
	handle("/api/faults/{service}/{name}", map[string]http.HandlerFunc{http.MethodDelete: s.removeFault})
	handle("/api/runs", map[string]http.HandlerFunc{http.MethodPost: s.startRun})
	mux.Handle("/", s.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, r, problem.Newf(http.StatusNotFound, "no such page or endpoint: %s", r.URL.Path))
	})))
	return mux
}

// methods dispatches on the request method; another one is a 405.
func methods(hs map[string]http.HandlerFunc) http.Handler {
	allow := make([]string, 0, len(hs))
	for m := range hs {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := hs[r.Method]
		if !ok && r.Method == http.MethodHead {
			h, ok = hs[http.MethodGet]
		}
		if !ok {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			problem.Write(w, r, problem.Newf(http.StatusMethodNotAllowed, "%s does not take %s (allowed: %s)", r.URL.Path, r.Method, strings.Join(allow, ", ")))
			return
		}
		h(w, r)
	})
}

// guard refuses a Host that is not loopback (DNS rebinding), and a
// mutating request that comes from another site or lacks the token.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.check(r); err != nil {
			problem.Write(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) check(r *http.Request) error {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !loopbackHost(strings.Trim(host, "[]")) {
		return problem.Newf(http.StatusForbidden, "Host %q is not a loopback name: open the console at 127.0.0.1", r.Host)
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return nil
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return problem.Newf(http.StatusForbidden, "cross-site request refused (Sec-Fetch-Site: %s)", site)
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return problem.Newf(http.StatusForbidden, "cross-origin request refused (Origin %q, console at %q)", o, r.Host)
		}
	}
	got := r.Header.Get(TokenHeader)
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
		return problem.Newf(http.StatusForbidden, "missing or wrong %s: reload the console page", TokenHeader)
	}
	return nil
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	_ = page.Execute(w, struct{ Token string }{s.token})
}

func (s *Server) addToxic(w http.ResponseWriter, r *http.Request) {
	var t toxi.Toxic
	if err := decode(w, r, &t); err != nil {
		problem.Write(w, r, err)
		return
	}
	if _, ok := s.hop(t.Hop); !ok {
		problem.Write(w, r, problem.Unprocessable(fmt.Sprintf("hop: unknown hop %q (want one of %s)", t.Hop, strings.Join(s.hopNames(), ", "))))
		return
	}
	if err := t.Validate(); err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusUnprocessableEntity, err.Error(), err))
		return
	}
	tc := s.cfg.Lab.Toxiproxy()
	if tc == nil {
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "this lab has no Toxiproxy"))
		return
	}
	if err := toxi.Apply(r.Context(), tc, t); err != nil {
		problem.Write(w, r, upstreamProblem("toxiproxy", err))
		return
	}
	s.refresh(r)
	problem.WriteJSON(w, http.StatusCreated, t)
}

func (s *Server) removeToxic(w http.ResponseWriter, r *http.Request) {
	hop, name := r.PathValue("hop"), r.PathValue("name")
	if _, ok := s.hop(hop); !ok {
		problem.Write(w, r, problem.NotFound(fmt.Sprintf("unknown hop %q", hop)))
		return
	}
	tc := s.cfg.Lab.Toxiproxy()
	if tc == nil {
		problem.Write(w, r, problem.New(http.StatusServiceUnavailable, "this lab has no Toxiproxy"))
		return
	}
	t := toxi.Toxic{Hop: hop, Name: name, Kind: toxi.Kind(name)}
	if name != downToxic {
		t.Kind = toxi.Latency // any kind but Down: Remove deletes by name
	}
	if err := toxi.Remove(r.Context(), tc, t); err != nil {
		problem.Write(w, r, upstreamProblem("toxiproxy", err))
		return
	}
	s.refresh(r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) addFault(w http.ResponseWriter, r *http.Request) {
	c, err := s.faultClient(r.PathValue("service"))
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	var f fault.Fault
	if err := decode(w, r, &f); err != nil {
		problem.Write(w, r, err)
		return
	}
	if err := f.Validate(); err != nil {
		problem.Write(w, r, problem.Wrap(http.StatusUnprocessableEntity, err.Error(), err))
		return
	}
	if err := c.Set(r.Context(), f); err != nil {
		problem.Write(w, r, upstreamProblem(r.PathValue("service"), err))
		return
	}
	s.refresh(r)
	problem.WriteJSON(w, http.StatusCreated, f)
}

func (s *Server) removeFault(w http.ResponseWriter, r *http.Request) {
	c, err := s.faultClient(r.PathValue("service"))
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	name := r.PathValue("name")
	if err := c.Remove(r.Context(), name); err != nil {
		if errors.Is(err, fault.ErrNotFound) {
			problem.Write(w, r, problem.NotFound(fmt.Sprintf("%s has no fault %q", r.PathValue("service"), name)))
			return
		}
		problem.Write(w, r, upstreamProblem(r.PathValue("service"), err))
		return
	}
	s.refresh(r)
	w.WriteHeader(http.StatusNoContent)
}

// decode reads one JSON object (problem.DecodeJSON's checks) into dst with
// dst's own strict decoder, whose errors name the field.
func decode(w http.ResponseWriter, r *http.Request, dst json.Unmarshaler) error {
	var raw json.RawMessage
	if err := problem.DecodeJSON(w, r, &raw, 0); err != nil {
		return err
	}
	if err := dst.UnmarshalJSON(raw); err != nil {
		return problem.Wrap(http.StatusBadRequest, err.Error(), err)
	}
	return nil
}

func (s *Server) faultClient(service string) (*fault.Client, error) {
	for _, svc := range s.cfg.Topology.Services() {
		if svc.Name != service {
			continue
		}
		if svc.Public {
			return nil, problem.Unprocessable(fmt.Sprintf("%s keeps /internal/ closed: it takes no HTTP faults; put a toxic on a hop instead", service))
		}
		c, err := s.cfg.Lab.Faults(service)
		if err != nil {
			return nil, problem.Wrap(http.StatusNotFound, err.Error(), err)
		}
		return c, nil
	}
	return nil, problem.NotFound(fmt.Sprintf("unknown service %q", service))
}

// upstreamProblem passes a 4xx of Toxiproxy or a service on (a toxic that
// exists, a fault that does not) and makes anything else a 502.
func upstreamProblem(who string, err error) error {
	var ae *toxiclient.ApiError
	if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
		return problem.Wrap(ae.Status, fmt.Sprintf("%s: %s", who, ae.Message), err)
	}
	var p *problem.Error
	if errors.As(err, &p) && p.Status >= 400 && p.Status < 500 {
		return problem.Wrap(p.Status, fmt.Sprintf("%s: %s", who, p.Detail), err)
	}
	return problem.Wrap(http.StatusBadGateway, fmt.Sprintf("%s: %v", who, err), err)
}

func (s *Server) hop(name string) (HopState, bool) {
	for _, h := range s.cfg.Topology.Hops() {
		if h.Name == name {
			return HopState{Name: h.Name, Caller: h.Caller, Callee: h.Callee}, true
		}
	}
	return HopState{}, false
}

func (s *Server) hopNames() []string {
	var out []string
	for _, h := range s.cfg.Topology.Hops() {
		out = append(out, h.Name)
	}
	return out
}

// refresh reads the faults again after a change, so the page shows it
// without waiting for the next scrape (the rates wait: they need a period).
func (s *Server) refresh(r *http.Request) {
	s.mu.Lock()
	st := s.state
	s.mu.Unlock()
	fresh := s.emptyState()
	errs := append(s.readToxics(fresh.Hops), s.readFaults(r.Context(), fresh.Services)...)
	st.Hops = slices.Clone(st.Hops)
	for i := range st.Hops {
		st.Hops[i].Enabled, st.Hops[i].Toxics = fresh.Hops[i].Enabled, fresh.Hops[i].Toxics
	}
	st.Services = slices.Clone(st.Services)
	for i := range st.Services {
		st.Services[i].Faults = fresh.Services[i].Faults
	}
	st.Errors = errs
	s.mu.Lock()
	s.state = st
	s.mu.Unlock()
	s.publish()
}
