package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] == "" || args[0][0] == '-' {
		return usagef("serve needs a service: user, product, order, payment or gateway")
	}
	name, args := args[0], args[1:]
	if err := oneOf(name, shop.Services...); err != nil {
		return usagef("serve: %v", err)
	}
	fs := newFlagSet("serve", stderr)
	listen := fs.String("listen", shop.DefaultListen[name], "address to listen on")
	dataDir := fs.String("data-dir", "./var", "databases, signing key and logs/<service>.log")
	storeOpt := storeFlag(fs)
	publicURL := fs.String("public-url", topology.DefaultURL(topology.Gateway), "the gateway's public URL")
	gatewayKey := fs.String("gateway-key", "", "the gateway's secret (X-Gateway-Key), required")
	serviceKey := fs.String("service-key", "", "the services' shared secret (X-Service-Key), required")
	urls := map[string]*string{}
	for _, up := range topology.Callees() {
		urls[up] = fs.String(up+"-url", "http://"+shop.DefaultListen[up], "where the "+up+" service is: a base URL, a comma-separated list of its replicas' base URLs, or dns+http://host:port to balance over the addresses of host (tasks."+up+" in Swarm, a headless service in Kubernetes)")
	}
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	tokenTTL := fs.Duration("token-cache-ttl", 30*time.Second, "how long a token validation is cached (never past the token's exp)")
	policies := policyFlags(fs, resilience.Policy{})
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return err
	}
	dbURL, err := databaseURL(fs, *storeOpt, getenv)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve %s: unexpected argument %q", name, fs.Arg(0))
	}
	if *gatewayKey == "" || *serviceKey == "" {
		return usagef("serve %s: --gateway-key and --service-key (or FAULTLAB_GATEWAY_KEY and FAULTLAB_SERVICE_KEY) are required", name)
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	logDir := filepath.Join(*dataDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	lf, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	defer lf.Close()
	logger := observability.NewLogger(observability.LogOptions{Service: name, Writer: io.MultiWriter(stderr, lf), Level: level})
	ups, err := upstreamsFrom(urls)
	if err != nil {
		return err
	}
	unit, err := shop.Build(name, shop.Options{
		DataDir: *dataDir, DatabaseURL: dbURL, PublicURL: *publicURL, Keys: auth.Keys{Gateway: *gatewayKey, Service: *serviceKey},
		URLs: ups.urls, Endpoints: ups.endpoints, Resolve: ups.resolve, Policies: policies(), TokenTTL: *tokenTTL, Logger: logger,
	})
	if err != nil {
		return err
	}
	defer unit.Close()
	ln, err := server.Listen(*listen)
	if err != nil {
		return err
	}
	srv := server.New(unit.Handler, logger)
	errc := make(chan error, 1)
	go func() { errc <- server.Serve(ctx, srv, ln) }()
	if name == topology.Order || name == topology.Product {
		// order: settle orders a crash or a lost answer left pending, and
		// retry queued releases; payment may not be up yet, so keep trying
		// in the background. product: expire reservations past their TTL.
		go unit.ReconcileEvery(ctx, 5*time.Second, logger)
	}
	fmt.Fprintf(stdout, "faultlab %s listening on http://%s\n", name, ln.Addr())
	return <-errc
}

// upstreams are where a service's upstreams are, from its --<upstream>-url
// flags.
type upstreams struct {
	urls      map[string]string
	endpoints map[string][]string
	resolve   map[string]func(context.Context) ([]string, error)
}

// upstreamsFrom reads each --<upstream>-url: a base URL, a comma-separated
// list of replicas' base URLs, or dns+<base URL> to look the replicas up.
func upstreamsFrom(flags map[string]*string) (upstreams, error) {
	u := upstreams{urls: map[string]string{}, endpoints: map[string][]string{}, resolve: map[string]func(context.Context) ([]string, error){}}
	for up, v := range flags {
		val := strings.TrimSpace(*v)
		if target, ok := strings.CutPrefix(val, "dns+"); ok {
			r, err := resilience.ResolveDNS(nil, target)
			if err != nil {
				return u, usagef("--%s-url %q: %v", up, val, err)
			}
			u.urls[up], u.resolve[up] = target, r
			continue
		}
		list := strings.Split(val, ",")
		for i, base := range list {
			base = strings.TrimSpace(base)
			if err := checkBaseURL(base); err != nil {
				return u, usagef("--%s-url %q: %v", up, val, err)
			}
			list[i] = base
		}
		u.urls[up] = list[0]
		if len(list) > 1 {
			u.endpoints[up] = list
		}
	}
	return u, nil
}

// checkBaseURL accepts an http or https URL with a host and no query.
func checkBaseURL(s string) error {
	p, err := url.Parse(s)
	switch {
	case s == "":
		return errors.New("empty base URL")
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case p.Scheme != "http" && p.Scheme != "https":
		return fmt.Errorf("%q: want an http:// or https:// base URL (or dns+http://host:port)", s)
	case p.Host == "":
		return fmt.Errorf("%q: no host", s)
	case p.RawQuery != "" || p.Fragment != "":
		return fmt.Errorf("%q: a base URL has no query or fragment", s)
	}
	return nil
}
