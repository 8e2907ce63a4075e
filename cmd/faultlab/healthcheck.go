package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/faultlab/faultlab/topology"
	"github.com/hashicorp/go-retryablehttp"
)

func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := newFlagSet("healthcheck", stderr)
	def := topology.DefaultURL(topology.Gateway) + "/healthz"
	if l := getenv("FAULTLAB_LISTEN"); l != "" {
		def = "http://" + loopbackFor(l) + "/healthz"
	}
	url := fs.String("url", def, "URL that must answer 200")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer, retries included")
	retries := fs.Int("retries", 2, "retries on a connection error or a 5xx (a service that is just starting)")
	if err := parse(fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *retries < 0 {
		return usagef("--retries must be 0 or more, not %d", *retries)
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("bad --url %q: %v", *url, err)
	}
	// A health probe from outside the lab, not a call between services:
	// go-retryablehttp's default policy (connection errors and 5xx, with
	// backoff) is what a probe of a starting service wants.
	rc := retryablehttp.NewClient()
	rc.HTTPClient = plainClient()
	rc.RetryMax = *retries
	rc.RetryWaitMin, rc.RetryWaitMax = 100*time.Millisecond, 500*time.Millisecond
	rc.Logger = nil
	rc.ErrorHandler = retryablehttp.PassthroughErrorHandler
	resp, err := rc.Do(req)
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
