// Command faultlab runs the fault-tolerance lab: the five services, the
// chaos scenarios, the load generator and the incident timeline.
//
//	faultlab up                      all five services on loopback, every hop through Toxiproxy
//	faultlab serve <service>         one service (what containers run)
//	faultlab healthcheck [--url U]   exit 0 if U answers 200 (for FROM scratch images)
//	faultlab chaos list|show|run|validate|schema|compare|soak   scenarios and policy comparisons
//	faultlab load                    load against the gateway
//	faultlab bench-gateway           gateway vs a plain httputil.ReverseProxy
//	faultlab fault set|list|clear    HTTP-level faults on a service
//	faultlab kill|drain|restart <service>-<n>   stop or start one replica of a running faultlab up
//	faultlab incident <trace-id>     one request's path across services
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "faultlab:", err)
		os.Exit(1)
	}
}

// usageError is a command-line mistake: printed as one line, exit status 1.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// runFunc runs one command with the arguments after its name.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error

// command is one row of the command table.
type command struct {
	name    string
	aliases []string
	// usage is the command's lines in the usage text, each what to type, a
	// tab, then what it does. A command without usage is not listed.
	usage string
	run   runFunc
}

// commands is the one command table: run dispatches on it and usageText
// lists it, in this order. It is a function, not a variable, because help
// prints the text the table makes.
func commands() []command {
	return []command{
		{name: "up", run: runUp, usage: "up\trun all five services on loopback, every hop through Toxiproxy"},
		{name: "serve", run: runServe, usage: "serve <service>\trun one service: user, product, order, payment or gateway"},
		{name: "healthcheck", run: runHealthcheck, usage: "healthcheck [--url U]\texit 0 if U answers 200"},
		{name: "chaos", run: runChaos, usage: "chaos list\tlist the chaos scenarios\n" +
			"chaos run <name>|-f F\trun a scenario (or experiment file F) against a running lab and write a report\n" +
			"chaos show <name>\tprint a built-in scenario's experiment file, to start your own from\n" +
			"chaos validate FILE…\tcheck experiment files (YAML or JSON) without running them\n" +
			"chaos schema\tprint the experiment files' JSON Schema\n" +
			"chaos compare <name|F> --variant up:k=v …\trun a scenario under the default policy and each variant; a side-by-side report\n" +
			"chaos soak\trotate faults on every hop under load and check invariants"},
		{name: "load", run: runLoad, usage: "load\tgenerate load against the gateway"},
		{name: "bench-gateway", run: runBenchGateway, usage: "bench-gateway\tthe gateway vs a plain reverse proxy to the same product service"},
		{name: "kill", run: replicaCommand("kill"), usage: "kill <service>-<n>\tstop one replica of a running faultlab up at once, like SIGKILL"},
		{name: "drain", run: replicaCommand("drain"), usage: "drain <service>-<n>\tstop one replica gracefully"},
		{name: "restart", run: replicaCommand("restart"), usage: "restart <service>-<n>\tstart a stopped replica again on its address"},
		{name: "fault", run: runFault, usage: "fault set|list|clear\tHTTP-level faults on a service"},
		{name: "incident", run: runIncident, usage: "incident <trace-id>\tprint one request's path across services"},
		{name: "version", aliases: []string{"--version"}, run: runVersion, usage: "version\tprint the version"},
		{name: "help", aliases: []string{"-h", "--help"}, run: runHelp},
	}
}

// usageText is the usage the table makes.
func usageText() string {
	var b strings.Builder
	b.WriteString("usage: faultlab <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		if c.usage == "" {
			continue
		}
		for line := range strings.Lines(c.usage) {
			synopsis, what, _ := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
			fmt.Fprintf(&b, "  %-24s%s\n", synopsis, what)
		}
	}
	return b.String()
}

// lookup returns the command named name (or one of its aliases).
func lookup(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name || slices.Contains(c.aliases, name) {
			return c, true
		}
	}
	return command{}, false
}

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText())
		return usagef("no command given")
	}
	c, ok := lookup(args[0])
	if !ok {
		return usagef("unknown command %q (run 'faultlab help')", args[0])
	}
	return c.run(ctx, args[1:], stdout, stderr, getenv)
}

func runVersion(_ context.Context, _ []string, stdout, _ io.Writer, _ func(string) string) error {
	fmt.Fprintln(stdout, "faultlab", Version)
	return nil
}

func runHelp(_ context.Context, _ []string, stdout, _ io.Writer, _ func(string) string) error {
	fmt.Fprint(stdout, usageText())
	return nil
}
