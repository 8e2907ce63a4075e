package proctest_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/proctest"
)

func TestFreeAddrsAreDistinctAndFree(t *testing.T) {
	addrs := proctest.FreeAddrs(t, 5)
	seen := map[string]bool{}
	for _, a := range addrs {
		if seen[a] {
			t.Fatalf("%s twice in %v", a, addrs)
		}
		seen[a] = true
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s is not free: %v", a, err)
		}
		ln.Close()
	}
}

func TestEventuallyRetriesUntilNil(t *testing.T) {
	n := 0
	proctest.Eventually(t, "third call", time.Minute, time.Millisecond, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("fn called %d times, want 3", n)
	}
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(p, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := string(proctest.Tail(p, 4)); got != "6789" {
		t.Fatalf("Tail 4 = %q", got)
	}
	if got := string(proctest.Tail(p, 40)); got != "0123456789" {
		t.Fatalf("Tail 40 = %q", got)
	}
}
