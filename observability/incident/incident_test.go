package incident_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/observability/incident"
	"github.com/faultlab/faultlab/observability/logstore"
)

// writeTrace writes the log lines of one failing order, as the lab's
// services log them, into dir/<service>.log, plus lines of another trace.
// It returns the failing request's trace id.
func writeTrace(t *testing.T, dir string) string {
	t.Helper()
	logger := func(svc string) *slog.Logger {
		f, err := os.OpenFile(filepath.Join(dir, svc+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return observability.NewLogger(observability.LogOptions{Service: svc, Writer: f, Level: slog.LevelDebug})
	}
	gw, od := logger("gateway"), logger("order")
	sc := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	other := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	ctx := observability.ContextWithSpan(context.Background(), sc)
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	// logAt writes a line stamped at t0+ms, so the order is known without
	// depending on the wall clock.
	logAt := func(l *slog.Logger, ctx context.Context, ms int, level slog.Level, msg string, attrs ...slog.Attr) {
		r := slog.NewRecord(t0.Add(time.Duration(ms)*time.Millisecond), level, msg, 0)
		r.AddAttrs(attrs...)
		if err := l.Handler().Handle(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	// Written out of order across files: order's lines first, the gateway's
	// access line (logged when its request ends) last.
	logAt(od, ctx, 1, slog.LevelWarn, "POST payment /v1/charges retry",
		slog.String(observability.FieldEventAction, "retry.attempt"),
		slog.String(observability.FieldUpstream, "payment"),
		slog.Int("labels.attempt", 2), slog.String("labels.reason", "connection refused"))
	logAt(od, ctx, 13, slog.LevelWarn, "POST payment /v1/charges failure",
		slog.String(observability.FieldEventAction, "upstream.call"),
		slog.String(observability.FieldEventOutcome, "failure"),
		slog.String(observability.FieldUpstream, "payment"),
		slog.String("http.request.method", "POST"), slog.String("url.path", "/v1/charges"),
		slog.Int("http.response.status_code", 0),
		slog.Int64(observability.FieldEventDuration, (12*time.Millisecond).Nanoseconds()),
		slog.Int("labels.attempts", 2),
		slog.String(observability.FieldErrorMessage, "dial tcp: connection refused"),
		slog.String("password", "hunter2"))
	logAt(od, ctx, 15, slog.LevelError, "POST /v1/orders 503",
		slog.String(observability.FieldEventAction, "http.request"),
		slog.String("http.request.method", "POST"), slog.String("http.route", "/v1/orders"),
		slog.String("url.path", "/v1/orders"), slog.Int("http.response.status_code", 503),
		slog.Int64(observability.FieldEventDuration, (15*time.Millisecond).Nanoseconds()))
	logAt(gw, observability.ContextWithSpan(context.Background(), other), 16, slog.LevelInfo, "GET /v1/products 200",
		slog.String(observability.FieldEventAction, "http.request"))
	logAt(gw, ctx, 17, slog.LevelError, "POST /v1/orders 503",
		slog.String(observability.FieldEventAction, "http.request"),
		slog.String("http.request.method", "POST"), slog.String("http.route", "/v1/orders"),
		slog.String("url.path", "/v1/orders"), slog.Int("http.response.status_code", 503),
		slog.Int64(observability.FieldEventDuration, (17*time.Millisecond).Nanoseconds()))
	// Not JSON: skipped, not fatal.
	if err := os.WriteFile(filepath.Join(dir, "junk.log"), []byte("not json "+sc.TraceID+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return sc.TraceID
}

func TestTimelineFromFiles(t *testing.T) {
	dir := t.TempDir()
	id := writeTrace(t, dir)
	src := incident.Files{Dir: dir}

	evs, err := incident.Timeline(t.Context(), src, id, incident.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Service+" "+e.Action)
	}
	want := []string{"order retry.attempt", "order upstream.call", "order http.request", "gateway http.request"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("timeline = %v, want %v", got, want)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].Time.Before(evs[i-1].Time) {
			t.Errorf("event %d at %v before event %d at %v", i, evs[i].Time, i-1, evs[i-1].Time)
		}
	}
	call := evs[1]
	if call.Upstream != "payment" || call.Duration != 12*time.Millisecond || call.Details["attempts"] != "2" ||
		call.Details["error"] != "dial tcp: connection refused" || call.Outcome != "failure" {
		t.Errorf("upstream.call event = %+v", call)
	}
	if gw := evs[3]; gw.Status != 503 || gw.Method != "POST" || gw.Route != "/v1/orders" || gw.Duration != 17*time.Millisecond {
		t.Errorf("gateway event = %+v", gw)
	}

	t.Run("service filter", func(t *testing.T) {
		evs, err := incident.Timeline(t.Context(), src, id, incident.Filter{Service: "gateway"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 || evs[0].Service != "gateway" {
			t.Errorf("got %+v", evs)
		}
	})
	t.Run("since filter", func(t *testing.T) {
		_, err := incident.Timeline(t.Context(), src, id, incident.Filter{Since: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)})
		if !errors.Is(err, incident.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("unknown trace", func(t *testing.T) {
		_, err := incident.Timeline(t.Context(), src, observability.NewTraceID(), incident.Filter{})
		if !errors.Is(err, incident.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("missing dir", func(t *testing.T) {
		_, err := incident.Timeline(t.Context(), incident.Files{Dir: filepath.Join(dir, "nope")}, id, incident.Filter{})
		if !errors.Is(err, os.ErrNotExist) {
			t.Errorf("err = %v, want ErrNotExist", err)
		}
	})

	t.Run("render", func(t *testing.T) {
		var b bytes.Buffer
		if err := incident.Render(&b, evs); err != nil {
			t.Fatal(err)
		}
		out := b.String()
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d lines, want header + 4:\n%s", len(lines), out)
		}
		for i, want := range [][]string{
			{"OFFSET", "SERVICE", "ACTION", "REQUEST", "STATUS", "DURATION", "UPSTREAM", "DETAILS", "MESSAGE"},
			{"+0ms", "order", "retry.attempt", "payment", "attempt=2", "reason=connection refused"},
			{"+12ms", "order", "upstream.call", "POST /v1/charges", "12.0ms", "payment", "attempts=2", "error=dial tcp: connection refused"},
			{"order", "http.request", "POST /v1/orders", "503", "15.0ms"},
			{"+16ms", "gateway", "http.request", "POST /v1/orders", "503", "17.0ms", "POST /v1/orders 503"},
		} {
			for _, w := range want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("line %d %q lacks %q", i, lines[i], w)
				}
			}
		}
		if strings.Contains(out, "hunter2") {
			t.Errorf("rendered a secret:\n%s", out)
		}
		t.Logf("\n%s", out)
	})
}

func TestTimelineRejectsBadTraceID(t *testing.T) {
	for _, id := range []string{"", "abc", strings.Repeat("A", 32), strings.Repeat("0", 32), strings.Repeat("a", 33), `0123456789abcdef0123456789abcde"`} {
		_, err := incident.Timeline(t.Context(), incident.Files{Dir: t.TempDir()}, id, incident.Filter{})
		if !errors.Is(err, incident.ErrBadTraceID) {
			t.Errorf("%q: err = %v, want ErrBadTraceID", id, err)
		}
	}
}

// fileLines returns the NDJSON lines of a trace, for the fake stores.
func fileLines(t *testing.T) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	id := writeTrace(t, dir)
	var out [][]byte
	for _, svc := range []string{"gateway", "order"} {
		b, err := os.ReadFile(filepath.Join(dir, svc+".log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
			if bytes.Contains(l, []byte(id)) {
				out = append(out, l)
			}
		}
	}
	return id, out
}

func TestVictoriaLogsSource(t *testing.T) {
	id, lines := fileLines(t)
	var query string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/select/logsql/query" {
			http.NotFound(w, r)
			return
		}
		query = r.FormValue("query")
		for _, l := range lines {
			// VictoriaLogs answers with _msg and _time and every value a string.
			var m map[string]any
			if err := json.Unmarshal(l, &m); err != nil {
				t.Error(err)
			}
			out := map[string]string{"_msg": m["message"].(string), "_time": m["@timestamp"].(string)}
			for k, v := range m {
				if k != "message" && k != "@timestamp" {
					b, _ := json.Marshal(v)
					out[k] = strings.Trim(string(b), `"`)
				}
			}
			json.NewEncoder(w).Encode(out)
		}
	}))
	defer srv.Close()

	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := incident.VictoriaLogs{Client: logstore.VictoriaLogs{URL: srv.URL}}
	evs, err := incident.Timeline(t.Context(), src, id, incident.Filter{Since: since, Service: "order"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `trace.id:"` + id + `" service.name:"order" _time:>=2026-01-02T03:04:05Z`; query != want {
		t.Errorf("query = %q, want %q", query, want)
	}
	// The fake ignores the service; Timeline filters again.
	if len(evs) != 3 {
		t.Fatalf("%d events, want order's 3: %+v", len(evs), evs)
	}
	if e := evs[2]; e.Status != 503 || e.Duration != 15*time.Millisecond || e.Message != "POST /v1/orders 503" {
		t.Errorf("last event = %+v", e)
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "bad query", http.StatusBadRequest)
	}))
	defer bad.Close()
	_, err = incident.Timeline(t.Context(), incident.VictoriaLogs{Client: logstore.VictoriaLogs{URL: bad.URL}}, id, incident.Filter{})
	if !errors.Is(err, logstore.ErrQuery) {
		t.Errorf("err = %v, want ErrQuery", err)
	}
}

func TestElasticsearchSource(t *testing.T) {
	id, lines := fileLines(t)
	var path, query string
	var size float64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		var body struct {
			Size  float64 `json:"size"`
			Query struct {
				QS struct {
					Query string `json:"query"`
				} `json:"query_string"`
			} `json:"query"`
		}
		b, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(b, &body); err != nil {
			t.Error(err)
		}
		query, size = body.Query.QS.Query, body.Size
		// Elasticsearch returns nested _source documents (Filebeat's
		// expand_keys), newest written first here to exercise the sort.
		var hits []map[string]any
		for i := len(lines) - 1; i >= 0; i-- {
			var flat map[string]any
			json.Unmarshal(lines[i], &flat)
			hits = append(hits, map[string]any{"_source": nest(flat)})
		}
		json.NewEncoder(w).Encode(map[string]any{"hits": map[string]any{"hits": hits}})
	}))
	defer srv.Close()

	src := incident.Elasticsearch{Client: logstore.Elasticsearch{URL: srv.URL, Index: "faultlab-logs-*"}}
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs, err := incident.Timeline(t.Context(), src, id, incident.Filter{Since: since})
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := url.PathUnescape(path); p != "/faultlab-logs-*/_search" {
		t.Errorf("path = %q", path)
	}
	if want := `trace.id:"` + id + `" AND @timestamp:["2026-01-02T03:04:05Z" TO *]`; query != want {
		t.Errorf("query = %q, want %q", query, want)
	}
	if size != 1000 {
		t.Errorf("size = %v, want 1000", size)
	}
	var got []string
	for _, e := range evs {
		got = append(got, e.Service+" "+e.Action)
	}
	if want := "order retry.attempt,order upstream.call,order http.request,gateway http.request"; strings.Join(got, ",") != want {
		t.Errorf("timeline = %v, want %s", got, want)
	}
	if evs[0].Details["attempt"] != "2" || evs[0].Upstream != "payment" {
		t.Errorf("first event = %+v", evs[0])
	}
}

// nest turns dotted keys into nested objects, as Elasticsearch stores them.
func nest(flat map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range flat {
		parts := strings.Split(k, ".")
		m := out
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return out
}
