package proc_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/proc"
)

// start runs a shell that does what script says, waits for its first
// line of output (the script is ready), and returns it with the channel
// that closes once it has been reaped.
func start(t *testing.T, script string) (*exec.Cmd, <-chan struct{}) {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sh: %v", err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("sh said nothing: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	return cmd, done
}

// TestStop: a process that heeds the signal ends by it; one that ignores
// it is killed after the grace period; one that has exited is left alone.
func TestStop(t *testing.T) {
	cmd, done := start(t, "echo ready; exec sleep 60")
	proc.Stop(cmd.Process, done, syscall.SIGTERM, time.Minute)
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGTERM {
		t.Fatalf("heeding process ended by %v, want SIGTERM", ws)
	}

	cmd, done = start(t, `trap "" TERM; echo ready; while :; do sleep 0.05; done`)
	proc.Stop(cmd.Process, done, syscall.SIGTERM, 300*time.Millisecond)
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); ws.Signal() != syscall.SIGKILL {
		t.Fatalf("ignoring process ended by %v, want SIGKILL", ws)
	}

	cmd, done = start(t, "echo bye")
	<-done
	proc.Stop(cmd.Process, done, os.Interrupt, time.Minute) // returns at once
}

// TestWaitHTTP: 200 after two 503s is ready; an exited process is
// ErrExited with what it delivered; a context that ends is its error.
func TestWaitHTTP(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := proc.WaitHTTP(ctx, srv.URL, time.Millisecond, make(chan struct{})); err != nil || calls.Load() != 3 {
		t.Fatalf("ready: %v after %d calls", err, calls.Load())
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	exited := make(chan error, 1)
	exited <- errors.New("exit status 1")
	if got, err := proc.WaitHTTP(ctx, down.URL, time.Millisecond, exited); !errors.Is(err, proc.ErrExited) || got == nil {
		t.Fatalf("exited: %v, %v", got, err)
	}
	short, cancelShort := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancelShort()
	if _, err := proc.WaitHTTP(short, down.URL, time.Millisecond, make(chan struct{})); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
}
