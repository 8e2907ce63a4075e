package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/observability"
)

func incidentNoEnv(string) string { return "" }

func TestIncidentUsageErrors(t *testing.T) {
	id := observability.NewTraceID()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no trace id", nil, "want exactly one trace id, got 0"},
		{"two trace ids", []string{id, id}, "want exactly one trace id, got 2"},
		{"short id", []string{"abc123"}, `"abc123" is not a trace id`},
		{"upper-case id", []string{strings.ToUpper(id)}, "is not a trace id"},
		{"all-zero id", []string{strings.Repeat("0", 32)}, "is not a trace id"},
		{"both stores", []string{"--victorialogs", "http://a", "--elasticsearch", "http://b", id}, "not both"},
		{"bad since", []string{"--since", "soon", id}, "incident: invalid value"},
		{"negative since", []string{"--since", "-1h", id}, "is negative"},
		{"unknown service", []string{"--service", "billing", id}, `"billing" is not one of`},
		{"unknown flag", []string{"--nope", id}, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), append([]string{"incident"}, tc.args...), &out, &errOut, incidentNoEnv)
			var ue *usageError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v (%T), want a usage error", err, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Errorf("err = %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

func TestIncidentFromLogFiles(t *testing.T) {
	dir := t.TempDir()
	sc := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	ctx := observability.ContextWithSpan(context.Background(), sc)
	for _, svc := range []string{"gateway", "order"} {
		f, err := os.Create(filepath.Join(dir, svc+".log"))
		if err != nil {
			t.Fatal(err)
		}
		observability.NewLogger(observability.LogOptions{Service: svc, Writer: f}).LogAttrs(ctx, slog.LevelError, "POST /v1/orders 503",
			slog.String(observability.FieldEventAction, "http.request"),
			slog.String("http.request.method", "POST"), slog.String("http.route", "/v1/orders"),
			slog.Int("http.response.status_code", 503))
		f.Close()
	}

	t.Run("flags after the id, service from the environment", func(t *testing.T) {
		var out, errOut bytes.Buffer
		env := func(k string) string {
			if k == "FAULTLAB_SERVICE" {
				return "order"
			}
			return ""
		}
		if err := run(context.Background(), []string{"incident", sc.TraceID, "--logs", dir}, &out, &errOut, env); err != nil {
			t.Fatal(err)
		}
		s := out.String()
		if !strings.Contains(s, "trace "+sc.TraceID+": 1 log lines") || !strings.Contains(s, "order") || strings.Contains(s, "gateway") {
			t.Errorf("output:\n%s", s)
		}
	})
	t.Run("all services", func(t *testing.T) {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), []string{"incident", "--logs", dir, "--since", "0", sc.TraceID}, &out, &errOut, incidentNoEnv); err != nil {
			t.Fatal(err)
		}
		if s := out.String(); !strings.Contains(s, "2 log lines") || !strings.Contains(s, "gateway") || !strings.Contains(s, "POST /v1/orders") {
			t.Errorf("output:\n%s", s)
		}
	})
	t.Run("unknown trace", func(t *testing.T) {
		var out, errOut bytes.Buffer
		err := run(context.Background(), []string{"incident", "--logs", dir, observability.NewTraceID()}, &out, &errOut, incidentNoEnv)
		if err == nil || !strings.Contains(err.Error(), "no log lines") {
			t.Errorf("err = %v, want no log lines", err)
		}
	})
}
