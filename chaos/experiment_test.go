package chaos_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
)

var update = flag.Bool("update", false, "rewrite chaos/experiments/schema.json")

const minimal = `name: mine
description: a hand-written experiment
faults:
  - name: payment slow
    at: 1s
    until: 3s
    fault:
      kind: toxic
      hop: order-to-payment
      toxic: {kind: latency, latency_ms: 500}
  - name: payment 503
    at: 2s
    fault:
      kind: http
      service: payment
      http: {name: p503, kind: status, status: 503, probability: 0.5}
load:
  rate: 20
  duration: 4s
  mix: [{call: create_order, weight: 1}]
hypothesis:
  - {kind: success_rate, phase: before, min: 0.99}
  - {kind: latency, phase: during, call: create_order, max_latency: 2s}
`

func TestDecodeExperiment(t *testing.T) {
	sc, err := chaos.DecodeExperiment("mine.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	f := sc.Faults[0].Fault
	if f.Hop != "order-to-payment" || f.Toxic.Hop != "order-to-payment" || f.Toxic.LatencyMs != 500 {
		t.Errorf("toxic fault %+v", f)
	}
	if sc.Faults[1].Until != 0 || sc.Faults[1].Fault.HTTP.Probability != 0.5 || sc.Load.Duration.String() != "4s" {
		t.Errorf("scenario %+v", sc)
	}

	// JSON is YAML: the same experiment as JSON decodes the same.
	var generic any
	if err := yaml.Unmarshal([]byte(minimal), &generic); err != nil {
		t.Fatal(err)
	}
	js, err := json.MarshalIndent(generic, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fromJSON, err := chaos.DecodeExperiment("mine.json", js)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, sc) {
		t.Errorf("JSON form decodes differently:\n%+v\n%+v", fromJSON, sc)
	}
}

func TestDecodeExperimentErrors(t *testing.T) {
	tests := []struct {
		name, old, new, want string
	}{
		{"duration", "max_latency: 2s}", "max_latency: 2}", "x.yaml:23:69: hypothesis[1].max_latency: must be a duration like \"2s\" or \"250ms\", got 2"},
		{"bad duration", "    at: 2s", "    at: 2 s", `x.yaml:12:9: faults[1].at: must be a duration like "2s" or "250ms", got "2 s"`},
		{"unknown field", "latency_ms: 500", "latency: 500", "x.yaml:10:30: faults[0].fault.toxic.latency: unknown field (want one of name, hop, kind, stream, toxicity, latency_ms, jitter_ms, timeout_ms, average_size, size_variation, delay_us, rate_kbps, delay_ms)"},
		{"repeated field", "  rate: 20\n", "  rate: 20\n  rate: 30\n", "x.yaml:19:3: load.rate: repeated field"},
		{"wrong type", "weight: 1", "weight: one", "x.yaml:20:38: load.mix[0].weight: must be an integer, got one"},
		{"string wanted", "name: mine", "name: 12", "x.yaml:1:7: name: must be a string, got 12"},
		{"missing field", "  duration: 4s\n", "", `x.yaml:18:3: load: missing field "duration"`},
		{"explicit zero", "probability: 0.5", "probability: 0", "x.yaml:16:66: faults[1].fault.http.probability: must not be 0 (leave it out for the default)"},
		{"invalid toxic", "{kind: latency, latency_ms: 500}", "{kind: latency}", "x.yaml:8:7: faults[0].fault: invalid toxic: latency needs latency_ms > 0"},
		{"invalid check", "min: 0.99}", "min: 2}", "x.yaml:22:5: hypothesis[0]: invalid scenario: check success_rate: min must be in (0, 1]"},
		{"not a list", "mix: [{call: create_order, weight: 1}]", "mix: create_order", "x.yaml:20:8: load.mix: must be a list"},
		{"syntax", "name: mine", "name: [mine", "x.yaml:1:1: line 1: did not find expected ',' or ']'"},
		{"alias", "  rate: 20\n", "  rate: &r 20\n  concurrency: *r\n", "x.yaml:19:16: load.concurrency: aliases (*name) are not supported: write the value out"},
		{"scenario", "    until: 3s", "    until: 1s", "x.yaml:1:1: invalid scenario: mine: step 0 (payment slow): until 1s is not after at 1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := strings.Replace(minimal, tt.old, tt.new, 1)
			if in == minimal {
				t.Fatalf("%q is not in the experiment", tt.old)
			}
			_, err := chaos.DecodeExperiment("x.yaml", []byte(in))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error\n %v\nwant\n %s", err, tt.want)
			}
			if !errors.Is(err, chaos.ErrExperiment) {
				t.Errorf("%v does not wrap ErrExperiment", err)
			}
		})
	}
}

// Every built-in experiment encodes to a file that decodes to itself.
func TestEncodeExperiment(t *testing.T) {
	for _, sc := range chaos.Catalogue() {
		b, err := chaos.EncodeExperiment(sc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := chaos.DecodeExperiment(sc.Name+".yaml", b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if !reflect.DeepEqual(back, sc) {
			t.Errorf("%s: round trip changed it:\n%s", sc.Name, b)
		}
	}
}

// The committed schema is the one the Go types give, it accepts every
// built-in experiment, and it refuses what the decoder refuses.
func TestSchema(t *testing.T) {
	const file = "experiments/schema.json"
	if *update {
		if err := os.WriteFile(file, chaos.Schema(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	committed, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(committed, chaos.Schema()) {
		t.Fatalf("%s is out of date with the Go types: go test ./chaos -run TestSchema -update", file)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(committed))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("schema.json")
	if err != nil {
		t.Fatal(err)
	}
	valid := func(t *testing.T, text string) error {
		t.Helper()
		var v any
		if err := yaml.Unmarshal([]byte(text), &v); err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(v)
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		return sch.Validate(inst)
	}
	for name, b := range experimentFiles(t) {
		if err := valid(t, string(b)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, bad := range []struct{ old, new string }{
		{"latency_ms: 500", "latency: 500"},
		{"max_latency: 2s", "max_latency: 2"},
		{"  duration: 4s\n", ""},
		{"probability: 0.5", "probability: 0"},
		{"kind: toxic", "kind: toxin"},
		{"phase: before", "phase: earlier"},
		{"kind: success_rate", "kind: success"},
	} {
		if err := valid(t, strings.Replace(minimal, bad.old, bad.new, 1)); err == nil {
			t.Errorf("schema accepts %q for %q", bad.new, bad.old)
		}
		if _, err := chaos.DecodeExperiment("x.yaml", []byte(strings.Replace(minimal, bad.old, bad.new, 1))); err == nil {
			t.Errorf("decoder accepts %q for %q", bad.new, bad.old)
		}
	}
	// Every kind the schema offers is one Validate knows.
	var parsed struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(committed, &parsed); err != nil {
		t.Fatal(err)
	}
	enum := func(def, field string) []string {
		e := parsed.Defs[def].Properties[field].Enum
		if len(e) == 0 {
			t.Fatalf("schema: %s.%s has no enum", def, field)
		}
		return e
	}
	unknown := func(err error) bool {
		return err != nil && (strings.Contains(err.Error(), "unknown kind") || strings.Contains(err.Error(), "kind must be"))
	}
	for _, k := range enum("Check", "kind") {
		if unknown(chaos.Check{Kind: chaos.CheckKind(k)}.Validate()) {
			t.Errorf("schema offers check kind %q that Validate does not know", k)
		}
	}
	for _, k := range enum("FaultSpec", "kind") {
		if unknown(chaos.FaultSpec{Kind: chaos.FaultKind(k)}.Validate()) {
			t.Errorf("schema offers fault kind %q that Validate does not know", k)
		}
	}
	for _, k := range enum("Toxic", "kind") {
		if unknown(toxi.Toxic{Hop: "h", Kind: toxi.Kind(k)}.Validate()) {
			t.Errorf("schema offers toxic kind %q that Validate does not know", k)
		}
	}
	for _, k := range enum("Fault", "kind") {
		if unknown(fault.Fault{Name: "f", Kind: k}.Validate()) {
			t.Errorf("schema offers http fault kind %q that Validate does not know", k)
		}
	}
}

// experimentFiles reads the catalogue's experiment files and the replica
// experiments, by name.
func experimentFiles(tb testing.TB) map[string][]byte {
	tb.Helper()
	replicaFiles, _ := filepath.Glob("experiments/replicas/*.yaml") // the pattern is valid
	if len(replicaFiles) == 0 {
		tb.Fatal("no replica experiment files")
	}
	files := map[string][]byte{}
	for _, name := range append(chaos.ExperimentFiles(), replicaFiles...) {
		b, err := os.ReadFile(name)
		if err != nil {
			tb.Fatal(err)
		}
		files[name] = b
	}
	return files
}

// FuzzDecodeExperiment: any file decodes to a valid scenario or fails with
// a one-line ErrExperiment; a valid one encodes to a file that decodes to
// the same scenario.
func FuzzDecodeExperiment(f *testing.F) {
	for _, b := range experimentFiles(f) {
		f.Add(b)
	}
	f.Add([]byte(minimal))
	f.Add([]byte(`{"name":"x","load":{"duration":"1s","mix":[{"call":"login","weight":1}]},"hypothesis":[]}`))
	f.Add([]byte("a: &a [*a]"))
	f.Add([]byte(strings.Replace(minimal, "faults:", "faults: &x [*x]\nfoo:", 1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		sc, err := chaos.DecodeExperiment("f.yaml", b)
		if err != nil {
			if !errors.Is(err, chaos.ErrExperiment) || !strings.HasPrefix(err.Error(), "f.yaml:") {
				t.Fatalf("error %q is not a positioned ErrExperiment", err)
			}
			return
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("decoded an invalid scenario: %v", err)
		}
		out, err := chaos.EncodeExperiment(sc)
		if err != nil {
			t.Fatal(err)
		}
		back, err := chaos.DecodeExperiment("back.yaml", out)
		if err != nil {
			t.Fatalf("own file does not decode: %v\n%s", err, out)
		}
		if !reflect.DeepEqual(back, sc) {
			t.Fatalf("round trip changed the scenario:\n%s", out)
		}
	})
}
