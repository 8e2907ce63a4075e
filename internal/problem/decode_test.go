package problem_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/internal/problem"
)

// TestDecodeJSONRefusesDuplicateKeys is issue 10's finding: a body with a
// key given twice was accepted and the last one won.
func TestDecodeJSONRefusesDuplicateKeys(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		dup        string
	}{
		{"top level", `{"name":"a","name":"b"}`, "name"},
		{"differs in case", `{"name":"a","NAME":"b"}`, "NAME"},
		{"nested", `{"inner":{"X":1,"X":2}}`, "X"},
		{"in an array", `{"tags":["a"],"inner":{"X":1},"n":1,"ok":true,"tags":["b"]}`, "tags"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/things", bytes.NewReader([]byte(tc.body)))
			r.Header.Set("Content-Type", "application/json")
			var dst fuzzBody
			err := problem.DecodeJSON(httptest.NewRecorder(), r, &dst, 0)
			var p *problem.Error
			if !errors.As(err, &p) || p.Status != http.StatusBadRequest || !strings.Contains(p.Detail, `duplicate key "`+tc.dup+`"`) {
				t.Fatalf("DecodeJSON(%s) = %v, want 400 naming %q", tc.body, err, tc.dup)
			}
		})
	}
	// Equal keys in different objects are no duplicate.
	r := httptest.NewRequest(http.MethodPost, "/things", strings.NewReader(`{"inner":{"X":1},"tags":[],"name":"X"}`))
	r.Header.Set("Content-Type", "application/json")
	var dst fuzzBody
	if err := problem.DecodeJSON(httptest.NewRecorder(), r, &dst, 0); err != nil {
		t.Fatalf("distinct objects: %v", err)
	}
}
