package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

const faultUsage = "fault: want set <service> [flags], list <service> or clear <service> [name]"

// faultTarget parses the flags shared by every fault subcommand and the
// service argument, which may come before or after the flags.
func faultTarget(fs interface {
	String(name, value, usage string) *string
}) (url, key *string) {
	url = fs.String("url", "", "the service's base URL; default its loopback port")
	key = fs.String("service-key", lab.DefaultServiceKey, "the services' shared secret (X-Service-Key)")
	return url, key
}

func runFault(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return usagef(faultUsage)
	}
	sub := args[0]
	if sub != "set" && sub != "list" && sub != "clear" {
		return usagef("fault: unknown subcommand %q: want set, list or clear", sub)
	}
	fs := newFlagSet("fault "+sub, stderr)
	url, key := faultTarget(fs)
	var set *faultSetFlags
	if sub == "set" {
		set = addFaultSetFlags(fs)
	}
	pos, err := parseInterspersed(fs, args[1:])
	if err != nil {
		return err
	}
	if err := envDefaults(fs, getenv); err != nil {
		return err
	}
	if len(pos) == 0 {
		return usagef("fault %s: which service? one of %s", sub, strings.Join(faultServices(), ", "))
	}
	service := pos[0]
	base := *url
	if base == "" {
		listen, ok := shop.DefaultListen[service]
		if !ok || service == topology.Gateway {
			return usagef("fault %s: unknown service %q: want one of %s", sub, service, strings.Join(faultServices(), ", "))
		}
		base = "http://" + loopbackFor(listen)
	}
	c := &fault.Client{BaseURL: strings.TrimRight(base, "/"), ServiceKey: *key, HTTP: plainClient()}
	switch sub {
	case "set":
		return faultSet(ctx, stdout, c, service, pos, set)
	case "list":
		return faultList(ctx, stdout, c, service, pos)
	default:
		return faultClear(ctx, stdout, c, service, pos)
	}
}

// faultSetFlags are the flags of `fault set`.
type faultSetFlags struct {
	f          fault.Fault
	retryAfter int
	bps        int
	delay      time.Duration
}

func addFaultSetFlags(fs *flag.FlagSet) *faultSetFlags {
	v := &faultSetFlags{}
	fs.StringVar(&v.f.Name, "name", "", "the fault's name; default <kind>-<status>")
	fs.StringVar(&v.f.Kind, "kind", fault.KindStatus, "status, delay or slow_body")
	fs.IntVar(&v.f.Status, "status", 503, "status answered by a status fault")
	fs.IntVar(&v.retryAfter, "retry-after", 0, "Retry-After seconds sent by a status fault")
	fs.Float64Var(&v.f.Probability, "probability", 1, "probability in (0, 1] that a request gets the fault")
	fs.StringVar(&v.f.PathPrefix, "path-prefix", "", "only paths starting with this")
	fs.DurationVar(&v.delay, "delay", 0, "delay of a delay fault, e.g. 500ms")
	fs.IntVar(&v.bps, "bytes-per-second", 0, "rate of a slow_body fault")
	return v
}

// value returns the fault the flags describe, its name defaulted.
func (v *faultSetFlags) value() fault.Fault {
	f := v.f
	f.RetryAfter, f.Delay, f.BytesPerSecond = v.retryAfter, v.delay, v.bps
	if f.Kind != fault.KindStatus {
		f.Status, f.RetryAfter = 0, 0
	}
	if f.Name == "" {
		f.Name = f.Kind
		if f.Kind == fault.KindStatus {
			f.Name = fmt.Sprintf("status-%d", f.Status)
		}
	}
	return f
}

func faultSet(ctx context.Context, stdout io.Writer, c *fault.Client, service string, pos []string, v *faultSetFlags) error {
	if len(pos) > 1 {
		return usagef("fault set: unexpected argument %q", pos[1])
	}
	f := v.value()
	if err := f.Validate(); err != nil {
		return usagef("fault set: %v", err)
	}
	if err := c.Set(ctx, f); err != nil {
		return fmt.Errorf("fault set on %s: %w", service, err)
	}
	fmt.Fprintf(stdout, "%s: set %s\n", service, f.Name)
	return nil
}

func faultList(ctx context.Context, stdout io.Writer, c *fault.Client, service string, pos []string) error {
	if len(pos) > 1 {
		return usagef("fault list: unexpected argument %q", pos[1])
	}
	fsList, err := c.List(ctx)
	if err != nil {
		return fmt.Errorf("fault list on %s: %w", service, err)
	}
	return printFaults(stdout, fsList)
}

func faultClear(ctx context.Context, stdout io.Writer, c *fault.Client, service string, pos []string) error {
	if len(pos) > 2 {
		return usagef("fault clear: unexpected argument %q", pos[2])
	}
	if len(pos) == 2 {
		if err := c.Remove(ctx, pos[1]); err != nil {
			return fmt.Errorf("fault clear on %s: %w", service, err)
		}
		fmt.Fprintf(stdout, "%s: removed %s\n", service, pos[1])
		return nil
	}
	if err := c.Clear(ctx); err != nil {
		return fmt.Errorf("fault clear on %s: %w", service, err)
	}
	fmt.Fprintf(stdout, "%s: cleared every fault\n", service)
	return nil
}

// parseInterspersed parses flags that may come before, between or after
// the positional arguments, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos, args = append(pos, args[0]), args[1:]
	}
}

func faultServices() []string {
	var out []string
	for _, s := range shop.Services {
		if s != topology.Gateway {
			out = append(out, s)
		}
	}
	return out
}

func printFaults(w io.Writer, fs []fault.Fault) error {
	if len(fs) == 0 {
		_, err := fmt.Fprintln(w, "no faults")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFAULT\tJSON")
	for _, f := range fs {
		b, _ := json.Marshal(f)
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, f.String(), b)
	}
	return tw.Flush()
}
