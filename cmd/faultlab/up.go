package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"

	"github.com/faultlab/faultlab/chaos/console"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("up", stderr)
	dataDir := fs.String("data-dir", "./var", "databases, signing key and logs/<service>.log")
	storeOpt := storeFlag(fs)
	gatewayKey := fs.String("gateway-key", lab.DefaultGatewayKey, "the gateway's secret (X-Gateway-Key)")
	serviceKey := fs.String("service-key", lab.DefaultServiceKey, "the services' shared secret (X-Service-Key)")
	publicURL := fs.String("public-url", topology.DefaultURL(topology.Gateway), "the gateway's public URL, used in links and Location headers")
	toxiAddr := fs.String("toxiproxy-addr", topology.ToxiproxyAddr(), "Toxiproxy API address")
	logLevel := fs.String("log-level", "warn", "level of the log lines also printed to stderr: debug, info, warn, error")
	replicas := fs.String("replicas", "", "replicas per service, e.g. product=2,order=2,payment=3 (one each by default)")
	adminAddr := fs.String("admin-addr", topology.Addr(topology.AdminPort), "the lab's admin API (faultlab kill|drain|restart <service>-<n>); keep it on loopback")
	consoleAddr := fs.String("console", console.DefaultAddr, "the live console's loopback address, or off")
	policies := policyFlags(fs, lab.ScenarioPolicy)
	if err := parseNoArgs(fs, args, getenv); err != nil {
		return err
	}
	dbURL, err := databaseURL(fs, *storeOpt, getenv)
	if err != nil {
		return err
	}
	if *consoleAddr != "off" {
		if err := console.Loopback(*consoleAddr); err != nil {
			return usagef("--console: %v", err)
		}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	counts, err := topology.ParseReplicas(*replicas)
	if err != nil {
		return usagef("--replicas: %v", err)
	}
	l, err := lab.Start(ctx, lab.Config{
		DataDir:       *dataDir,
		DatabaseURL:   dbURL,
		ToxiproxyAddr: *toxiAddr,
		Keys:          auth.Keys{Gateway: *gatewayKey, Service: *serviceKey},
		PublicURL:     *publicURL,
		Policies:      policies(),
		Default:       lab.ScenarioPolicy,
		Console:       stderr,
		ConsoleLevel:  level,
		Replicas:      counts,
		AdminAddr:     *adminAddr,
	})
	if err != nil {
		return err
	}
	defer l.Close()
	printListeners(stdout, l)
	if *consoleAddr != "off" {
		c, err := console.Start(console.Config{Lab: l.Remote}, *consoleAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		fmt.Fprintf(stdout, "console on %s\n", c.URL())
	}
	abs, _ := filepath.Abs(*dataDir)
	fmt.Fprintf(stdout, "data and logs in %s\n", abs)
	fmt.Fprintf(stdout, "faultlab ready: gateway at %s (Ctrl-C to stop)\n", *publicURL)
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "faultlab: stopping")
	case err := <-l.Err():
		return fmt.Errorf("a service stopped: %w", err)
	}
	return l.Close()
}

// printListeners lists where each service, replica, hop and API of a
// running lab listens.
func printListeners(stdout io.Writer, l *lab.Lab) {
	for _, name := range shop.Services {
		role := "internal"
		if name == topology.Gateway {
			role = "public"
		}
		fmt.Fprintf(stdout, "%-8s listening on http://%s (%s)\n", name, l.Addrs[name], role)
		if addrs := l.ReplicaAddrs(name); len(addrs) > 1 {
			for n, a := range addrs {
				fmt.Fprintf(stdout, "  replica %s on http://%s\n", topology.ReplicaName(name, n+1), a)
			}
		}
	}
	fmt.Fprintf(stdout, "admin API on http://%s\n", l.AdminAddr)
	fmt.Fprintf(stdout, "toxiproxy API on %s\n", l.Toxi.URL())
	hops := make([]string, 0, len(l.Proxies))
	for h := range l.Proxies {
		hops = append(hops, h)
	}
	sort.Strings(hops)
	for _, h := range hops {
		fmt.Fprintf(stdout, "  hop %-20s %s\n", h, l.Proxies[h])
	}
}
