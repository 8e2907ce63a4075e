package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("healthcheck", stderr)
	def := "http://127.0.0.1:8080/healthz"
	if l := getenv("FAULTLAB_LISTEN"); l != "" {
		def = "http://" + loopbackFor(l) + "/healthz"
	}
	url := fs.String("url", def, "URL that must answer 200")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("bad --url %q: %v", *url, err)
	}
	resp, err := plainClient().Do(req)
	if err != nil {
		return fmt.Errorf("health check %s: %w", *url, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health check %s: status %d", *url, resp.StatusCode)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
