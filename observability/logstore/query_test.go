package logstore_test

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/faultlab/faultlab/observability/logstore"
)

func TestVictoriaLogsQuery(t *testing.T) {
	var got url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/select/logsql/query" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path, http.StatusNotFound)
			return
		}
		if err := r.ParseForm(); err != nil {
			t.Errorf("parse form: %v", err)
		}
		got = r.PostForm
		io.WriteString(w, `{"_msg":"GET / 200","_time":"2026-01-02T03:04:05Z","trace.id":"abc","service.name":"gateway"}`+"\n\n"+
			`{"_msg":"breaker open","_time":"2026-01-02T03:04:06Z","trace.id":"abc","service.name":"order","message":"kept"}`+"\n")
	}))
	t.Cleanup(srv.Close)

	res, err := logstore.VictoriaLogs{URL: srv.URL + "/"}.Query(t.Context(), `trace.id:"abc"`, 5)
	if err != nil {
		t.Fatal(err)
	}
	if q, l := got.Get("query"), got.Get("limit"); q != `trace.id:"abc"` || l != "5" {
		t.Errorf("sent query=%q limit=%q", q, l)
	}
	if len(res) != 2 {
		t.Fatalf("got %d results, want 2: %v", len(res), res)
	}
	if res[0]["message"] != "GET / 200" || res[0]["@timestamp"] != "2026-01-02T03:04:05Z" || res[0]["service.name"] != "gateway" {
		t.Errorf("first result not normalised to ECS names: %v", res[0])
	}
	if res[1]["message"] != "kept" {
		t.Errorf("an existing message field was overwritten: %v", res[1])
	}
}

func TestVictoriaLogsQueryErrors(t *testing.T) {
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr error
	}{
		{"bad query", http.StatusBadRequest, "cannot parse query", logstore.ErrQuery},
		{"not ndjson", http.StatusOK, "<html>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			t.Cleanup(srv.Close)
			_, err := logstore.VictoriaLogs{URL: srv.URL}.Query(t.Context(), "*", 0)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
		})
	}
}

// esResponse is an Elasticsearch 8 _search answer with nested _source, as
// Filebeat's expand_keys writes it.
const esResponse = `{
  "took": 3, "timed_out": false,
  "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
  "hits": {
    "total": {"value": 2, "relation": "eq"},
    "max_score": null,
    "hits": [
      {"_index": "faultlab-logs-2026.01.02", "_id": "1", "_score": null, "sort": [1],
       "_source": {"@timestamp": "2026-01-02T03:04:05.000Z", "message": "GET /v1/orders 502",
         "log": {"level": "error"}, "service": {"name": "gateway"}, "trace": {"id": "abc"},
         "http": {"response": {"status_code": 502}}, "labels": {"upstream": "order"}}},
      {"_index": "faultlab-logs-2026.01.02", "_id": "2", "_score": null, "sort": [2],
       "_source": {"@timestamp": "2026-01-02T03:04:06.000Z", "message": "breaker open",
         "service.name": "order", "trace": {"id": "abc"}, "event": {"action": "breaker.state_change"}}}
    ]
  }
}`

func TestElasticsearchSearch(t *testing.T) {
	var gotPath string
	var gotBody map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.Path
		if err := json.NewDecoder(r.Body).Decode(&gotBody); err != nil {
			t.Errorf("decode body: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, esResponse)
	}))
	t.Cleanup(srv.Close)

	res, err := logstore.Elasticsearch{URL: srv.URL}.Search(t.Context(), `trace.id:"abc"`)
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/faultlab-logs-*/_search" {
		t.Errorf("path %q", gotPath)
	}
	qs, _ := gotBody["query"].(map[string]any)["query_string"].(map[string]any)
	if qs["query"] != `trace.id:"abc"` || gotBody["size"] != float64(100) {
		t.Errorf("body %v", gotBody)
	}
	want := []map[string]any{
		{"@timestamp": "2026-01-02T03:04:05.000Z", "message": "GET /v1/orders 502", "log.level": "error",
			"service.name": "gateway", "trace.id": "abc", "http.response.status_code": float64(502), "labels.upstream": "order"},
		{"@timestamp": "2026-01-02T03:04:06.000Z", "message": "breaker open", "service.name": "order",
			"trace.id": "abc", "event.action": "breaker.state_change"},
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("results\n got %v\nwant %v", res, want)
	}
}

func TestElasticsearchSearchError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":{"type":"search_phase_execution_exception","reason":"all shards failed"},"status":400}`)
	}))
	t.Cleanup(srv.Close)
	_, err := logstore.Elasticsearch{URL: srv.URL, Index: "x"}.Search(t.Context(), "((")
	if !errors.Is(err, logstore.ErrQuery) {
		t.Fatalf("error %v is not ErrQuery", err)
	}
}
