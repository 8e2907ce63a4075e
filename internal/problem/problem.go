package problem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/contract"
)

// ContentType is the media type of every error body.
const ContentType = "application/problem+json"

// DependencyHeader names, on a 503, the upstream whose unavailability the
// answering service is reporting: the service itself is up and answered
// for itself. A resilience client neither retries such an answer nor
// counts it against the service's breaker, so one dead service does not
// trip every breaker on the way to the client (resilience/doc.go).
const DependencyHeader = contract.DependencyUnavailable

// Error is an RFC 9457 problem. It is an error, so domain code can return it
// and handlers can pass it straight to Write.
type Error struct {
	// Type is a URI reference that names the problem type; "about:blank" if empty.
	Type string `json:"type,omitempty"`
	// Title is a short summary of the problem type.
	Title string `json:"title"`
	// Status is the HTTP status code.
	Status int `json:"status"`
	// Detail explains this occurrence, for the client.
	Detail string `json:"detail,omitempty"`
	// Instance is the request path that failed.
	Instance string `json:"instance,omitempty"`
	// TraceID lets a user report the failing request.
	TraceID string `json:"trace_id,omitempty"`
	// RetryAfter, when positive, is sent as a Retry-After header in seconds.
	RetryAfter time.Duration `json:"-"`
	// Dependency, on a 503, is the upstream that is unavailable, sent as
	// the DependencyHeader.
	Dependency string `json:"-"`
	// Errors lists field-level problems, when there are several.
	Errors []FieldError `json:"errors,omitempty"`

	cause error
}

// FieldError names one invalid field of a request body.
type FieldError struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail)
	}
	return fmt.Sprintf("%d %s", e.Status, e.Title)
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// New returns a problem with the standard title for status.
func New(status int, detail string) *Error {
	return &Error{Status: status, Title: http.StatusText(status), Detail: detail}
}

// Newf is New with a format string.
func Newf(status int, format string, args ...any) *Error {
	return New(status, fmt.Sprintf(format, args...))
}

// Wrap returns a problem that keeps err as its cause for errors.Is/As.
func Wrap(status int, detail string, err error) *Error {
	p := New(status, detail)
	p.cause = err
	return p
}

// Common constructors.
func BadRequest(detail string) *Error   { return New(http.StatusBadRequest, detail) }
func Unauthorized(detail string) *Error { return New(http.StatusUnauthorized, detail) }
func Forbidden(detail string) *Error    { return New(http.StatusForbidden, detail) }
func NotFound(detail string) *Error     { return New(http.StatusNotFound, detail) }
func Conflict(detail string) *Error     { return New(http.StatusConflict, detail) }
func Unprocessable(detail string) *Error {
	return New(http.StatusUnprocessableEntity, detail)
}

// Unavailable is a 503 that tells the client when to come back.
func Unavailable(detail string, retryAfter time.Duration) *Error {
	p := New(http.StatusServiceUnavailable, detail)
	p.RetryAfter = retryAfter
	return p
}

// Invalid returns a problem with status and detail that lists each bad
// field, or nil when bad is empty: a handler collects every field error
// and answers them all at once.
func Invalid(status int, detail string, bad []FieldError) *Error {
	if len(bad) == 0 {
		return nil
	}
	p := New(status, detail)
	p.Errors = bad
	return p
}

type traceIDKey struct{}

// WithTraceID returns ctx carrying the request's trace id, which Write puts
// in every problem. observability.ContextWithSpan calls it, so that this
// package need not import observability.
func WithTraceID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, traceIDKey{}, id)
}

// TraceID returns the trace id WithTraceID put in ctx, or "".
func TraceID(ctx context.Context) string {
	id, _ := ctx.Value(traceIDKey{}).(string)
	return id
}

// From maps any error to a problem. A *Error anywhere in the chain wins;
// anything else is a 500 whose detail does not leak internals.
func From(err error) *Error {
	var p *Error
	if errors.As(err, &p) {
		return p
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return Newf(http.StatusRequestEntityTooLarge, "request body exceeds %d bytes", mbe.Limit)
	}
	return Wrap(http.StatusInternalServerError, "internal error", err)
}

// causeRetryAfter is the Retry-After of the first 503 problem in err's
// chain that has one: a handler's "store unavailable" wrapping a store's
// "database unavailable, come back in 1 s" tells the client when to come
// back too.
func causeRetryAfter(err error) time.Duration {
	for err != nil {
		var p *Error
		if !errors.As(err, &p) {
			return 0
		}
		if p.RetryAfter > 0 && p.Status == http.StatusServiceUnavailable {
			return p.RetryAfter
		}
		err = p.cause
	}
	return 0
}

// Write sends err as problem+json.
func Write(w http.ResponseWriter, r *http.Request, err error) {
	p := *From(err)
	if p.RetryAfter == 0 && p.Status == http.StatusServiceUnavailable {
		p.RetryAfter = causeRetryAfter(p.cause)
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if r != nil {
		if p.Instance == "" {
			p.Instance = r.URL.Path
		}
		if p.TraceID == "" {
			p.TraceID = TraceID(r.Context())
		}
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	if p.RetryAfter > 0 {
		secs := int((p.RetryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
	}
	if p.Dependency != "" && p.Status == http.StatusServiceUnavailable {
		h.Set(DependencyHeader, p.Dependency)
	}
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// DefaultMaxBody is the body limit of DecodeJSON when max is zero.
const DefaultMaxBody = 64 << 10

// DecodeJSON reads exactly one JSON object from r's body into dst. It rejects
// a wrong content type (415), an empty or oversized body (400/413), unknown
// fields, trailing data, a key given twice in one object and malformed JSON
// (400), each with a clear detail.
func DecodeJSON(w http.ResponseWriter, r *http.Request, dst any, max int64) error {
	if max <= 0 {
		max = DefaultMaxBody
	}
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return New(http.StatusUnsupportedMediaType, "Content-Type must be application/json")
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
		return Newf(http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	if r.Body == nil || r.Body == http.NoBody {
		return BadRequest("request body is empty")
	}
	buf, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return From(err)
		}
		return BadRequest("request body could not be read")
	}
	dec := json.NewDecoder(bytes.NewReader(buf))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return BadRequest("request body must hold a single JSON object")
	}
	// Parsers disagree on which of two equal keys wins; a body that means
	// different things to different readers is refused.
	if key, dup := DuplicateKey(buf); dup {
		return Newf(http.StatusBadRequest, "duplicate key %q in JSON body", key)
	}
	return nil
}

// DuplicateKey reports whether the JSON text b has an object with the same
// key twice (at any depth), and which key. Keys that differ only in case
// count as the same, as encoding/json matches them to one struct field.
// Invalid JSON reports false.
func DuplicateKey(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var walk func() (string, bool, error)
	walk = func() (string, bool, error) {
		tok, err := dec.Token()
		if err != nil {
			return "", false, err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", false, err
				}
				k, _ := kt.(string)
				if seen[strings.ToLower(k)] {
					return k, true, nil
				}
				seen[strings.ToLower(k)] = true
				if k, dup, err := walk(); dup || err != nil {
					return k, dup, err
				}
			}
			_, err = dec.Token()
			return "", false, err
		case json.Delim('['):
			for dec.More() {
				if k, dup, err := walk(); dup || err != nil {
					return k, dup, err
				}
			}
			_, err = dec.Token()
			return "", false, err
		}
		return "", false, nil
	}
	k, dup, _ := walk()
	return k, dup
}

func decodeError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		mbe *http.MaxBytesError
	)
	switch {
	case errors.As(err, &mbe):
		return From(err)
	case errors.Is(err, io.EOF):
		return BadRequest("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return BadRequest("request body is truncated JSON")
	case errors.As(err, &syn):
		return Newf(http.StatusBadRequest, "malformed JSON at byte %d", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return Newf(http.StatusBadRequest, "field %q must be %s", typ.Field, typ.Type)
		}
		return Newf(http.StatusBadRequest, "body must be a JSON %s", typ.Type)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return Newf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return BadRequest("invalid JSON body")
	}
}

// WriteJSON writes v as application/json with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
