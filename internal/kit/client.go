package kit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/resilience"
)

// DefaultClientTimeout bounds every call of DefaultClient.
const DefaultClientTimeout = 10 * time.Second

// MaxResponseBody bounds how much of an upstream answer a typed client reads.
const MaxResponseBody = 4 << 20

// DefaultClient is the one place where services get a plain client: the
// fallback for a zero Config (tests). The lab wiring passes resilience
// clients instead. It propagates traceparent and times out after
// DefaultClientTimeout.
func DefaultClient() *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         d.DialContext,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 32,
		IdleConnTimeout:     90 * time.Second,
	}
	return &http.Client{
		Transport: &observability.Transport{Base: tr},
		Timeout:   DefaultClientTimeout,
		// Upstreams answer Location headers for clients; never follow them.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// NewRequest builds an outbound request. A non-nil body is encoded as JSON
// (or sent as is if it is []byte). The trace in ctx is set as traceparent,
// whatever transport the client has.
func NewRequest(ctx context.Context, method, url string, body any) (*http.Request, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		buf, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("encode %s %s: %w", method, url, err)
		}
		rd = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, fmt.Errorf("build %s %s: %w", method, url, err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if sc, ok := observability.SpanFromContext(ctx); ok {
		req.Header.Set(observability.TraceparentHeader, sc.String())
	}
	return req, nil
}

// StatusError is a non-2xx answer from an upstream, with its problem body
// when it sent one.
type StatusError struct {
	// Method and URL name the call (without query or secrets).
	Method, URL string
	// Status is the HTTP status code.
	Status int
	// Problem is the decoded problem+json body; its Status is always set.
	Problem problem.Error
	// Retry is the parsed Retry-After header, if any.
	Retry time.Duration
}

func (e *StatusError) Error() string {
	if e.Problem.Detail != "" {
		return fmt.Sprintf("%s %s: %d: %s", e.Method, e.URL, e.Status, e.Problem.Detail)
	}
	return fmt.Sprintf("%s %s: %d", e.Method, e.URL, e.Status)
}

// RetryAfter is the upstream's Retry-After, or one second.
func (e *StatusError) RetryAfter() time.Duration {
	if e.Retry > 0 {
		return e.Retry
	}
	return time.Second
}

// Temporary reports whether the status means the upstream could not answer
// (5xx). A 429 is not: it is the caller's own rate limit, an answer to pass
// on with its Retry-After (UpstreamProblem), not an outage of the upstream.
func (e *StatusError) Temporary() bool {
	return e.Status >= 500
}

// Do sends req with c. A 2xx answer is decoded into out (if non-nil);
// anything else is a *StatusError. Transport errors are wrapped as they
// come (they keep resilience sentinels and *url.Error in the chain).
func Do(c *http.Client, req *http.Request, out any) error {
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, redactURL(req), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", req.Method, redactURL(req), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		se := &StatusError{Method: req.Method, URL: redactURL(req), Status: resp.StatusCode}
		_ = json.Unmarshal(body, &se.Problem)
		se.Problem.Status = resp.StatusCode
		if se.Problem.Title == "" {
			se.Problem.Title = http.StatusText(resp.StatusCode)
		}
		if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s > 0 {
			se.Retry = time.Duration(s) * time.Second
		}
		return se
	}
	if out != nil && len(body) > 0 {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("%s %s: decode answer: %w", req.Method, redactURL(req), err)
		}
	}
	return nil
}

func redactURL(req *http.Request) string {
	u := *req.URL
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

// StatusOf returns the upstream status code in err's chain, or 0.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// Unavailable reports whether err means the upstream could not answer
// (rather than answered no), and how long a client should wait. It covers
// the resilience sentinels, auth.ErrUnavailable, 5xx answers, connection
// errors and timeouts; not 429 (the caller's own limit: an answer).
func Unavailable(err error) (time.Duration, bool) {
	if err == nil {
		return 0, false
	}
	var se *StatusError
	if errors.As(err, &se) {
		if se.Temporary() {
			return se.RetryAfter(), true
		}
		return 0, false
	}
	if d, ok := resilience.RetryAfter(err); ok {
		if d <= 0 {
			d = time.Second
		}
		return d, true
	}
	if errors.Is(err, auth.ErrUnavailable) || errors.Is(err, ErrPending) || resilience.Interrupted(err) {
		return time.Second, true
	}
	return 0, false
}

// UpstreamProblem maps an upstream failure to the problem a handler answers:
// unavailable ──► 503 + Retry-After; a 4xx answer passes through with the
// upstream's status and detail (a 429 with its Retry-After); anything else
// is a 502.
func UpstreamProblem(name string, err error) *problem.Error {
	if d, ok := Unavailable(err); ok {
		p := problem.Unavailable(name+" is temporarily unavailable", d)
		p.Dependency = name
		return p
	}
	var se *StatusError
	if errors.As(err, &se) && se.Status >= 400 && se.Status < 500 {
		p := problem.New(se.Status, se.Problem.Detail)
		p.Errors = se.Problem.Errors
		if se.Status == http.StatusTooManyRequests {
			p.RetryAfter = se.RetryAfter()
		}
		return p
	}
	var pe *problem.Error
	if errors.As(err, &pe) {
		return pe
	}
	return problem.Wrap(http.StatusBadGateway, name+" gave an unexpected answer", err)
}

// ErrPending means work was left for a later reconciliation; Unavailable
// counts it as unavailable (503 + Retry-After).
var ErrPending = errors.New("left pending for reconciliation")
