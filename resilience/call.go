package resilience

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// step is one layer of the stack: it sends attempt a on, through the
// layers below it, and returns what came back. A policy is a function
// from the next step to its own (transport.go, compose).
type step func(a *attempt) result

// Kinds of result.
const (
	kindDone     = iota // a response for the caller
	kindRetry           // a failure worth another attempt
	kindFinal           // a failure that ends the call: err is ready for the caller
	kindRejected        // refused before the wire: err is ready for the caller
)

// noClass is the class of a result that never reached the wire.
const noClass = -1

// result is what a step returns. A result without resp has released its
// attempt already; one with resp is released by whoever consumes it
// (deliver, finish).
type result struct {
	kind  int
	class int // the attempt outcome (attemptSuccess…), or noClass
	resp  *http.Response
	a     *attempt // the attempt behind resp
	err   error
}

// call is one logical call: what its policies share.
type call struct {
	req      *http.Request   // the caller's (or a copy with a replayable body)
	parent   context.Context // the caller's
	start    time.Time       // when RoundTrip began, on the Transport's clock
	deadline time.Time       // set by (1)
	replay   func() (io.ReadCloser, error)
	budget   *budget      // set by (3): retries and hedges spend it
	sent     atomic.Int32 // attempts that went on the wire
	inDoubt  atomic.Bool  // an attempt was sent and got no answer

	mu     sync.Mutex // tried; hedges pick concurrently
	tried  [maxTried]*endpoint
	ntried int

	first attempt // the first attempt needs no allocation of its own
}

// maxTried bounds the endpoints a call remembers (previous hosts).
const maxTried = 8

// triedLocked reports whether ep was tried by this call. Callers hold mu.
func (c *call) triedLocked(ep *endpoint) bool {
	for _, e := range c.tried[:c.ntried] {
		if e == ep {
			return true
		}
	}
	return false
}

// attempt is one try of a call; the first lives in the call.
type attempt struct {
	c      *call
	n      int // 1 for the first, n for the (n-1)th retry
	hedge  bool
	last   error           // the previous try's failure, for an OpenError
	now    time.Time       // when it starts, on the wall clock
	parent context.Context // the caller's, or the hedge branch's
	body   io.ReadCloser

	// Resources held while in flight; release frees them.
	ctx          context.Context // set by (7)
	ad           time.Time       // the attempt's deadline
	cancel       context.CancelFunc
	branchCancel context.CancelFunc // a hedge branch's context
	slot         bool               // a bulkhead slot, set by (8)
	ep           *endpoint          // set by (6)

	rb   releaseBody // the delivered body, when there is one
	url  url.URL     // the request's URL on the endpoint (wire.go)
	vals [2]string   // the budget and traceparent header values (wire.go)
}

// retry returns a fresh attempt for the nth try of a's call. Tries never
// share an attempt: net/http may still read the last try's request line and
// headers (which live in it) after its RoundTrip returned.
func (a *attempt) retry(n int, last error) *attempt {
	return &attempt{c: a.c, n: n, last: last, now: time.Now(), parent: a.c.parent}
}

// release frees what the attempt holds. It is called once per try, from
// the goroutine that owns the try.
func (a *attempt) release(t *Transport) {
	if a.cancel != nil {
		a.cancel()
		a.cancel = nil
	}
	if a.branchCancel != nil {
		a.branchCancel()
		a.branchCancel = nil
	}
	if a.slot {
		t.bh.release()
		a.slot = false
	}
	if a.ep != nil {
		a.ep.outstanding.Add(-1)
		a.ep = nil
	}
}

// refuse ends an attempt before the wire: its body is closed (RoundTrip
// must close the request body on every path) and what it holds released.
func (t *Transport) refuse(a *attempt, err error) result {
	if a.body != nil {
		a.body.Close()
	}
	a.release(t)
	return result{kind: kindRejected, class: noClass, err: err}
}

// releaseBody frees the attempt when the caller has read the body to the
// end or closed it, whichever comes first.
type releaseBody struct {
	rc       io.ReadCloser
	a        *attempt
	t        *Transport
	released atomic.Bool
}

func (b *releaseBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.release()
	}
	return n, err
}

func (b *releaseBody) Close() error {
	err := b.rc.Close()
	b.release()
	return err
}

func (b *releaseBody) release() {
	if b.released.CompareAndSwap(false, true) {
		b.a.release(b.t)
	}
}

// finish drains and closes a response the caller will not see, then frees
// its attempt.
func (t *Transport) finish(res result) {
	_, _ = io.CopyN(io.Discard, res.resp.Body, 4<<10) // lets the connection be reused
	res.resp.Body.Close()
	res.a.release(t)
}

func noCancel() {}
