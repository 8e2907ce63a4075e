package observability

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MiddlewareConfig configures Middleware. The zero value works: it logs
// nowhere and records no metrics.
type MiddlewareConfig struct {
	// Logger receives one access log line per request.
	Logger *slog.Logger
	// Registerer receives the RED metrics.
	Registerer prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// UserID returns the authenticated user of a finished request, if any.
	UserID func(*http.Request) string
	// Quiet lists routes whose successful requests are not logged
	// (health checks and metrics scrapes).
	Quiet []string
}

type routeHolder struct {
	route  string
	userID string
}

type routeKey struct{}

// SetRoute records the matched route pattern for metrics and logs.
func SetRoute(ctx context.Context, route string) {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		h.route = route
	}
}

// SetUserID records the authenticated user for the access log.
func SetUserID(ctx context.Context, id string) {
	if h, ok := ctx.Value(routeKey{}).(*routeHolder); ok {
		h.userID = id
	}
}

// Middleware starts or continues the trace, then records RED metrics and an
// ECS access log line for every request.
func Middleware(c MiddlewareConfig) func(http.Handler) http.Handler {
	if c.Logger == nil {
		c.Logger = Discard()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	m := newRED(c.Registerer)
	quiet := map[string]bool{}
	for _, q := range c.Quiet {
		quiet[q] = true
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := c.Now()
			sc := StartSpan(r)
			h := &routeHolder{route: "unmatched"}
			ctx := context.WithValue(ContextWithSpan(r.Context(), sc), routeKey{}, h)
			r = r.WithContext(ctx)
			rw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
			m.inflight.Inc()
			defer m.inflight.Dec()
			next.ServeHTTP(rw, r)
			d := c.Now().Sub(start)
			code := strconv.Itoa(rw.status)
			m.requests.WithLabelValues(h.route, r.Method, code).Inc()
			m.duration.WithLabelValues(h.route, r.Method).Observe(d.Seconds())
			if quiet[h.route] && rw.status < 400 {
				return
			}
			level := slog.LevelInfo
			outcome := "success"
			if rw.status >= 500 {
				level, outcome = slog.LevelError, "failure"
			} else if rw.status >= 400 {
				level, outcome = slog.LevelWarn, "failure"
			}
			attrs := []slog.Attr{
				slog.String(FieldEventAction, "http.request"),
				slog.String(FieldEventOutcome, outcome),
				slog.Int64(FieldEventDuration, d.Nanoseconds()),
				slog.String("http.request.method", r.Method),
				slog.Int("http.response.status_code", rw.status),
				slog.Int64("http.response.body.bytes", rw.bytes),
				slog.String("url.path", r.URL.Path),
				slog.String("http.route", h.route),
			}
			uid := h.userID
			if uid == "" && c.UserID != nil {
				uid = c.UserID(r)
			}
			if uid != "" {
				attrs = append(attrs, slog.String(FieldUserID, uid))
			}
			c.Logger.LogAttrs(ctx, level, r.Method+" "+h.route+" "+code, attrs...)
		})
	}
}

type statusWriter struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status = code
		w.wroteHeader = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush supports streaming handlers.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
