package resilience

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/faultlab/faultlab/internal/syncbuf"
	"github.com/faultlab/faultlab/observability"
)

// upstream is an httptest server on 127.0.0.1:0 that counts its hits.
type upstream struct {
	*httptest.Server
	hits atomic.Int64
}

func newUpstream(tb testing.TB, h http.HandlerFunc) *upstream {
	tb.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		h(w, r)
	}))
	tb.Cleanup(u.Close)
	return u
}

func status(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(code) }
}

// logBuf collects log lines; safe for concurrent use.
type logBuf struct{ syncbuf.Buffer }

// count counts the lines whose event.action is action.
func (l *logBuf) count(action string) int {
	return strings.Count(l.String(), `"event.action":"`+action+`"`)
}

type rig struct {
	t    *Transport
	reg  *prometheus.Registry
	m    *Metrics
	logs *logBuf
}

// newRig builds a Transport with its own registry and a debug log buffer.
func newRig(tb testing.TB, cfg Config) *rig {
	tb.Helper()
	r := &rig{reg: prometheus.NewRegistry(), logs: &logBuf{}}
	r.m = NewMetrics(r.reg)
	if cfg.Name == "" {
		cfg.Name = "product"
	}
	cfg.Metrics = r.m
	cfg.Logger = observability.NewLogger(observability.LogOptions{Service: "test", Writer: r.logs, Level: slog.LevelDebug})
	t, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	r.t = t
	tb.Cleanup(func() {
		if b, ok := t.base.(*http.Transport); ok {
			b.CloseIdleConnections()
		}
	})
	return r
}

func (r *rig) get(tb testing.TB, url string) (*http.Response, error) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return r.do(req)
}

// do sends req and, for a response, reads and closes its body.
func (r *rig) do(req *http.Request) (*http.Response, error) {
	resp, err := r.t.Client().Do(req)
	if err == nil {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
	}
	return resp, err
}

func (r *rig) counter(tb testing.TB, c *prometheus.CounterVec, labels ...string) float64 {
	tb.Helper()
	return value(tb, c.WithLabelValues(labels...))
}

// value reads a counter or gauge (testutil would pull a dependency that
// go.mod does not have).
func value(tb testing.TB, m prometheus.Metric) float64 {
	tb.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		tb.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

func zero() float64 { return 0 }
