package resilience

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"
)

// MayHaveReached reports whether the upstream may have acted on a request
// whose call failed with err without the caller seeing its answer: some
// attempt was sent and got no answer (it timed out, or the connection broke
// after the request was written, or the caller gave up while it was in
// flight). It is false when every attempt was refused before the wire (open
// breaker, full bulkhead, no time or budget left), could not connect, or
// was answered: an answer, even a 503, says what the upstream did.
//
// It answers for errors returned by a Transport (through its Client too).
// Of any other error it can only tell a connection that could not be made
// (a dial error, a refused connection: false) from the rest (true). Nil is
// false. A caller that must not do a thing twice (a charge) asks the
// upstream what happened when it reports true.
func MayHaveReached(err error) bool {
	if err == nil {
		return false
	}
	var re *reachError
	if errors.As(err, &re) {
		return re.reached
	}
	return !notSent(err)
}

// Interrupted reports whether err is the network failing under a call
// rather than an answer or a local mistake: a connection error, a timeout,
// or a body cut short. Reading a response body can fail so after RoundTrip
// has returned, where the Transport cannot classify it.
func Interrupted(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, io.EOF) || errors.As(err, &ne)
}

// reachError carries MayHaveReached's answer on every error RoundTrip
// returns. It is transparent: Error and Unwrap are its cause's.
type reachError struct {
	err     error
	reached bool
}

func (e *reachError) Error() string { return e.err.Error() }
func (e *reachError) Unwrap() error { return e.err }

// notSent reports whether a wire error means the request never left: the
// connection could not be made.
func notSent(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED)
}

// Verdicts on an attempt, for the breaker and the outlier detector.
const (
	verdictExcluded = iota // says nothing of the upstream's health
	verdictSuccess
	verdictFailure // a 5xx, a timeout or a connection error
)

// verdict maps an attempt outcome to its verdict ("What counts as what").
func verdict(class int) int {
	switch class {
	case attemptSuccess:
		return verdictSuccess
	case attempt5xx, attemptTimeout, attemptError:
		return verdictFailure
	}
	return verdictExcluded
}
