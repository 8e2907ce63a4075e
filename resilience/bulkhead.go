package resilience

// bulkhead caps the attempts in flight to one upstream. It never queues: a
// full bulkhead refuses at once, so a slow upstream cannot pile up the
// caller's goroutines and connections. It is safe for concurrent use.
type bulkhead chan struct{}

func newBulkhead(n int) bulkhead { return make(bulkhead, n) }

func (b bulkhead) tryAcquire() bool {
	select {
	case b <- struct{}{}:
		return true
	default:
		return false
	}
}

func (b bulkhead) release() { <-b }
