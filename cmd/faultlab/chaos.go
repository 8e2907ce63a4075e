package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/soak"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usagef("chaos: want list, show, run, validate, schema, compare or soak")
	}
	switch args[0] {
	case "list":
		return runChaosList(args[1:], stdout)
	case "run":
		return runChaosRun(ctx, args[1:], stdout, stderr, getenv)
	case "soak":
		return runChaosSoak(ctx, args[1:], stdout, stderr, getenv)
	case "validate":
		return runChaosValidate(args[1:], stdout)
	case "schema":
		return runChaosSchema(args[1:], stdout)
	case "show":
		return runChaosShow(args[1:], stdout)
	case "compare":
		return runChaosCompare(ctx, args[1:], stdout, stderr)
	}
	return usagef("chaos: unknown subcommand %q: want list, show, run, validate, schema, compare or soak", args[0])
}

func runChaosList(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("chaos list takes no arguments, got %q", args[0])
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSHORT\tDESCRIPTION")
	for _, sc := range chaos.Catalogue() {
		short := ""
		if sc.Short {
			short = "short"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", sc.Name, short, sc.Description)
	}
	return tw.Flush()
}

func scenarioNames() string {
	var names []string
	for _, sc := range chaos.Catalogue() {
		names = append(names, sc.Name)
	}
	return strings.Join(names, ", ")
}

// labFlags are the addresses of a running lab.
type labFlags struct {
	urls       map[string]*string
	toxiproxy  *string
	serviceKey *string
	logs       *string
	prometheus *string
	admin      *string
}

func addLabFlags(fs interface {
	String(name, value, usage string) *string
}) *labFlags {
	lf := &labFlags{urls: map[string]*string{}}
	for _, name := range shop.Services {
		lf.urls[name] = fs.String(name, "http://"+loopbackFor(shop.DefaultListen[name]), name+" base URL")
	}
	lf.toxiproxy = fs.String("toxiproxy", topology.ToxiproxyURL(), "Toxiproxy API URL; empty: no toxic faults")
	lf.serviceKey = fs.String("service-key", lab.DefaultServiceKey, "the services' shared secret (X-Service-Key)")
	lf.logs = fs.String("logs", "./var/logs", "directory of the services' <service>.log files; empty: no log checks")
	lf.prometheus = fs.String("prometheus", "", "Prometheus URL for alert checks; empty: skipped")
	lf.admin = fs.String("admin-url", topology.AdminURL(), "the admin API of faultlab up, for replica faults and HTTP faults on every replica; used only if it serves the lab at the URLs given; empty: none")
	return lf
}

// remote is the running lab. With an admin API that answers for the lab at
// the URLs given, replica faults go through it and HTTP faults go to every
// replica it lists; otherwise (compose, a lab without an admin API, or
// another lab's) HTTP faults go to the URLs given and replica faults are
// not supported.
func (lf *labFlags) remote(ctx context.Context) *lab.Remote {
	urls := map[string]string{}
	for n, u := range lf.urls {
		urls[n] = strings.TrimRight(*u, "/")
	}
	cfg := lab.RemoteConfig{URLs: urls, ToxiproxyURL: *lf.toxiproxy, ServiceKey: *lf.serviceKey,
		LogDir: *lf.logs, PrometheusURL: *lf.prometheus}
	if *lf.admin != "" {
		admin := &lab.AdminClient{URL: *lf.admin, ServiceKey: cfg.ServiceKey, HTTP: plainClient()}
		lctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		replicas, err := admin.List(lctx)
		cancel()
		if err == nil && sameLab(replicas, urls) {
			cfg.AdminURL, cfg.Replicas = *lf.admin, replicas
		}
	}
	return lab.NewRemote(cfg)
}

// sameLab tells whether an admin API's replica list is of the lab at urls:
// replica 1 of every service it lists is at that service's URL.
func sameLab(replicas map[string][]string, urls map[string]string) bool {
	if len(replicas) == 0 {
		return false
	}
	for name, rs := range replicas {
		if len(rs) == 0 || strings.TrimRight(rs[0], "/") != urls[name] {
			return false
		}
	}
	return true
}

func runChaosRun(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("chaos run", stderr)
	lf := addLabFlags(fs)
	out := fs.String("out", "./reports", "directory for the Markdown and HTML reports")
	steady := fs.Duration("steady", 2*time.Second, "length of the steady-state probes before and after; 0: none")
	recovery := fs.Duration("recovery", lab.ScenarioPolicy.BreakerOpenTimeout, "pause between the end of the faults' load and the after probe: a breaker that opened stays open this long (faultlab up's policy) before its half-open probe")
	file := fs.String("f", "", "run the experiment file `FILE` (YAML or JSON; see faultlab chaos schema) instead of a built-in scenario")
	orders := fs.Int("orders", 0, "stretch the scenario's load and fault schedule to send about this many orders (e.g. compound-faults --orders 1000); 0: as written")
	faults := fs.String("faults", "lab", "who injects the faults: lab (this command, through Toxiproxy and the services' fault endpoints) or external (e.g. a Chaos Mesh Workflow from deploy/k8s/chaos-mesh; only the load and the checks run)")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if err := envDefaults(fs, getenv); err != nil {
		return err
	}
	var name string
	if len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 {
		return usagef("chaos run: unexpected argument %q", rest[0])
	}
	sc, err := scenarioArg("chaos run", *file, name, true)
	if err != nil {
		return err
	}
	if *orders < 0 {
		return usagef("chaos run: --orders must not be negative")
	}
	if *orders > 0 {
		if sc, err = chaos.ScaleToOrders(sc, *orders); err != nil {
			return usagef("chaos run: --orders: %v", err)
		}
	}
	if *steady <= 0 {
		*steady = -1 // Options treats 0 as the default; 0 on the command line means none
	}
	if *recovery < 0 {
		return usagef("chaos run: --recovery must not be negative")
	}
	if err := oneOf(*faults, "lab", "external"); err != nil {
		return usagef("chaos run: --faults: %v", err)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("chaos run: %w", err)
	}
	var env chaos.Env = lf.remote(ctx)
	if *faults == "external" {
		env = chaos.ExternalFaults(env)
	}
	fmt.Fprintf(stderr, "chaos: %s against %s (faults: %s)\n", sc.Name, env.GatewayURL(), *faults)
	res, err := chaos.Run(ctx, env, sc, chaos.Options{Progress: stderr, SteadyState: *steady, Recovery: *recovery})
	if err != nil {
		return fmt.Errorf("chaos run %s: %w", sc.Name, err)
	}
	base := filepath.Join(*out, fmt.Sprintf("%s-%s", sc.Name, res.Started.UTC().Format("20060102T150405Z")))
	md, html := base+".md", base+".html"
	if err := writeFile(md, func(w io.Writer) error { return chaos.WriteMarkdown(w, res) }); err != nil {
		return err
	}
	if err := writeFile(html, func(w io.Writer) error { return chaos.WriteHTML(w, res) }); err != nil {
		return err
	}
	printVerdicts(stdout, res)
	if res.History != nil {
		fmt.Fprintln(stdout, res.History.String())
	}
	fmt.Fprintf(stdout, "report: %s\nreport: %s\n", md, html)
	if res.Aborted != "" {
		return fmt.Errorf("scenario %s failed: aborted: %s", sc.Name, res.Aborted)
	}
	if !res.Passed() {
		pass, fail, _ := res.Counts()
		return fmt.Errorf("scenario %s failed: %d of %d checks", sc.Name, fail, pass+fail)
	}
	return nil
}

func printVerdicts(w io.Writer, r *chaos.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tPHASE\tCHECK\tMEASURED\tWANT")
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Word(), v.Phase, v.Check, v.Measured, v.Want)
	}
	_ = tw.Flush()
	pass, fail, skip := r.Counts()
	fmt.Fprintf(w, "%s: %s (%d passed, %d failed, %d skipped)\n", r.Scenario.Name, r.Status(), pass, fail, skip)
}

// writeFile writes path through fn, reporting the first error.
func writeFile(path string, fn func(io.Writer) error) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write report: %w", cerr)
		}
	}()
	if err := fn(f); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

var errSoakFailed = errors.New("soak failed")

func runChaosSoak(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("chaos soak", stderr)
	d := fs.Duration("duration", time.Minute, "how long the load and the fault rotation run")
	rps := fs.Float64("rps", 50, "open-loop request rate")
	seed := fs.Uint64("seed", 1, "seed of the fault schedule (same seed, same plan)")
	slot := fs.Duration("slot", 4*time.Second, "how long each set of faults lasts")
	settle := fs.Duration("settle", 30*time.Second, "how long pending orders may take to settle after the faults")
	if err := parseNoArgs(fs, args, getenv); err != nil {
		return err
	}
	if *d <= 0 || *rps <= 0 || *slot <= 0 || *settle <= 0 {
		return usagef("chaos soak: --duration, --rps, --slot and --settle must be positive")
	}
	fmt.Fprintf(stderr, "soak: in-process lab, %s at %.0f rps, seed %d\n", *d, *rps, *seed)
	rep, err := soak.Run(ctx, soak.Config{Duration: *d, Rate: *rps, Seed: *seed, Slot: *slot, Settle: *settle, Progress: stderr})
	if rep != nil {
		if werr := soak.WriteText(stdout, rep); werr != nil && err == nil {
			err = werr
		}
	}
	if err != nil {
		return err
	}
	if !rep.Passed() {
		return fmt.Errorf("%w: %s", errSoakFailed, strings.Join(rep.Failed(), "; "))
	}
	return nil
}
