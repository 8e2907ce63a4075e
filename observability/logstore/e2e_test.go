package logstore_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/observability/logstore"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
)

// TestFilebeatToVictoriaLogs ships ECS lines written by the lab's own logger
// through real Filebeat (filebeat.local.yml) into real VictoriaLogs and reads
// them back by trace.id.
func TestFilebeatToVictoriaLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping in -short: starts VictoriaLogs and Filebeat")
	}
	vl := logstoretest.VictoriaLogs(t)
	logDir := t.TempDir()

	// One file per service, as the lab writes them. Files exist before
	// Filebeat starts (gateway) and appear after (order).
	gw := openLog(t, filepath.Join(logDir, "gateway.log"))
	logstoretest.Filebeat(t, "../filebeat/filebeat.local.yml",
		"FAULTLAB_LOG_DIR="+logDir, "FAULTLAB_VLOGS_URL="+vl.URL)
	od := openLog(t, filepath.Join(logDir, "order.log"))

	trace := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	other := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	ctx := observability.ContextWithSpan(t.Context(), trace)

	gwLog := observability.NewLogger(observability.LogOptions{Service: "gateway", Writer: gw})
	odLog := observability.NewLogger(observability.LogOptions{Service: "order", Writer: od})
	gwLog.LogAttrs(ctx, slog.LevelError, "POST /v1/orders 503",
		slog.String(observability.FieldEventAction, "http.request"),
		slog.Int("http.response.status_code", 503))
	odLog.LogAttrs(ctx, slog.LevelWarn, "breaker to payment opened",
		slog.String(observability.FieldEventAction, "breaker.state_change"),
		slog.String(observability.FieldUpstream, "payment"),
		slog.String("labels.to", "open"))
	gwLog.LogAttrs(observability.ContextWithSpan(t.Context(), other), slog.LevelInfo, "another request",
		slog.String(observability.FieldEventAction, "http.request"))

	q := logstore.VictoriaLogs{URL: vl.URL}
	var res []map[string]any
	deadline := time.Now().Add(45 * time.Second)
	for {
		var err error
		res, err = q.Query(t.Context(), `trace.id:"`+trace.TraceID+`"`, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(res) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 45s, %d lines of trace %s in VictoriaLogs, want 2: %v", len(res), trace.TraceID, res)
		}
		select {
		case <-t.Context().Done():
			t.Fatal(t.Context().Err())
		case <-time.After(200 * time.Millisecond):
		}
	}

	sort.Slice(res, func(i, j int) bool { return res[i]["service.name"].(string) < res[j]["service.name"].(string) })
	want := []map[string]string{
		{"service.name": "gateway", "message": "POST /v1/orders 503", "log.level": "error",
			"event.action": "http.request", "http.response.status_code": "503", "ecs.version": "8.11.0"},
		{"service.name": "order", "message": "breaker to payment opened", "log.level": "warn",
			"event.action": "breaker.state_change", "labels.upstream": "payment", "labels.to": "open"},
	}
	for i, w := range want {
		if res[i]["trace.id"] != trace.TraceID || res[i]["span.id"] != trace.SpanID {
			t.Errorf("line %d has trace %v span %v", i, res[i]["trace.id"], res[i]["span.id"])
		}
		for k, v := range w {
			if got := res[i][k]; got != v {
				t.Errorf("line %d: %s = %v, want %q (line %v)", i, k, got, v, res[i])
			}
		}
		// The stream is the service, so per-service queries are cheap.
		if s, _ := res[i]["_stream"].(string); !strings.Contains(s, w["service.name"]) {
			t.Errorf("line %d: _stream %q does not name the service", i, s)
		}
	}

	// The third line arrived too, but under its own trace.
	ctx2, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		r, err := q.Query(ctx2, `trace.id:"`+other.TraceID+`"`, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(r) == 1 {
			if r[0]["message"] != "another request" {
				t.Errorf("other trace: %v", r[0])
			}
			break
		}
		select {
		case <-ctx2.Done():
			t.Fatalf("other trace never arrived: %v", r)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func openLog(tb testing.TB, path string) *os.File {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	return f
}
