package logstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// ErrQuery is wrapped by every error a store answers (a non-2xx status).
var ErrQuery = errors.New("log store query failed")

// maxErrorBody bounds how much of an error answer ends up in an error.
const maxErrorBody = 2048

// VictoriaLogs queries a VictoriaLogs server with LogsQL. The zero HTTP
// means http.DefaultClient.
type VictoriaLogs struct {
	// URL is the base URL, e.g. http://127.0.0.1:9428.
	URL string
	// HTTP is the client; nil means http.DefaultClient.
	HTTP *http.Client
}

// Query runs a LogsQL query (e.g. `trace.id:"4bf9..."`) and returns at most
// limit matching lines (0 means the server's default, every match), newest
// first as VictoriaLogs sorts them. VictoriaLogs' _msg and _time are also
// returned as message and @timestamp, so results look like Elasticsearch's.
func (v VictoriaLogs) Query(ctx context.Context, logsql string, limit int) ([]map[string]any, error) {
	form := url.Values{"query": {logsql}}
	if limit > 0 {
		form.Set("limit", strconv.Itoa(limit))
	}
	resp, err := post(ctx, v.HTTP, "victorialogs", "query", strings.TrimRight(v.URL, "/")+"/select/logsql/query",
		"application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []map[string]any
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			return nil, fmt.Errorf("victorialogs query: decode line %q: %w", truncate(line, 200), err)
		}
		if _, ok := m["message"]; !ok && m["_msg"] != nil {
			m["message"] = m["_msg"]
		}
		if _, ok := m["@timestamp"]; !ok && m["_time"] != nil {
			m["@timestamp"] = m["_time"]
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("victorialogs query: read: %w", err)
	}
	return out, nil
}

// Elasticsearch searches the compose stack's Elasticsearch.
type Elasticsearch struct {
	// URL is the base URL, e.g. http://127.0.0.1:9200.
	URL string
	// Index is the index pattern searched; empty means faultlab-logs-*.
	Index string
	// Size is the most hits returned; zero means 100.
	Size int
	// HTTP is the client; nil means http.DefaultClient.
	HTTP *http.Client
}

// Search runs a query_string query (Lucene syntax, e.g.
// `trace.id:"4bf9..." AND log.level:error`) and returns the hits' _source
// documents, oldest first, flattened to dotted keys ("trace.id") so they
// look like VictoriaLogs.Query's results.
func (e Elasticsearch) Search(ctx context.Context, query string) ([]map[string]any, error) {
	index, size := e.Index, e.Size
	if index == "" {
		index = "faultlab-logs-*"
	}
	if size <= 0 {
		size = 100
	}
	body, err := json.Marshal(map[string]any{
		"size":  size,
		"query": map[string]any{"query_string": map[string]any{"query": query}},
		"sort":  []any{map[string]any{"@timestamp": map[string]any{"order": "asc", "unmapped_type": "date"}}},
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch search: %w", err)
	}
	u := strings.TrimRight(e.URL, "/") + "/" + url.PathEscape(index) + "/_search?ignore_unavailable=true&allow_no_indices=true"
	resp, err := post(ctx, e.HTTP, "elasticsearch", "search", u, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var r struct {
		Hits struct {
			Hits []struct {
				Source map[string]any `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return nil, fmt.Errorf("elasticsearch search: decode: %w", err)
	}
	out := make([]map[string]any, 0, len(r.Hits.Hits))
	for _, h := range r.Hits.Hits {
		flat := map[string]any{}
		Flatten("", h.Source, flat)
		out = append(out, flat)
	}
	return out, nil
}

// Flatten writes the leaves of the nested object src into dst under dotted
// keys: {"trace": {"id": "x"}} becomes {"trace.id": "x"}. Keys that are
// dotted already stay as they are; arrays are leaves.
func Flatten(prefix string, src map[string]any, dst map[string]any) {
	for k, v := range src {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if m, ok := v.(map[string]any); ok && len(m) > 0 {
			Flatten(key, m, dst)
			continue
		}
		dst[key] = v
	}
}

func client(c *http.Client) *http.Client {
	if c == nil {
		return http.DefaultClient
	}
	return c
}

// post sends body to u as contentType with hc (nil: the default) and
// returns the 200 answer, for the caller to read and close. Errors name
// the store and the operation ("victorialogs query: …").
func post(ctx context.Context, hc *http.Client, store, op, u, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", store, op, err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := client(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", store, op, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		return nil, statusError(store, resp)
	}
	return resp, nil
}

func statusError(store string, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return fmt.Errorf("%s: %w: %s: %s", store, ErrQuery, resp.Status, bytes.TrimSpace(b))
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
