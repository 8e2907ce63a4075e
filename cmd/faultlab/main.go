// Command faultlab runs the fault-tolerance lab: the five services, the
// chaos scenarios, the load generator and the incident timeline.
//
//	faultlab up                      all five services on loopback, every hop through Toxiproxy
//	faultlab serve <service>         one service (what containers run)
//	faultlab healthcheck [--url U]   exit 0 if U answers 200 (for FROM scratch images)
//	faultlab chaos list|run|soak     scenarios against a running lab
//	faultlab load                    load against the gateway
//	faultlab bench-gateway           gateway vs a plain httputil.ReverseProxy
//	faultlab fault set|list|clear    HTTP-level faults on a service
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

const usage = `usage: faultlab <command> [flags]

commands:
  up                      run all five services on loopback, every hop through Toxiproxy
  serve <service>         run one service: user, product, order, payment or gateway
  healthcheck [--url U]   exit 0 if U answers 200
  chaos list              list the chaos scenarios
  chaos run <name>        run a scenario against a running lab and write a report
  chaos soak              rotate faults on every hop under load and check invariants
  load                    generate load against the gateway
  bench-gateway           the gateway vs a plain reverse proxy to the same product service
  fault set|list|clear    HTTP-level faults on a service
  incident <trace-id>     print one request's path across services
  version                 print the version
`

// Version is set at build time with -ldflags "-X main.Version=...".
var Version = "dev"

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "up":
		return runUp(ctx, rest, stdout, stderr, getenv)
	case "serve":
		return runServe(ctx, rest, stdout, stderr, getenv)
	case "healthcheck":
		return runHealthcheck(ctx, rest, stdout, stderr, getenv)
	case "version", "--version":
		fmt.Fprintln(stdout, "faultlab", Version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		if h, ok := extraCommands[cmd]; ok {
			return h(ctx, rest, stdout, stderr, getenv)
		}
		return usagef("unknown command %q (run 'faultlab help')", cmd)
	}
}

type command func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error

// extraCommands are registered by the files that implement them.
var extraCommands = map[string]command{}
