package proc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"time"
)

// Stop ends the process p, whose done channel closes once it has been
// reaped (by a goroutine that waits for it): it sends sig, kills p if done
// has not closed within grace, and returns once done is closed. A process
// that has exited already is sent nothing.
func Stop(p *os.Process, done <-chan struct{}, sig os.Signal, grace time.Duration) {
	select {
	case <-done:
		return
	default:
	}
	_ = p.Signal(sig)
	select {
	case <-done:
	case <-time.After(grace):
		_ = p.Kill()
		<-done
	}
}

// ErrExited is WaitHTTP's error when the process ended before it was
// ready.
var ErrExited = errors.New("exited before it was ready")

// WaitHTTP polls url every interval until it answers 200 OK. It fails
// with ErrExited, returning what exited delivered, once the process ends
// (a value on exited, or exited closed), and with ctx's error once ctx
// ends. Each poll gives up after a second.
func WaitHTTP[T any](ctx context.Context, url string, every time.Duration, exited <-chan T) (T, error) {
	var zero T
	hc := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return zero, err
		}
		if resp, err := hc.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return zero, nil
			}
		}
		select {
		case v := <-exited:
			return v, ErrExited
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-tick.C:
		}
	}
}
