package main

import (
	"context"
	"fmt"
	"io"

	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/topology"
)

// replicaCommand returns the run of `faultlab kill|drain|restart
// <service>-<n>`: one call to a running `faultlab up`'s admin API.
func replicaCommand(action string) func(context.Context, []string, io.Writer, io.Writer, func(string) string) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
		fs := newFlagSet(action, stderr)
		adminURL := fs.String("admin-url", topology.AdminURL(), "the admin API of a running faultlab up")
		key := fs.String("service-key", lab.DefaultServiceKey, "the services' shared secret (X-Service-Key)")
		var name string
		if len(args) > 0 && args[0] != "" && args[0][0] != '-' {
			name, args = args[0], args[1:]
		}
		if err := parseWithEnv(fs, args, getenv); err != nil {
			return err
		}
		if name == "" && fs.NArg() == 1 {
			name = fs.Arg(0)
		} else if fs.NArg() > 0 || name == "" {
			return usagef("%s: want one replica, e.g. %s payment-2", action, action)
		}
		if _, _, err := topology.ParseReplica(name); err != nil {
			return usagef("%s: %v", action, err)
		}
		c := &lab.AdminClient{URL: *adminURL, ServiceKey: *key, HTTP: plainClient()}
		do := map[string]func(context.Context, string) error{"kill": c.Kill, "drain": c.Drain, "restart": c.Restart}[action]
		if err := do(ctx, name); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s done\n", name, action)
		return nil
	}
}
