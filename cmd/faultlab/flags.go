package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/faultlab/faultlab/internal/httpclient"
)

func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// parse parses flags, turning flag errors into one-line usage errors.
func parse(fs *flag.FlagSet, args []string) error {
	out := fs.Output()
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// -h asked for the flags: show them where they were meant to go.
			fs.SetOutput(out)
			fmt.Fprintf(out, "usage of faultlab %s:\n", fs.Name())
			fs.PrintDefaults()
			return flag.ErrHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

// parseWithEnv parses flags, then fills the ones not given from the
// environment (envDefaults).
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := parse(fs, args); err != nil {
		return err
	}
	return envDefaults(fs, getenv)
}

// parseNoArgs is parseWithEnv for a command that takes no positional
// arguments.
func parseNoArgs(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	if err := parseWithEnv(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("%s takes no arguments, got %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// envDefaults sets every flag not given on the command line from
// FAULTLAB_<FLAG> in the environment (dashes become underscores).
func envDefaults(fs *flag.FlagSet, getenv func(string) string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || err != nil {
			return
		}
		key := "FAULTLAB_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(key); v != "" {
			if e := f.Value.Set(v); e != nil {
				err = usagef("%s=%q: %v", key, v, e)
			}
		}
	})
	return err
}

// loopbackFor turns a listen address like ":8080" or "0.0.0.0:8080" into
// one a local client can dial.
func loopbackFor(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return listen
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func oneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
}

func plainClient() *http.Client { return httpclient.Plain(0) }
