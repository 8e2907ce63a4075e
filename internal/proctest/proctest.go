package proctest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/proc"
)

// StopTimeout is how long Start waits for a process to exit after its
// stop signal before it kills it.
const StopTimeout = 10 * time.Second

// LogTail is how much of a failed test's process output Start logs.
const LogTail = 4000

// FreePorts returns n distinct loopback ports that were free a moment ago.
// It holds every listener until all n are chosen: closing each one before
// opening the next lets the kernel hand out the same port twice.
func FreePorts(tb testing.TB, n int) []string {
	tb.Helper()
	ports := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close()
		_, port, _ := net.SplitHostPort(ln.Addr().String())
		ports = append(ports, port)
	}
	return ports
}

// FreeAddrs is FreePorts as loopback addresses (127.0.0.1:port).
func FreeAddrs(tb testing.TB, n int) []string {
	tb.Helper()
	addrs := FreePorts(tb, n)
	for i, p := range addrs {
		addrs[i] = net.JoinHostPort("127.0.0.1", p)
	}
	return addrs
}

// Eventually calls fn every interval until it returns nil, and fails the
// test with fn's last error once within has passed.
func Eventually(tb testing.TB, what string, within, every time.Duration, fn func() error) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %s: %v", what, within, err)
		}
		time.Sleep(every) // polling interval, not a wait for state
	}
}

// Start runs cmd, its output going to a file, until the test ends; then it
// sends stop, kills the process if it has not exited within StopTimeout,
// and logs the last LogTail bytes of its output if the test failed. The
// returned channel closes when the process has exited, whenever that is.
func Start(tb testing.TB, name string, cmd *exec.Cmd, stop os.Signal) <-chan struct{} {
	tb.Helper()
	logPath := filepath.Join(tb.TempDir(), name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		proc.Stop(cmd.Process, done, stop, StopTimeout)
		logf.Close()
		if tb.Failed() {
			tb.Logf("%s output (tail):\n%s", name, Tail(logPath, LogTail))
		}
	})
	return done
}

// Tail returns the last n bytes of the file at path (what there is of it).
func Tail(path string, n int) []byte {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
