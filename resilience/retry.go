package resilience

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// IdempotencyKeyHeader marks a request that the upstream deduplicates, so
// that even a POST may be retried.
const IdempotencyKeyHeader = "Idempotency-Key"

// retryable reports whether a failed attempt of req may be sent again:
// idempotent methods, or any method with an Idempotency-Key.
func retryable(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return req.Header.Get(IdempotencyKeyHeader) != ""
}

// retryableStatus lists the answers that mean "the upstream could not
// answer now". 429 is not one of them: it is the caller's own rate limit,
// which a retry would only spend faster (doc.go, "What counts as what").
func retryableStatus(code int) bool {
	switch code {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). A date in the past means zero. Garbage is ignored.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // any cap past MaxRetryAfter will do; avoids overflow
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	if d < 0 {
		d = 0
	}
	return d, true
}

// jitter is exponential backoff with full jitter: cenkalti/backoff computes
// the capped exponential ceiling (no randomisation of its own) and the wait
// is drawn uniformly from [0, ceiling). Full jitter spreads the retries of
// many callers that failed together (AWS Architecture Blog, "Exponential
// Backoff And Jitter"). Not safe for concurrent use: one per call.
type jitter struct {
	exp  backoff.ExponentialBackOff
	rand func() float64
}

func newJitter(p Policy, clock Clock, rand func() float64) *jitter {
	j := &jitter{rand: rand}
	j.exp = backoff.ExponentialBackOff{
		InitialInterval:     p.BackoffInitial,
		RandomizationFactor: 0,
		Multiplier:          2,
		MaxInterval:         p.BackoffMax,
		MaxElapsedTime:      0, // Policy.Timeout bounds the call instead
		Stop:                backoff.Stop,
		Clock:               clock,
	}
	j.exp.Reset()
	return j
}

// next returns the wait before the next retry.
func (j *jitter) next() time.Duration {
	ceiling := j.exp.NextBackOff()
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(j.rand() * float64(ceiling))
}
