package apitest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/faultlab/faultlab/api"
)

// maxCapture bounds the copy of one request or answer body.
const maxCapture = 4 << 20

// Answer is one response as the client received it.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Validator checks requests and answers against the document. It is safe
// for concurrent use.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
	// problem is the document's Problem schema, for 404 and 405 answers to
	// routes the document does not have.
	problem *openapi3.Schema

	mu sync.Mutex
	// queue holds answers recorded by Middleware and not yet checked;
	// drainMu serialises their checking.
	queue      []exchange
	drainMu    sync.Mutex
	violations []string
	seen       map[string]int // "operationId status" → answers
	memo       map[[sha256.Size]byte]memoResult
}

// Load parses and validates the embedded document and builds its router.
func Load() (*Validator, error) {
	doc, err := LoadDoc()
	if err != nil {
		return nil, err
	}
	// Route by path alone: tests serve the gateway on 127.0.0.1:<any port>.
	doc.Servers = nil
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("apitest: router: %w", err)
	}
	ref := doc.Components.Schemas["Problem"]
	if ref == nil || ref.Value == nil {
		return nil, errors.New("apitest: the document has no Problem schema")
	}
	return &Validator{doc: doc, router: r, problem: ref.Value, seen: map[string]int{}, memo: map[[sha256.Size]byte]memoResult{}}, nil
}

// LoadDoc parses the embedded document and validates it (kin-openapi's
// lint: structure, schemas, and every example against its schema).
func LoadDoc() (*openapi3.T, error) {
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData(api.YAML())
	if err != nil {
		return nil, fmt.Errorf("apitest: load openapi.yaml: %w", err)
	}
	if err := doc.Validate(l.Context); err != nil {
		return nil, fmt.Errorf("apitest: openapi.yaml does not validate: %w", err)
	}
	return doc, nil
}

// New is Load that fails tb on error.
func New(tb testing.TB) *Validator {
	tb.Helper()
	v, err := Load()
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// Wrap returns h checked by a new Validator, which reports its violations
// to tb when the test ends.
func Wrap(tb testing.TB, h http.Handler) http.Handler {
	tb.Helper()
	v := New(tb)
	tb.Cleanup(func() { v.Report(tb) })
	return v.Middleware(h)
}

// Doc is the parsed document. The caller must not modify it.
func (v *Validator) Doc() *openapi3.T { return v.doc }

// Report fails tb with every violation seen since the last Report or
// Violations, and forgets them and the counts of Seen.
func (v *Validator) Report(tb testing.TB) {
	tb.Helper()
	summary := v.SeenSummary() // checks what is queued
	if testing.Verbose() {
		tb.Logf("api/openapi.yaml checked: %s", summary)
	}
	v.mu.Lock()
	clear(v.seen)
	v.mu.Unlock()
	for _, s := range v.Violations() {
		tb.Errorf("answer not described by api/openapi.yaml: %s", s)
	}
}

// Violations checks the answers still queued, then returns the
// violations seen since the last call, and forgets them.
func (v *Validator) Violations() []string {
	v.drain()
	v.mu.Lock()
	defer v.mu.Unlock()
	out := v.violations
	v.violations = nil
	return out
}

// Seen returns how many answers were checked per "operationId status",
// with the X-Cache-Status when there is one ("listProducts 200 stale"),
// or "unrouted 404" for paths the document does not have.
func (v *Validator) Seen() map[string]int {
	v.drain()
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[string]int, len(v.seen))
	for k, n := range v.seen {
		out[k] = n
	}
	return out
}

// SeenSummary is Seen as one sorted line, for test logs.
func (v *Validator) SeenSummary() string {
	seen := v.Seen()
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s×%d", k, seen[k])
	}
	return b.String()
}

// Middleware records every request that passes through it and the answer
// next gives, for checking when Report, Violations or Seen is called. The
// answer reaches the client unchanged and as it is written.
func (v *Validator) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody capture
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &teeBody{ReadCloser: r.Body, c: &reqBody}
		}
		// Check sees the request as the client sent it, before the
		// handler changes anything on r.
		orig := r.Clone(r.Context())
		rec := &recorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
			rec.header = w.Header().Clone()
		}
		ans := Answer{Status: rec.status, Header: rec.header, Body: rec.body.Bytes()}
		// Queue the check: Violations, Seen and Report run it later, once
		// the load a chaos scenario measures is over, so that the check's
		// CPU (kin-openapi compiles a 3.1 schema per body) does not slow
		// the lab it checks.
		v.mu.Lock()
		v.queue = append(v.queue, exchange{req: orig, body: reqBody.Bytes(), ans: ans})
		full := len(v.queue) >= maxQueue
		v.mu.Unlock()
		if full {
			v.drain()
		}
	})
}

// maxQueue bounds the answers held for checking.
const maxQueue = 20000

// exchange is one request and its answer, waiting to be checked.
type exchange struct {
	req  *http.Request
	body []byte
	ans  Answer
}

// drain checks every queued exchange, two at a time.
func (v *Validator) drain() {
	v.drainMu.Lock()
	defer v.drainMu.Unlock()
	v.mu.Lock()
	q := v.queue
	v.queue = nil
	v.mu.Unlock()
	var wg sync.WaitGroup
	next := make(chan exchange)
	for range 2 {
		wg.Go(func() {
			for x := range next {
				if err := v.Check(x.req, x.body, x.ans); err != nil {
					v.record(err.Error())
				}
			}
		})
	}
	for _, x := range q {
		next <- x
	}
	close(next)
	wg.Wait()
}

func (v *Validator) record(s string) {
	v.mu.Lock()
	v.violations = append(v.violations, s)
	v.mu.Unlock()
}

func (v *Validator) count(key string) {
	v.mu.Lock()
	v.seen[key]++
	v.mu.Unlock()
}

// Check validates one request (with the body the gateway read) and the
// answer it got. It returns nil when the document describes the answer.
func (v *Validator) Check(r *http.Request, reqBody []byte, a Answer) error {
	key := memoKey(r, reqBody, a)
	v.mu.Lock()
	m, hit := v.memo[key]
	v.mu.Unlock()
	if !hit {
		m.seen, m.err = v.check(r, reqBody, a)
		v.mu.Lock()
		if len(v.memo) >= maxMemo {
			clear(v.memo)
		}
		v.memo[key] = m
		v.mu.Unlock()
	}
	v.count(m.seen)
	return m.err
}

// maxMemo bounds the memo of checked answers.
const maxMemo = 4096

// memoResult is the outcome of checking one distinct request and answer.
type memoResult struct {
	seen string
	err  error
}

// memoKey identifies everything Check looks at: the same request and
// answer again (a catalogue page under load) is not checked twice, since
// kin-openapi compiles the JSON Schema of a 3.1 body on every validation.
func memoKey(r *http.Request, reqBody []byte, a Answer) [sha256.Size]byte {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field(r.Method)
	field(r.URL.EscapedPath())
	field(r.URL.RawQuery)
	// The headers the document speaks of; the rest (traceparent, Date …)
	// would only defeat the memo.
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	field(strconv.FormatBool(ok && strings.TrimSpace(tok) != ""))
	for _, k := range []string{"Content-Type", "Idempotency-Key", "Request-Timeout"} {
		field(strings.Join(r.Header.Values(k), "\x00"))
	}
	field(string(reqBody))
	field(strconv.Itoa(a.Status))
	for _, k := range []string{"Content-Type", "Retry-After", "Location", "Link", "X-Cache-Status", "WWW-Authenticate", "X-Dependency-Unavailable", "Allow"} {
		field(strings.Join(a.Header.Values(k), "\x00"))
	}
	field(string(a.Body))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// check is Check without the memo; it also returns the Seen key.
func (v *Validator) check(r *http.Request, reqBody []byte, a Answer) (string, error) {
	name := r.Method + " " + r.URL.RequestURI()
	fail := func(format string, args ...any) error {
		return fmt.Errorf("%s → %d: %s; body %s", name, a.Status, fmt.Sprintf(format, args...), snippet(a.Body))
	}
	// Route the path the client sent, on any host.
	u := &url.URL{Scheme: "http", Host: "gateway", Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), bytes.NewReader(reqBody))
	if err != nil {
		return "unparseable", fail("unparseable request: %v", err)
	}
	req.Header = r.Header.Clone()
	if r.Method == http.MethodOptions {
		if seen, ok, err := v.checkOptions(req, a, fail); ok {
			return seen, err
		}
	}
	route, params, err := v.router.FindRoute(req)
	if err != nil {
		want := http.StatusNotFound
		if errors.Is(err, routers.ErrMethodNotAllowed) {
			want = http.StatusMethodNotAllowed
		} else if !errors.Is(err, routers.ErrPathNotFound) {
			var re *routers.RouteError
			if !errors.As(err, &re) {
				return "unroutable", fail("routing: %v", err)
			}
		}
		seen := fmt.Sprintf("unrouted %d", a.Status)
		if want == http.StatusMethodNotAllowed && a.Status == http.StatusNotFound && !canonical(r.URL) {
			want = http.StatusNotFound // the gateway's path guard answers first
		}
		if a.Status != want {
			return seen, fail("the document has no such route (%v): want %d", err, want)
		}
		return seen, v.checkProblem(a, want, fail)
	}
	seen := fmt.Sprintf("%s %d", route.Operation.OperationID, a.Status)
	if cs := a.Header.Get("X-Cache-Status"); cs != "" {
		seen += " " + cs
	}

	in := &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: bearer},
	}
	reqErr := openapi3filter.ValidateRequest(context.Background(), in)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 a.Status,
		Header:                 a.Header,
		Body:                   io.NopCloser(bytes.NewReader(a.Body)),
		Options:                &openapi3filter.Options{MultiError: true, IncludeResponseStatus: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		return seen, fail("%s", oneLine(err))
	}
	if reqErr != nil && a.Status >= 200 && a.Status < 300 {
		return seen, fail("the document refuses this request (%s) but the gateway accepted it", oneLine(reqErr))
	}
	return seen, nil
}

// checkOptions checks an OPTIONS request to a documented path: the router
// answers it 200, with no body and an Allow header naming the path's
// documented methods and OPTIONS. ok is false when the path is not
// documented (the caller then wants a 404 problem).
func (v *Validator) checkOptions(req *http.Request, a Answer, fail func(string, ...any) error) (_ string, ok bool, _ error) {
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(context.Background())
		probe.Method = m
		route, _, err := v.router.FindRoute(probe)
		if err != nil {
			continue
		}
		seen := fmt.Sprintf("options %d", a.Status)
		want := []string{http.MethodOptions}
		for method := range route.PathItem.Operations() {
			want = append(want, method)
		}
		sort.Strings(want)
		got := strings.Split(a.Header.Get("Allow"), ", ")
		sort.Strings(got)
		switch {
		case a.Status != http.StatusOK:
			return seen, true, fail("OPTIONS on a documented path: want 200")
		case len(a.Body) != 0:
			return seen, true, fail("OPTIONS answered with a body")
		case strings.Join(got, ", ") != strings.Join(want, ", "):
			return seen, true, fail("Allow %q, want the documented methods %q", a.Header.Get("Allow"), strings.Join(want, ", "))
		}
		return seen, true, nil
	}
	return "", false, nil
}

// checkProblem checks a 404 or 405 to a route the document does not have.
func (v *Validator) checkProblem(a Answer, status int, fail func(string, ...any) error) error {
	mt, _, err := mime.ParseMediaType(a.Header.Get("Content-Type"))
	if err != nil || mt != "application/problem+json" {
		return fail("content type %q, want application/problem+json", a.Header.Get("Content-Type"))
	}
	var doc any
	if err := json.Unmarshal(a.Body, &doc); err != nil {
		return fail("body is not JSON: %v", err)
	}
	if err := v.problem.VisitJSON(doc, openapi3.EnableJSONSchema2020(), openapi3.MultiErrors()); err != nil {
		return fail("not a Problem: %s", oneLine(err))
	}
	if m, _ := doc.(map[string]any); m["status"] != float64(status) {
		return fail("problem status %v, want %d", m["status"], status)
	}
	return nil
}

// canonical reports whether u's path is one the gateway routes at all:
// no escapes and no dot segments (anything else gets 404 from its guard).
func canonical(u *url.URL) bool {
	p := u.EscapedPath()
	return !strings.Contains(p, "%") && !strings.Contains(p, "/.") && !strings.Contains(p, "//")
}

// bearer checks the bearer scheme the way the document describes it: an
// Authorization header "Bearer <token>". Whether the token is good is the
// gateway's business (401).
func bearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return errors.New("no bearer token")
	}
	return nil
}

func oneLine(err error) string {
	s := err.Error()
	// kin-openapi appends the schema and value on many lines: keep the
	// first line of each error.
	var parts []string
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "Schema:") || strings.HasPrefix(l, "Value:") || strings.HasPrefix(l, "{") ||
			strings.HasPrefix(l, "}") || strings.HasPrefix(l, "\"") || strings.HasPrefix(l, "]") || strings.HasPrefix(l, "[") {
			continue
		}
		parts = append(parts, l)
	}
	return strings.Join(parts, " | ")
}

func snippet(b []byte) string {
	const n = 300
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = s[:n] + "…"
	}
	return fmt.Sprintf("%q", s)
}

// capture is a bounded copy of a body.
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := maxCapture - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(len(p), room)])
	}
}

func (c *capture) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.buf.Bytes()...)
}

// teeBody copies what the handler reads of the request body.
type teeBody struct {
	io.ReadCloser
	c *capture
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if n > 0 {
		t.c.Write(p[:n])
	}
	return n, err
}

// recorder passes an answer through and keeps a copy.
type recorder struct {
	http.ResponseWriter
	status int
	header http.Header
	body   capture
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
		r.header = r.ResponseWriter.Header().Clone()
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(p)
	return r.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
