package chaos_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
)

// validationError reports whether err is one of the validation sentinels.
func validationError(err error) bool {
	return errors.Is(err, chaos.ErrScenario) || errors.Is(err, toxi.ErrToxic) || errors.Is(err, fault.ErrInvalid)
}

// roundTrip decodes b as a T. Unless it fails to decode or fails Validate
// with a validation error (ok false), it encodes the valid T and decodes
// that again, and fails the test unless the copy (back) is valid too.
func roundTrip[T any, P interface {
	*T
	Validate() error
}](t *testing.T, b []byte) (v, back T, out []byte, ok bool) {
	t.Helper()
	if err := json.Unmarshal(b, &v); err != nil {
		return v, back, nil, false
	}
	if err := P(&v).Validate(); err != nil {
		if !validationError(err) {
			t.Fatalf("Validate error %v wraps no validation sentinel", err)
		}
		return v, back, nil, false
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("valid %T %+v does not marshal: %v", v, v, err)
	}
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("own JSON %s does not decode: %v", out, err)
	}
	if err := P(&back).Validate(); err != nil {
		t.Fatalf("round trip of %s made it invalid: %v", out, err)
	}
	return v, back, out, true
}

// FuzzFaultSpecJSON: any JSON either fails to decode, fails Validate with a
// validation error, or is a valid spec that survives a JSON round trip
// unchanged and still valid.
func FuzzFaultSpecJSON(f *testing.F) {
	for _, sc := range chaos.Catalogue() {
		for _, st := range sc.Faults {
			b, err := json.Marshal(st.Fault)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{
		`{"kind":"toxic","hop":"order-to-payment","toxic":{"kind":"latency","latency_ms":100,"toxicity":0.5}}`,
		`{"kind":"toxic","hop":"a","toxic":{"hop":"b","kind":"down"}}`,
		`{"kind":"toxic","toxic":{"kind":"slicer","average_size":10,"size_variation":10}}`,
		`{"kind":"toxic","hop":"x","toxic":{"kind":"timeout","toxicity":0}}`,
		`{"kind":"http","service":"payment","http":{"name":"p500","kind":"status","status":500,"probability":0.5,"path_prefix":"/payments"}}`,
		`{"kind":"http","service":"payment","http":{"name":"slow","kind":"delay","delay":"1.5s"}}`,
		`{"kind":"http","service":"payment","http":{"name":"slow","kind":"delay","delay":"-1s"}}`,
		`{"kind":"http","http":{"name":"n","kind":"slow_body","bytes_per_second":10}}`,
		`{"kind":"http","service":"s","http":{"name":"n","kind":"status","status":503,"extra":1}}`,
		`{"kind":"http","service":"s","http":null}`,
		`{"kind":"dns"}`, `null`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		spec, back, out, ok := roundTrip[chaos.FaultSpec](t, b)
		if !ok {
			return
		}
		_ = spec.String()
		if !reflect.DeepEqual(back, spec) {
			t.Fatalf("round trip changed the spec:\n got %+v\nwant %+v\njson %s", back, spec, out)
		}
		if back.String() != spec.String() {
			t.Fatalf("String changed: %q, want %q", back.String(), spec.String())
		}
	})
}

// FuzzScenarioJSON: a scenario that decodes and validates encodes to JSON
// that decodes to a scenario that validates and encodes to the same bytes.
func FuzzScenarioJSON(f *testing.F) {
	for _, sc := range chaos.Catalogue() {
		b, err := json.Marshal(sc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{"name":"x","load":{"duration":1000000000,"mix":[{"call":"login","weight":1}]},"faults":[],"hypothesis":[]}`,
		`{"name":"x","load":{"duration":1000000000,"mix":[{"call":"login","weight":1}]},"hypothesis":[{"kind":"metric_increase","service":"s","metric":"m","labels":{}}]}`,
		`{"name":"x","load":{"duration":10,"mix":[{"call":"login","weight":1}]},"faults":[{"at":10,"fault":{"kind":"toxic","hop":"h","toxic":{"kind":"down"}}}]}`,
		`{"name":"x","load":{"duration":10,"mix":[{"call":"login","weight":0}]}}`,
		`{"name":"","load":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, back, out, ok := roundTrip[chaos.Scenario](t, b)
		if !ok {
			return
		}
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, out) {
			t.Fatalf("JSON is not a fixed point:\n%s\n%s", out, again)
		}
		for i := range sc.Faults {
			if !reflect.DeepEqual(back.Faults[i].Fault, sc.Faults[i].Fault) {
				t.Fatalf("step %d fault changed: %+v, want %+v", i, back.Faults[i].Fault, sc.Faults[i].Fault)
			}
		}
	})
}
