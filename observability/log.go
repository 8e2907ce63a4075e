package observability

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"time"
)

// ECS field names used across the lab.
const (
	FieldEventAction   = "event.action"
	FieldEventOutcome  = "event.outcome"
	FieldEventDuration = "event.duration"
	FieldEventKind     = "event.kind"
	FieldErrorMessage  = "error.message"
	FieldTraceID       = "trace.id"
	FieldSpanID        = "span.id"
	FieldUserID        = "user.id"
	FieldUpstream      = "labels.upstream"
)

// LogOptions configures NewLogger. The zero value logs at info level to
// io.Discard.
type LogOptions struct {
	// Service is written as service.name on every line.
	Service string
	// Writer receives one JSON object per line. Nil means io.Discard.
	Writer io.Writer
	// Level is the minimum level; zero is info.
	Level slog.Leveler
}

// NewLogger returns a logger that writes ECS JSON. It is safe for
// concurrent use.
func NewLogger(o LogOptions) *slog.Logger {
	w := o.Writer
	if w == nil {
		w = io.Discard
	}
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level:       o.Level,
		ReplaceAttr: replaceAttr,
	})
	var attrs []slog.Attr
	attrs = append(attrs, slog.String("ecs.version", "8.11.0"))
	if o.Service != "" {
		attrs = append(attrs, slog.String("service.name", o.Service))
	}
	return slog.New(&ctxHandler{Handler: h.WithAttrs(attrs)})
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			a.Key = "@timestamp"
			if t, ok := a.Value.Any().(time.Time); ok {
				a.Value = slog.StringValue(t.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
			}
			return a
		case slog.LevelKey:
			a.Key = "log.level"
			a.Value = slog.StringValue(strings.ToLower(a.Value.String()))
			return a
		case slog.MessageKey:
			a.Key = "message"
			return a
		}
	}
	if Sensitive(a.Key) {
		return slog.String(a.Key, "[REDACTED]")
	}
	if a.Value.Kind() == slog.KindDuration && a.Key == FieldEventDuration {
		a.Value = slog.Int64Value(a.Value.Duration().Nanoseconds())
	}
	return a
}

// Sensitive reports whether a log key names something that must never be
// logged: passwords, tokens, secrets, keys and Authorization headers.
func Sensitive(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"password", "token", "secret", "authorization", "api_key", "apikey", "x-gateway-key", "x-service-key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// ctxHandler adds trace.id and span.id from the context.
type ctxHandler struct{ slog.Handler }

func (h *ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if sc, ok := SpanFromContext(ctx); ok {
		r.AddAttrs(slog.String(FieldTraceID, sc.TraceID), slog.String(FieldSpanID, sc.SpanID))
	}
	return h.Handler.Handle(ctx, r)
}

func (h *ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &ctxHandler{h.Handler.WithAttrs(as)}
}

func (h *ctxHandler) WithGroup(name string) slog.Handler {
	return &ctxHandler{h.Handler.WithGroup(name)}
}

// Discard is a logger that drops everything, for tests and zero configs.
func Discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
