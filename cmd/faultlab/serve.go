package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
		urls[up] = fs.String(up+"-url", "http://"+shop.DefaultListen[up], "base URL of the "+up+" service")
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
	u := map[string]string{}
	for k, v := range urls {
		u[k] = *v
	}
	unit, err := shop.Build(name, shop.Options{
		DataDir: *dataDir, DatabaseURL: dbURL, PublicURL: *publicURL, Keys: auth.Keys{Gateway: *gatewayKey, Service: *serviceKey},
		URLs: u, Policies: policies(), TokenTTL: *tokenTTL, Logger: logger,
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
