package proc

import (
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
