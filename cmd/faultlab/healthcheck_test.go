package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestHealthcheck: a service that answers 503 while starting is retried; a
// probe without retries reports it; bad flags are one-line errors.
func TestHealthcheck(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	env := func(string) string { return "" }
	var out, errOut bytes.Buffer

	if err := run(context.Background(), []string{"healthcheck", "--url", srv.URL + "/healthz", "--retries", "2"}, &out, &errOut, env); err != nil {
		t.Fatalf("with retries: %v", err)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("calls = %d, want 2 (one 503, one 200)", got)
	}

	calls.Store(0)
	err := run(context.Background(), []string{"healthcheck", "--url", srv.URL + "/healthz", "--retries", "0"}, &out, &errOut, env)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("without retries: err = %v, want status 503", err)
	}

	for _, args := range [][]string{{"healthcheck", "--retries", "-1"}, {"healthcheck", "--url", "::"}, {"healthcheck", "--bogus"}} {
		err := run(context.Background(), args, &out, &errOut, env)
		if err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want a one-line error", args, err)
		}
	}
}
