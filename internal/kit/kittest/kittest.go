package kittest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/auth"
)

// Keys are the caller secrets the tests use.
var Keys = auth.Keys{Gateway: "test-gateway-key-0123456789", Service: "test-service-key-0123456789"}

// Tokens that Validator knows, and the users they name.
const (
	AdminToken  = "admin-token"
	AliceToken  = "alice-token"
	BobToken    = "bob-token"
	DownToken   = "down"
	AdminUserID = "usr_admin"
	AliceUserID = "usr_alice"
	BobUserID   = "usr_bob"
)

// Validator stands for the user service in a service's tests: AdminToken
// is an admin, AliceToken and BobToken are customers, DownToken finds the
// user service unavailable (auth.ErrUnavailable), and any other token is
// invalid.
var Validator = auth.ValidatorFunc(func(_ context.Context, tok string) (auth.Principal, error) {
	switch tok {
	case AdminToken:
		return auth.Principal{UserID: AdminUserID, Roles: []string{auth.RoleAdmin}}, nil
	case AliceToken:
		return auth.Principal{UserID: AliceUserID, Roles: []string{auth.RoleCustomer}}, nil
	case BobToken:
		return auth.Principal{UserID: BobUserID, Roles: []string{auth.RoleCustomer}}, nil
	case DownToken:
		return auth.Principal{}, auth.ErrUnavailable
	}
	return auth.Principal{}, auth.ErrInvalidToken
})

// Clock is a settable clock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock starts at a fixed instant.
func NewClock() *Clock {
	return &Clock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Build builds a service with newS(cfg), failing the test on error, and
// closes it at the end of the test: kittest.Build(t, product.New, cfg).
func Build[C any, S io.Closer](t testing.TB, newS func(C) (S, error), cfg C) S {
	t.Helper()
	s, err := newS(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Serve starts h on 127.0.0.1:0 and closes it at the end of the test.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// Refusal is a GET that a route must refuse: the query to add to its URL,
// the header pairs to send, and the status it must answer.
type Refusal struct {
	Name, Query string
	Header      []string
	Want        int
}

// ServiceOnly returns the refusals of an internal route (service key
// only) for a caller without the service key, followed by more.
func ServiceOnly(more ...Refusal) []Refusal {
	return append([]Refusal{
		{Name: "gateway key", Header: []string{auth.GatewayKeyHeader, Keys.Gateway}, Want: http.StatusForbidden},
		{Name: "no key", Want: http.StatusUnauthorized},
	}, more...)
}

// WantRefused GETs url+Query for each refusal, as a subtest, and fails
// unless it is answered the refusal's status.
func WantRefused(t *testing.T, url string, refusals ...Refusal) {
	t.Helper()
	for _, rf := range refusals {
		t.Run(rf.Name, func(t *testing.T) {
			if r := Call(t, http.MethodGet, url+rf.Query, nil, rf.Header...); r.Status != rf.Want {
				t.Fatalf("%d, want %d: %s", r.Status, rf.Want, r.Body)
			}
		})
	}
}

// Mark is a middleware that appends name to *seen when a request passes
// through it, for a test of the order of a chain. It is not safe for
// concurrent requests.
func Mark(seen *[]string, name string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			*seen = append(*seen, name)
			next.ServeHTTP(w, r)
		})
	}
}

// Record serves one request to h in process, without a network: body as
// JSON, then the header pairs. It returns the recorded answer.
func Record(h http.Handler, method, path string, body []byte, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// StrictJSON decodes body into v as the services read a request body, for
// a test that writes the contract out: exactly one JSON value and no
// unknown fields. It reports whether body is such a value.
func StrictJSON(body []byte, v any) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if dec.Decode(v) != nil {
		return false
	}
	_, err := dec.Token()
	return errors.Is(err, io.EOF)
}

// Unreadable reports whether status is how a service refuses a request
// that it cannot read: 400, 413 or 415.
func Unreadable(status int) bool {
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		return true
	}
	return false
}

// Response is a finished call.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
}

// Call sends method url with body (nil, string/[]byte as is, or anything
// else as JSON) and headers (pairs), and returns the answer.
func Call(t testing.TB, method, url string, body any, headers ...string) Response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = bytes.NewReader([]byte(b)), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd, ct = bytes.NewReader(buf), "application/json"
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := testClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

var testClient = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Switch passes requests to H until Down is set; then it drops every
// connection without an answer, as a crashed upstream would.
type Switch struct {
	H    http.Handler
	Down atomic.Bool
}

// ServeHTTP serves or drops the request.
func (s *Switch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.Down.Load() {
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
		return
	}
	s.H.ServeHTTP(w, r)
}
