package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/baseline"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// runBenchGateway is `load --compare`.
func runBenchGateway(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	return runLoad(ctx, append([]string{"--compare"}, args...), stdout, stderr, getenv)
}

func runLoad(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("load", stderr)
	gateway := fs.String("gateway", topology.DefaultURL(topology.Gateway), "the gateway's base URL")
	rate := fs.Float64("rate", 0, "open-loop requests per second; 0: closed loop (max rps). --compare: default 1000")
	duration := fs.Duration("duration", 10*time.Second, "how long to send load. --compare: each of the four runs, default 5s")
	concurrency := fs.Int("concurrency", 16, "requests in flight at most. --compare: closed-loop concurrency, default 32")
	mixFlag := fs.String("mix", "list_products=3,get_product=1", "weighted calls: list_products, get_product, create_order")
	token := fs.String("token", "", "bearer token; empty: log in with --login")
	login := fs.String("login", user.DemoCustomerEmail+":"+user.DemoCustomerPassword, "email:password to log in with when there is no --token")
	compare := fs.Bool("compare", false, "measure the gateway against a plain ReverseProxy, in process on ephemeral ports")
	if err := parseNoArgs(fs, args, getenv); err != nil {
		return err
	}
	if *rate < 0 || *duration <= 0 || *concurrency <= 0 {
		return usagef("load: --rate must not be negative, --duration and --concurrency must be positive")
	}
	email, password, ok := strings.Cut(*login, ":")
	if *token == "" && (!ok || email == "") {
		return usagef("load: --login %q: want email:password", *login)
	}
	if *compare {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		cfg := baseline.Config{Concurrency: 32, Rate: 1000, Closed: 5 * time.Second, Open: 5 * time.Second, Progress: stderr}
		if set["duration"] {
			cfg.Closed, cfg.Open = *duration, *duration
		}
		if set["concurrency"] {
			cfg.Concurrency = *concurrency
		}
		if set["rate"] && *rate > 0 {
			cfg.Rate = *rate
		}
		return runCompare(ctx, cfg, stdout)
	}
	mix, err := parseMix(*mixFlag)
	if err != nil {
		return usagef("load: --mix: %v", err)
	}
	hc := plainClient()
	base := strings.TrimRight(*gateway, "/")
	if *token == "" {
		*token, err = lab.Login(ctx, hc, base, email, password)
		if err != nil {
			return err
		}
	}
	calls, err := buildCalls(ctx, hc, base, *token, mix)
	if err != nil {
		return err
	}
	mode := "closed loop"
	if *rate > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s", *rate)
	}
	fmt.Fprintf(stderr, "load: %s against %s for %s, concurrency %d\n", mode, base, *duration, *concurrency)
	rep, err := load.Run(ctx, load.Config{Rate: *rate, Duration: *duration, Concurrency: *concurrency, Mix: calls})
	if err != nil {
		return usagef("load: %v", err)
	}
	return printLoad(stdout, rep)
}

func runCompare(ctx context.Context, cfg baseline.Config, stdout io.Writer) error {
	dir, err := os.MkdirTemp("", "faultlab-bench-")
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	l, err := lab.Start(ctx, lab.Config{Ephemeral: true, DataDir: dir})
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer l.Close()
	if cfg.Token, err = l.Token(ctx); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	cfg.Keys = l.Keys
	cfg.URLs = map[string]string{}
	for n, a := range l.Addrs {
		cfg.URLs[n] = "http://" + a
	}
	cmp, err := baseline.Compare(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "GET %s with a bearer token: gateway (all policies) vs httputil.ReverseProxy, both straight to product\n", baseline.Path)
	return baseline.WriteTable(stdout, cmp)
}

var knownCalls = []string{chaos.CallListProducts, chaos.CallGetProduct, chaos.CallCreateOrder}

func parseMix(s string) ([]chaos.MixEntry, error) {
	var out []chaos.MixEntry
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		weight := 1
		if ok {
			n, err := strconv.Atoi(w)
			if err != nil || n <= 0 {
				return nil, fmt.Errorf("%q: the weight must be a positive integer", part)
			}
			weight = n
		}
		known := false
		for _, k := range knownCalls {
			known = known || k == name
		}
		if !known {
			return nil, fmt.Errorf("unknown call %q: want %s", name, strings.Join(knownCalls, ", "))
		}
		if seen[name] {
			return nil, fmt.Errorf("call %q given twice", name)
		}
		seen[name] = true
		out = append(out, chaos.MixEntry{Call: name, Weight: weight})
	}
	if len(out) == 0 {
		return nil, errors.New("no calls")
	}
	return out, nil
}

// buildCalls reads the catalogue (for product ids) and returns the calls.
func buildCalls(ctx context.Context, hc *http.Client, base, token string, mix []chaos.MixEntry) ([]load.Call, error) {
	var next atomic.Uint64
	w := &chaos.Workload{Gateway: base, Token: token,
		Key: func() string { return fmt.Sprintf("load-%d-%d", time.Now().UnixNano(), next.Add(1)) }}
	if err := w.Setup(ctx, hc, false); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return w.Calls(mix)
}

func printLoad(w io.Writer, r *load.Report) error {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(w, "requests  %d in %s: %.1f rps achieved, %.2f%% ok, %d dropped\n", r.Total, r.Elapsed.Round(time.Millisecond), r.RPS, 100*r.SuccessRate(), r.Dropped)
	fmt.Fprintf(w, "latency   p50 %s  p90 %s  p99 %s  max %s\n", ms(r.Latency.P50), ms(r.Latency.P90), ms(r.Latency.P99), ms(r.Latency.Max))
	fmt.Fprintf(w, "status    %s\n", statusCounts(r.Status))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CALL\tREQUESTS\tOK\tP50\tP99\tSTATUS")
	for _, c := range r.Calls {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", c.Name, c.Total, c.Successes, ms(c.Latency.P50), ms(c.Latency.P99), statusCounts(c.Status))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range r.Failures[:min(len(r.Failures), 5)] {
		fmt.Fprintf(w, "failed    %s status %d trace %s %s\n", f.Call, f.Status, f.TraceID, f.Error)
	}
	return nil
}

func statusCounts(m map[int]int) string {
	parts := make([]string, 0, len(m))
	for _, c := range slices.Sorted(maps.Keys(m)) {
		label := strconv.Itoa(c)
		if c == 0 {
			label = "error"
		}
		parts = append(parts, fmt.Sprintf("%s=%d", label, m[c]))
	}
	return strings.Join(parts, " ")
}
