package observability

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/faultlab/faultlab/internal/problem"
)

// TraceparentHeader is the W3C trace context header.
const TraceparentHeader = "traceparent"

// SpanContext identifies one span of a trace.
type SpanContext struct {
	TraceID string // 32 lowercase hex digits, not all zero
	SpanID  string // 16 lowercase hex digits, not all zero
	Flags   string // 2 hex digits
}

// ErrTraceparent is returned for a malformed traceparent header.
var ErrTraceparent = errors.New("malformed traceparent")

// ParseTraceparent parses a W3C traceparent header value (version 00 and
// future versions, per the spec's forward-compatibility rules).
func ParseTraceparent(s string) (SpanContext, error) {
	s = strings.TrimSpace(s)
	if len(s) < 55 {
		return SpanContext{}, fmt.Errorf("%w: too short", ErrTraceparent)
	}
	ver, tid, sid, fl := s[0:2], s[3:35], s[36:52], s[53:55]
	if s[2] != '-' || s[35] != '-' || s[52] != '-' {
		return SpanContext{}, fmt.Errorf("%w: bad separators", ErrTraceparent)
	}
	if !isHex(ver) || ver == "ff" || (ver == "00" && len(s) != 55) || (len(s) > 55 && s[55] != '-') {
		return SpanContext{}, fmt.Errorf("%w: bad version", ErrTraceparent)
	}
	if !isHex(tid) || tid == strings.Repeat("0", 32) {
		return SpanContext{}, fmt.Errorf("%w: bad trace id", ErrTraceparent)
	}
	if !isHex(sid) || sid == strings.Repeat("0", 16) {
		return SpanContext{}, fmt.Errorf("%w: bad parent id", ErrTraceparent)
	}
	if !isHex(fl) {
		return SpanContext{}, fmt.Errorf("%w: bad flags", ErrTraceparent)
	}
	return SpanContext{TraceID: tid, SpanID: sid, Flags: fl}, nil
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// String formats sc as a version 00 traceparent.
func (sc SpanContext) String() string {
	fl := sc.Flags
	if fl == "" {
		fl = "01"
	}
	return "00-" + sc.TraceID + "-" + sc.SpanID + "-" + fl
}

// NewTraceID returns a random trace id.
func NewTraceID() string { return randHex(16) }

// NewSpanID returns a random span id.
func NewSpanID() string { return randHex(8) }

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type spanKey struct{}

// ContextWithSpan returns ctx carrying sc, and its trace id for
// problem.Write (problem.WithTraceID).
func ContextWithSpan(ctx context.Context, sc SpanContext) context.Context {
	return problem.WithTraceID(context.WithValue(ctx, spanKey{}, sc), sc.TraceID)
}

// SpanFromContext returns the current span.
func SpanFromContext(ctx context.Context) (SpanContext, bool) {
	sc, ok := ctx.Value(spanKey{}).(SpanContext)
	return sc, ok
}

// TraceID returns the trace id in ctx, or "".
func TraceID(ctx context.Context) string {
	sc, _ := SpanFromContext(ctx)
	return sc.TraceID
}

// StartSpan continues the trace in the request's traceparent, or starts a
// new one when it is missing or malformed, and returns the server span.
func StartSpan(r *http.Request) SpanContext {
	if parent, err := ParseTraceparent(r.Header.Get(TraceparentHeader)); err == nil {
		return SpanContext{TraceID: parent.TraceID, SpanID: NewSpanID(), Flags: parent.Flags}
	}
	return SpanContext{TraceID: NewTraceID(), SpanID: NewSpanID(), Flags: "01"}
}

// Transport propagates the trace in the request context on every outbound
// request. It is safe for concurrent use.
type Transport struct {
	// Base is the next RoundTripper; nil means http.DefaultTransport.
	Base http.RoundTripper
}

// RoundTrip sets traceparent and calls Base.
func (t *Transport) RoundTrip(r *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	if sc, ok := SpanFromContext(r.Context()); ok {
		r = r.Clone(r.Context())
		r.Header.Set(TraceparentHeader, sc.String())
	}
	return base.RoundTrip(r)
}
