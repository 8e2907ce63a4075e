package problem_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/internal/problem"
)

// fuzzBody has fields of several JSON types, so type errors, unknown fields
// and nesting are all reachable.
type fuzzBody struct {
	Name  string            `json:"name"`
	N     int64             `json:"n"`
	OK    bool              `json:"ok"`
	Tags  []string          `json:"tags"`
	Inner *struct{ X int8 } `json:"inner"`
}

func decode(ct string, body []byte, max int64) (fuzzBody, error) {
	r := httptest.NewRequest(http.MethodPost, "/things", bytes.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	var dst fuzzBody
	err := problem.DecodeJSON(httptest.NewRecorder(), r, &dst, max)
	return dst, err
}

// FuzzDecodeJSON: any content type, body and limit gives nil or a 4xx
// *problem.Error; success implies a JSON content type, a body within the
// limit holding valid JSON, and a value that decodes again to itself.
func FuzzDecodeJSON(f *testing.F) {
	f.Add("application/json", []byte(`{"name":"a","n":1,"ok":true,"tags":["x"],"inner":{"X":1}}`), int64(0))
	f.Add("application/problem+json; charset=utf-8", []byte(`{}`), int64(2))
	f.Add("application/json", []byte(`{}   `), int64(3))
	f.Add("text/plain", []byte(`{}`), int64(0))
	f.Add("", []byte(`{}`), int64(0))
	f.Add("application/json", []byte(`{"n":"1"}`), int64(0))
	f.Add("application/json", []byte(`{"nope":1}`), int64(0))
	f.Add("application/json", []byte(`{} {}`), int64(0))
	f.Add("application/json", []byte(`{"name":`), int64(0))
	f.Add("application/json", []byte(`[1,2]`), int64(0))
	f.Add("application/json", []byte(`{"inner":{"X":300}}`), int64(-5))
	f.Fuzz(func(t *testing.T, ct string, body []byte, max int64) {
		got, err := decode(ct, body, max)
		limit := max
		if limit <= 0 {
			limit = problem.DefaultMaxBody
		}
		if err != nil {
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("error %T %v is not a *problem.Error", err, err)
			}
			if p.Status < 400 || p.Status > 499 {
				t.Fatalf("status %d for bad input: %v", p.Status, p)
			}
			if p.Status == http.StatusRequestEntityTooLarge && int64(len(body)) <= limit {
				t.Fatalf("413 for %d bytes under a limit of %d", len(body), limit)
			}
			return
		}
		mt, _, perr := mime.ParseMediaType(ct)
		if perr != nil || (mt != "application/json" && !strings.HasSuffix(mt, "+json")) {
			t.Fatalf("accepted content type %q", ct)
		}
		if int64(len(body)) > limit {
			t.Fatalf("accepted %d bytes over a limit of %d", len(body), limit)
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		again, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		back, err := decode("application/json", again, 0)
		if err != nil {
			t.Fatalf("re-encoded value %s rejected: %v", again, err)
		}
		if !reflect.DeepEqual(back, got) {
			t.Fatalf("round trip: %+v, want %+v", back, got)
		}
	})
}
