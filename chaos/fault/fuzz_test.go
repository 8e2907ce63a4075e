package fault_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/internal/problem"
)

func serve(h http.Handler, method string, body []byte) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, fault.Path, bytes.NewReader(body))
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// normal is f as the injector stores it: probability 0 means 1.
func normal(f fault.Fault) fault.Fault {
	if f.Probability == 0 {
		f.Probability = 1
	}
	return f
}

// FuzzFaultJSON posts any body to the control API: the answer is 201 or a
// 4xx, never 5xx; it is 201 exactly when the body decodes to a valid Fault;
// then GET lists that fault, and Set of the same value lists it too.
func FuzzFaultJSON(f *testing.F) {
	for _, s := range []string{
		`{"name":"p500","kind":"status","status":500,"retry_after":2,"path_prefix":"/payments"}`,
		`{"name":"slow","kind":"delay","delay":"250ms","probability":0.5}`,
		`{"name":"drip","kind":"slow_body","bytes_per_second":100}`,
		`{"name":"bad name","kind":"status","status":500}`,
		`{"name":"x","kind":"status","status":200}`,
		`{"name":"x","kind":"delay","delay":"soon"}`,
		`{"name":"x","kind":"delay","delay":"-1s"}`,
		`{"name":"x","kind":"status","status":503,"probability":0}`,
		`{"name":"x","kind":"status","status":503,"probability":1.5}`,
		`{"name":"x","kind":"status","status":503,"path_prefix":"payments"}`,
		`{"name":"x","kind":"status","status":503,"extra":true}`,
		`{"name":"x","kind":"status","status":"503"}`,
		`{"name":"x","kind":"status","status":503}{}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		in := fault.New(fault.Config{})
		h := in.Handler()
		w := serve(h, http.MethodPost, body)
		if w.Code != http.StatusCreated && (w.Code < 400 || w.Code > 499) {
			t.Fatalf("POST %q: status %d %s", body, w.Code, w.Body)
		}

		var want fault.Fault
		decErr := json.Unmarshal(body, &want)
		valErr := want.Validate()
		// The shared decoder refuses a key given twice (problem.DuplicateKey).
		_, dup := problem.DuplicateKey(body)
		valid := decErr == nil && valErr == nil && !dup
		if valErr != nil && !errors.Is(valErr, fault.ErrInvalid) {
			t.Fatalf("Validate error %v does not wrap ErrInvalid", valErr)
		}
		if (w.Code == http.StatusCreated) != valid && len(body) < 8<<10 {
			t.Fatalf("POST %q: status %d, but Unmarshal: %v, Validate: %v; answer %s", body, w.Code, decErr, valErr, w.Body)
		}
		if w.Code != http.StatusCreated {
			if got := in.List(); len(got) != 0 {
				t.Fatalf("rejected POST %q left faults %+v", body, got)
			}
			return
		}

		var echoed fault.Fault
		if err := json.Unmarshal(w.Body.Bytes(), &echoed); err != nil {
			t.Fatalf("201 body %s: %v", w.Body, err)
		}
		if echoed != want {
			t.Fatalf("201 echoed %+v, want %+v", echoed, want)
		}
		list := serve(h, http.MethodGet, nil)
		var listed []fault.Fault
		if err := json.Unmarshal(list.Body.Bytes(), &listed); err != nil || list.Code != http.StatusOK {
			t.Fatalf("GET: %d %s: %v", list.Code, list.Body, err)
		}
		if !reflect.DeepEqual(listed, []fault.Fault{normal(want)}) {
			t.Fatalf("GET listed %+v, want [%+v]", listed, normal(want))
		}

		// Set of the same value replaces it in place: still one fault.
		if err := in.Set(want); err != nil {
			t.Fatalf("Set(%+v) of a fault the API accepted: %v", want, err)
		}
		if got := in.List(); !reflect.DeepEqual(got, []fault.Fault{normal(want)}) {
			t.Fatalf("after Set: %+v", got)
		}
	})
}
