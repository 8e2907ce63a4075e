package gateway

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/api"
	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
)

var paramRE = regexp.MustCompile(`:([A-Za-z]+)`)

// TestRoutesMatchTheDocument: every route the gateway serves is in
// api/openapi.yaml, and every operation there is a route it serves.
func TestRoutesMatchTheDocument(t *testing.T) {
	gw, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	served := map[string]bool{}
	for _, r := range gw.Routes() {
		served[r.Method+" "+paramRE.ReplaceAllString(r.Path, "{$1}")] = true
	}
	doc, err := apitest.LoadDoc()
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	var missing, extra []string
	for r := range served {
		if !documented[r] {
			missing = append(missing, r)
		}
	}
	for r := range documented {
		if !served[r] {
			extra = append(extra, r)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("served but not in api/openapi.yaml: %q", missing)
	}
	if len(extra) > 0 {
		t.Errorf("in api/openapi.yaml but not served: %q", extra)
	}
	if len(served) < 14 {
		t.Errorf("only %d routes served: %q", len(served), gw.Routes())
	}

	// And the list is what the router does: every documented operation
	// reaches a handler (here, upstreams that refuse connections: 503),
	// never the router's 404 or 405.
	down := "http://127.0.0.1:1"
	probe, err := New(Config{UserURL: down, ProductURL: down, OrderURL: down, PaymentURL: down})
	if err != nil {
		t.Fatal(err)
	}
	for r := range documented {
		method, path, _ := strings.Cut(r, " ")
		t.Run(r, func(t *testing.T) {
			req := httptest.NewRequest(method, strings.ReplaceAll(path, "{id}", "x1"), strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			probe.ServeHTTP(rec, req)
			if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed {
				t.Fatalf("documented, but the router answers %d: %s", rec.Code, rec.Body)
			}
		})
	}
}

// TestServesTheDocument: GET /api/v1/openapi.json and .yaml answer the
// embedded document, through the contract check like any other answer.
func TestServesTheDocument(t *testing.T) {
	gw, err := New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: kittest.Keys.Gateway}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := kittest.Serve(t, apitest.Wrap(t, gw))
	want, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, ct string
		want     []byte
	}{
		{api.PathJSON, "application/json", want},
		{api.PathYAML, api.YAMLContentType, api.YAML()},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := kittest.Call(t, http.MethodGet, srv.URL+tc.path, nil)
			if r.Status != http.StatusOK || r.Header.Get("Content-Type") != tc.ct || !slices.Equal(r.Body, tc.want) {
				t.Fatalf("%d %q, %d bytes (want %d)", r.Status, r.Header.Get("Content-Type"), len(r.Body), len(tc.want))
			}
		})
	}
}
