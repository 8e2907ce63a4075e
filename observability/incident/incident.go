package incident

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/observability/logstore"
)

// ErrBadTraceID is returned for a trace id that is not 32 lowercase hex
// digits (the W3C traceparent form every faultlab service logs).
var ErrBadTraceID = errors.New("trace id must be 32 lowercase hex digits")

// ErrNotFound is returned by Timeline when no line carries the trace id.
var ErrNotFound = errors.New("no log lines for this trace")

var traceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// ValidTraceID reports whether id is a W3C trace id (32 lowercase hex
// digits, not all zero). Only valid ids reach a store's query language.
func ValidTraceID(id string) bool {
	return traceIDPattern.MatchString(id) && id != strings.Repeat("0", 32)
}

// Filter narrows a timeline. The zero value keeps every line.
type Filter struct {
	// Since drops lines older than this instant; zero keeps all.
	Since time.Time
	// Service keeps only this service's lines (service.name); empty keeps all.
	Service string
}

func (f Filter) keep(e Event) bool {
	if !f.Since.IsZero() && !e.Time.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	return f.Service == "" || e.Service == f.Service
}

// Source finds the log lines of one trace. Lines are flat maps with dotted
// ECS keys ("trace.id", "http.response.status_code"). A Source may apply
// the filter itself; Timeline applies it again.
type Source interface {
	Lines(ctx context.Context, traceID string, f Filter) ([]map[string]any, error)
}

// Event is one log line of a trace, with the fields a timeline shows.
type Event struct {
	Time     time.Time
	Service  string
	Action   string // event.action
	Level    string
	Outcome  string // event.outcome
	Method   string // http.request.method
	Route    string // http.route
	Path     string // url.path
	Status   int    // http.response.status_code
	Duration time.Duration
	Upstream string // labels.upstream
	// Details are the remaining labels.* fields (attempt, reason, from, to,
	// attempts, …) and error.message, by key without the "labels." prefix.
	Details map[string]string
	Message string
	SpanID  string
	// Fields is the whole line.
	Fields map[string]any
}

// Timeline reads the lines of traceID from src, keeps those f allows, and
// returns them as events sorted by @timestamp (ties keep the source's
// order). It returns ErrNotFound when nothing is left.
func Timeline(ctx context.Context, src Source, traceID string, f Filter) ([]Event, error) {
	if !ValidTraceID(traceID) {
		return nil, fmt.Errorf("incident: %q: %w", traceID, ErrBadTraceID)
	}
	lines, err := src.Lines(ctx, traceID, f)
	if err != nil {
		return nil, fmt.Errorf("incident: %w", err)
	}
	var evs []Event
	for _, l := range lines {
		if str(l[observability.FieldTraceID]) != traceID {
			continue
		}
		e := toEvent(l)
		if f.keep(e) {
			evs = append(evs, e)
		}
	}
	if len(evs) == 0 {
		return nil, fmt.Errorf("incident: trace %s: %w", traceID, ErrNotFound)
	}
	sort.SliceStable(evs, func(i, j int) bool { return evs[i].Time.Before(evs[j].Time) })
	return evs, nil
}

func toEvent(l map[string]any) Event {
	e := Event{
		Service:  str(l["service.name"]),
		Action:   str(l[observability.FieldEventAction]),
		Level:    str(l["log.level"]),
		Outcome:  str(l[observability.FieldEventOutcome]),
		Method:   str(l["http.request.method"]),
		Route:    str(l["http.route"]),
		Path:     str(l["url.path"]),
		Upstream: str(l[observability.FieldUpstream]),
		Message:  str(l["message"]),
		SpanID:   str(l[observability.FieldSpanID]),
		Fields:   l,
	}
	if t, err := time.Parse(time.RFC3339Nano, str(l["@timestamp"])); err == nil {
		e.Time = t
	}
	if n, ok := num(l["http.response.status_code"]); ok {
		e.Status = int(n)
	}
	if n, ok := num(l[observability.FieldEventDuration]); ok {
		e.Duration = time.Duration(n)
	}
	for k, v := range l {
		switch {
		case k == observability.FieldUpstream:
		case strings.HasPrefix(k, "labels."):
			if e.Details == nil {
				e.Details = map[string]string{}
			}
			e.Details[strings.TrimPrefix(k, "labels.")] = str(v)
		case k == observability.FieldErrorMessage:
			if e.Details == nil {
				e.Details = map[string]string{}
			}
			e.Details["error"] = str(v)
		}
	}
	return e
}

// str renders a JSON value as text; stores return numbers as float64 or,
// VictoriaLogs, as strings.
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case json.Number:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case json.Number:
		f, err := x.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(x, 64)
		return f, err == nil
	}
	return 0, false
}

// Render writes events as an aligned table: offset from the first event,
// service, action, request, status, duration in ms, upstream, details and
// message.
func Render(w io.Writer, evs []Event) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "OFFSET\tSERVICE\tACTION\tREQUEST\tSTATUS\tDURATION\tUPSTREAM\tDETAILS\tMESSAGE")
	var t0 time.Time
	if len(evs) > 0 {
		t0 = evs[0].Time
	}
	for _, e := range evs {
		req := e.Method
		if p := e.Route; p != "" && p != "unmatched" {
			req = strings.TrimSpace(req + " " + strings.TrimPrefix(p, e.Method+" "))
		} else if e.Path != "" {
			req = strings.TrimSpace(req + " " + e.Path)
		}
		status, dur := "-", "-"
		if e.Status != 0 {
			status = strconv.Itoa(e.Status)
		}
		if e.Duration != 0 {
			dur = strconv.FormatFloat(float64(e.Duration)/float64(time.Millisecond), 'f', 1, 64) + "ms"
		}
		fmt.Fprintf(tw, "+%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			fmtOffset(e.Time.Sub(t0)), dash(e.Service), dash(e.Action), dash(req), status, dur,
			dash(e.Upstream), dash(details(e.Details)), oneLine(e.Message))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("incident: render: %w", err)
	}
	return nil
}

func fmtOffset(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 0, 64) + "ms"
}

func details(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+oneLine(m[k]))
	}
	return strings.Join(parts, " ")
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// VictoriaLogs reads lines from VictoriaLogs with a LogsQL query.
type VictoriaLogs struct {
	Client logstore.VictoriaLogs
}

// Lines implements Source.
func (v VictoriaLogs) Lines(ctx context.Context, traceID string, f Filter) ([]map[string]any, error) {
	q := `trace.id:"` + traceID + `"`
	if f.Service != "" {
		q += ` service.name:` + strconv.Quote(f.Service)
	}
	if !f.Since.IsZero() {
		q += ` _time:>=` + f.Since.UTC().Format(time.RFC3339Nano)
	}
	return v.Client.Query(ctx, q, 0)
}

// Elasticsearch reads lines from Elasticsearch with a query_string search.
type Elasticsearch struct {
	Client logstore.Elasticsearch
}

// Lines implements Source.
func (e Elasticsearch) Lines(ctx context.Context, traceID string, f Filter) ([]map[string]any, error) {
	q := `trace.id:"` + traceID + `"`
	if f.Service != "" {
		q += ` AND service.name:` + strconv.Quote(f.Service)
	}
	if !f.Since.IsZero() {
		q += ` AND @timestamp:["` + f.Since.UTC().Format(time.RFC3339Nano) + `" TO *]`
	}
	c := e.Client
	if c.Size == 0 {
		c.Size = 1000
	}
	return c.Search(ctx, q)
}

// Files reads the NDJSON log files (*.log) of a directory, as the lab
// writes them (var/logs/<service>.log).
type Files struct {
	Dir string
}

// Lines implements Source. Lines that are not JSON objects are skipped.
func (s Files) Lines(ctx context.Context, traceID string, f Filter) ([]map[string]any, error) {
	paths, err := filepath.Glob(filepath.Join(s.Dir, "*.log"))
	if err != nil {
		return nil, fmt.Errorf("log files: %w", err)
	}
	if len(paths) == 0 {
		if _, err := os.Stat(s.Dir); err != nil {
			return nil, fmt.Errorf("log files: %w", err)
		}
		return nil, fmt.Errorf("log files: no *.log in %s", s.Dir)
	}
	var out []map[string]any
	needle := []byte(traceID)
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		lines, err := scanFile(p, needle)
		if err != nil {
			return nil, err
		}
		out = append(out, lines...)
	}
	return out, nil
}

func scanFile(path string, needle []byte) ([]map[string]any, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("log files: %w", err)
	}
	defer fh.Close()
	var out []map[string]any
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		b := sc.Bytes()
		if !bytes.Contains(b, needle) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		flat := map[string]any{}
		logstore.Flatten("", m, flat)
		out = append(out, flat)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("log files: %s: %w", path, err)
	}
	return out, nil
}
