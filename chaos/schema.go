package chaos

import (
	"encoding/json"
	"reflect"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
)

// CheckKinds lists every kind of Check, in the order the docs give them.
var CheckKinds = []CheckKind{
	CheckSuccessRate, CheckLatency, CheckStatusSeen, CheckStatusAbsent, CheckHeader,
	CheckBreakerOpens, CheckBreakerCloses, CheckBreakerHalfOpen, CheckBreakerStaysClosed,
	CheckRetryAmplification, CheckMetricIncrease, CheckNoDoubleCharge, CheckStockConsistent,
	CheckLogEvent, CheckAlertFires, CheckHistory,
}

// enums are the closed sets of string values of the file form, by type
// (string types) or by "Type.field" (plain string fields).
var enums = map[string][]string{
	"FaultKind":    {string(FaultToxic), string(FaultHTTP), string(FaultAbuse), string(FaultReplica)},
	"Kind":         {string(toxi.Latency), string(toxi.Timeout), string(toxi.Down), string(toxi.ResetPeer), string(toxi.Slicer), string(toxi.Bandwidth), string(toxi.SlowClose)},
	"Toxic.stream": {toxi.Downstream, toxi.Upstream},
	"Fault.kind":   {fault.KindStatus, fault.KindDelay, fault.KindSlowBody},
	"Check.phase":  {PhaseBefore, PhaseDuring, PhaseAfter, PhaseOverall},
	"Abuse.call":   {CallAbuseWrongPassword, CallAbuseUnknownEmail},
}

func init() {
	for _, k := range CheckKinds {
		enums["CheckKind"] = append(enums["CheckKind"], string(k))
	}
}

// durationPattern is what time.ParseDuration reads, near enough for an
// editor.
const durationPattern = `^-?([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+$|^0$`

// Schema returns a JSON Schema (draft 2020-12) of the experiment file form,
// derived from the Go types by the rules DecodeExperiment applies.
func Schema() []byte {
	defs := map[string]any{}
	root := schemaOf(reflect.TypeFor[Scenario](), defs)
	s := map[string]any{
		"$schema":     "https://json-schema.org/draft/2020-12/schema",
		"$id":         "https://github.com/faultlab/faultlab/chaos/experiments/schema.json",
		"title":       "faultlab chaos experiment",
		"description": "One chaos experiment: faults, load and hypothesis. Durations are strings like \"2s\" or \"250ms\".",
		"$ref":        root["$ref"],
		"$defs":       defs,
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(err) // maps of strings, slices and bools always encode
	}
	return append(b, '\n')
}

func schemaOf(t reflect.Type, defs map[string]any) map[string]any {
	if t == durationType {
		return map[string]any{"type": "string", "pattern": durationPattern}
	}
	switch t.Kind() {
	case reflect.Struct:
		if _, ok := defs[t.Name()]; !ok {
			defs[t.Name()] = nil // placeholder against recursion
			defs[t.Name()] = objectSchema(t, defs)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), defs)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), defs)}
	case reflect.String:
		s := map[string]any{"type": "string"}
		if e, ok := enums[t.Name()]; ok {
			s["enum"] = e
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"type": "integer"}
	}
	return map[string]any{"type": "number"}
}

func objectSchema(t reflect.Type, defs map[string]any) map[string]any {
	props := map[string]any{}
	for _, f := range fileFields(t) {
		p := schemaOf(t.Field(f.index).Type, defs)
		if e, ok := enums[t.Name()+"."+f.name]; ok {
			p["enum"] = e
		}
		if f.nonzero {
			p["not"] = map[string]any{"const": 0}
		}
		props[f.name] = p
	}
	s := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if req := requiredFields[t]; len(req) > 0 {
		s["required"] = req
	}
	return s
}
