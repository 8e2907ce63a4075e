package lab

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/server"
)

// AdminReplicasPath is the prefix of the lab's replica control: POST
// <prefix><replica>/kill, /drain or /restart, with X-Service-Key.
const AdminReplicasPath = "/internal/replicas/"

// AdminTargetsPath serves Prometheus HTTP service discovery
// (http_sd_configs): GET <path>?service=payment answers the scrape targets
// of the service's replicas after the first, which
// observability/prometheus/prometheus.local.yml lists statically. Unlike
// the rest of the admin API it needs no key: Prometheus' http_sd cannot
// send one, and it tells only the loopback addresses Prometheus scrapes.
const AdminTargetsPath = "/sd/prometheus"

// AdminHandler serves the lab's admin API (`faultlab up` on its admin
// address, loopback only): list the replicas (GET AdminReplicasPath: each
// service's replicas' base URLs, replica 1 first), stop and start one. Like
// every /internal/ endpoint it needs the service key.
func (l *Lab) AdminHandler(serviceKey string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+AdminReplicasPath+"{$}", func(w http.ResponseWriter, r *http.Request) {
		problem.WriteJSON(w, http.StatusOK, l.ReplicaURLs())
	})
	mux.HandleFunc("POST "+AdminReplicasPath+"{replica}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name, action := r.PathValue("replica"), r.PathValue("action")
		var err error
		switch action {
		case "kill":
			err = l.Kill(r.Context(), name)
		case "drain":
			err = l.Drain(r.Context(), name)
		case "restart":
			err = l.Restart(r.Context(), name)
		default:
			problem.Write(w, r, problem.NotFound(fmt.Sprintf("action %q: want kill, drain or restart", action)))
			return
		}
		switch {
		case errors.Is(err, ErrReplica):
			problem.Write(w, r, problem.Conflict(err.Error()))
		case err != nil:
			problem.Write(w, r, problem.Wrap(http.StatusBadGateway, "toxiproxy", err))
		default:
			problem.WriteJSON(w, http.StatusOK, map[string]string{"replica": name, "action": action})
		}
	})
	keyed := auth.RequireService(serviceKey)(mux)
	top := http.NewServeMux()
	top.HandleFunc("GET "+AdminTargetsPath, l.serveTargets)
	top.Handle("/", keyed)
	return top
}

// targetGroup is one group of Prometheus' HTTP service discovery.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// serveTargets answers AdminTargetsPath.
func (l *Lab) serveTargets(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("service")
	addrs, ok := l.replicas[name]
	if !ok {
		problem.Write(w, r, problem.NotFound(fmt.Sprintf("service %q: want one of %s", name, strings.Join(l.Services(), ", "))))
		return
	}
	groups := []targetGroup{}
	if len(addrs) > 1 {
		groups = append(groups, targetGroup{Targets: l.ReplicaAddrs(name)[1:], Labels: map[string]string{}})
	}
	problem.WriteJSON(w, http.StatusOK, groups)
}

// serveAdmin serves AdminHandler on cfg.AdminAddr until the lab closes.
func (l *Lab) serveAdmin(cfg Config) error {
	if cfg.AdminAddr == "" {
		return nil
	}
	ln, err := server.Listen(cfg.AdminAddr)
	if err != nil {
		return fmt.Errorf("lab: admin: %w", err)
	}
	l.AdminAddr = ln.Addr().String()
	srv := server.New(l.AdminHandler(cfg.Keys.Service), nil)
	l.admin = make(chan struct{})
	go func() {
		defer close(l.admin)
		_ = server.Serve(l.runCtx, srv, ln)
	}()
	return nil
}

// AdminClient calls a running lab's admin API (AdminHandler): it is the
// chaos.Replicas of Remote against `faultlab up`, and of `faultlab kill`.
type AdminClient struct {
	// URL is the admin API's base URL, e.g. http://127.0.0.1:8475.
	URL        string
	ServiceKey string
	HTTP       *http.Client
}

var _ chaos.Replicas = (*AdminClient)(nil)

// Kill implements chaos.Replicas.
func (c *AdminClient) Kill(ctx context.Context, replica string) error {
	return c.post(ctx, replica, "kill")
}

// Drain implements chaos.Replicas.
func (c *AdminClient) Drain(ctx context.Context, replica string) error {
	return c.post(ctx, replica, "drain")
}

// Restart implements chaos.Replicas.
func (c *AdminClient) Restart(ctx context.Context, replica string) error {
	return c.post(ctx, replica, "restart")
}

// List returns each service's replicas' base URLs, replica 1 first.
func (c *AdminClient) List(ctx context.Context) (map[string][]string, error) {
	req, err := kit.NewRequest(ctx, http.MethodGet, strings.TrimRight(c.URL, "/")+AdminReplicasPath, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set(auth.ServiceKeyHeader, c.ServiceKey)
	var out map[string][]string
	if err := kit.Do(c.HTTP, req, &out); err != nil {
		return nil, fmt.Errorf("list replicas: %w", err)
	}
	return out, nil
}

func (c *AdminClient) post(ctx context.Context, replica, action string) error {
	u := strings.TrimRight(c.URL, "/") + AdminReplicasPath + url.PathEscape(replica) + "/" + action
	req, err := kit.NewRequest(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set(auth.ServiceKeyHeader, c.ServiceKey)
	if err := kit.Do(c.HTTP, req, nil); err != nil {
		return fmt.Errorf("%s %s: %w", action, replica, err)
	}
	return nil
}
