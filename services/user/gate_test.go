package user

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/problem"
)

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestHashingIsBounded (issue 17): at most MaxConcurrentHashes password
// hashes run at once and HashQueue logins wait; the next login is shed at
// once with 503, Retry-After and X-Load-Shed, before any hashing, and the
// shop's other logins go on once slots free.
func TestHashingIsBounded(t *testing.T) {
	f := newFixture(t, Config{MaxConcurrentHashes: 2, HashQueue: 1})
	var running, peak, total atomic.Int64
	release := make(chan struct{})
	f.svc.verify = func(pw, enc string) (bool, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		total.Add(1)
		<-release
		defer running.Add(-1)
		return verifyPassword(pw, enc)
	}
	var wg sync.WaitGroup
	statuses := make([]int, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct accounts and addresses: no limit is involved.
			statuses[i] = f.login(t, fmt.Sprintf("u%d@example.com", i), "pw", contract.ForwardedFor, "10.1.0."+strconv.Itoa(i+1)).Status
		}()
		if i < 2 {
			waitFor(t, "a hash to start", func() bool { return running.Load() == int64(i+1) })
		}
	}
	waitFor(t, "a login to queue", func() bool { return f.svc.gate.waiting.Load() == 1 })

	r := f.login(t, DemoAdminEmail, DemoAdminPassword, contract.ForwardedFor, "10.1.0.9")
	if r.Status != http.StatusServiceUnavailable || r.Header.Get(contract.LoadShed) != "login" ||
		r.Header.Get("Retry-After") != "1" || r.Header.Get("Content-Type") != problem.ContentType {
		t.Fatalf("got %d, %s %q, Retry-After %q: %s", r.Status, contract.LoadShed, r.Header.Get(contract.LoadShed), r.Header.Get("Retry-After"), r.Body)
	}
	if got := total.Load(); got != 2 {
		t.Fatalf("%d hashes started, want 2 (the shed login hashed?)", got)
	}
	close(release)
	wg.Wait()
	for i, st := range statuses {
		if st != http.StatusUnauthorized {
			t.Errorf("login %d: %d, want 401 once a slot freed", i, st)
		}
	}
	if p := peak.Load(); p != 2 {
		t.Errorf("peak concurrent hashes %d, want 2", p)
	}
	if r := f.login(t, DemoAdminEmail, DemoAdminPassword, contract.ForwardedFor, "10.1.0.9"); r.Status != http.StatusOK {
		t.Fatalf("after the flood: %d %s", r.Status, r.Body)
	}

	// 10.1.0.9 has just logged in: in the next flood it has the trusted
	// lane (one slot by default), where an address that never succeeded
	// is shed.
	release = make(chan struct{})
	peak.Store(0)
	running.Store(0)
	var wg2 sync.WaitGroup
	for i := range 3 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			f.login(t, fmt.Sprintf("v%d@example.com", i), "pw", contract.ForwardedFor, "10.3.0."+strconv.Itoa(i+1))
		}()
		if i < 2 {
			waitFor(t, "a hash to start", func() bool { return running.Load() == int64(i+1) })
		}
	}
	waitFor(t, "a login to queue", func() bool { return f.svc.gate.waiting.Load() == 1 })
	if r := f.login(t, "x@example.com", "pw", contract.ForwardedFor, "10.3.0.9"); r.Status != http.StatusServiceUnavailable {
		t.Fatalf("untrusted address: %d, want shed", r.Status)
	}
	trusted := make(chan int, 1)
	go func() {
		trusted <- f.login(t, DemoAdminEmail, DemoAdminPassword, contract.ForwardedFor, "10.1.0.9").Status
	}()
	waitFor(t, "the trusted login to hash", func() bool { return running.Load() == 3 })
	close(release)
	wg2.Wait()
	if st := <-trusted; st != http.StatusOK {
		t.Fatalf("trusted address: %d", st)
	}
}

// TestLoginCostIsTheSameForUnknownEmails: an unknown email, a known one
// with a wrong password and a right one each cost exactly one hash (so a
// client cannot tell which emails exist, and a spray of unknown emails
// costs what it looks like); a login refused by a limit costs none.
func TestLoginCostIsTheSameForUnknownEmails(t *testing.T) {
	f := newFixture(t, Config{})
	var hashes atomic.Int64
	f.svc.verify = func(pw, enc string) (bool, error) {
		hashes.Add(1)
		return verifyPassword(pw, enc)
	}
	tests := []struct {
		name, email, pw, from string
		status                int
		hashes                int64
	}{
		{"unknown email", "nobody@example.com", "guess", "10.2.0.1", http.StatusUnauthorized, 1},
		{"known email, wrong password", DemoCustomerEmail, "guess", "10.2.0.2", http.StatusUnauthorized, 1},
		{"right password", DemoCustomerEmail, DemoCustomerPassword, "10.2.0.3", http.StatusOK, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := hashes.Load()
			if r := f.login(t, tt.email, tt.pw, contract.ForwardedFor, tt.from); r.Status != tt.status {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
			if got := hashes.Load() - before; got != tt.hashes {
				t.Fatalf("%d hashes, want %d", got, tt.hashes)
			}
		})
	}
	t.Run("locked client costs nothing", func(t *testing.T) {
		for i := range DefaultLoginLimit {
			f.login(t, fmt.Sprintf("spray%d@example.com", i), "guess", contract.ForwardedFor, "10.2.0.9")
		}
		before := hashes.Load()
		for range 20 {
			if r := f.login(t, "nobody@example.com", "guess", contract.ForwardedFor, "10.2.0.9"); r.Status != http.StatusTooManyRequests {
				t.Fatalf("status %d: %s", r.Status, r.Body)
			}
		}
		if got := hashes.Load() - before; got != 0 {
			t.Fatalf("%d hashes for 20 refused logins", got)
		}
	})
}
