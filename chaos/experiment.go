package chaos

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/chaos/toxi"
)

// ErrExperiment is wrapped by every error of DecodeExperiment.
var ErrExperiment = errors.New("invalid experiment")

// ExperimentError is a problem at one place of an experiment file. Its
// text is "file:line:column: path: message", e.g.
// "x.yaml:14:7: faults[1].at: must be a duration like "2s" or "250ms", got "2"".
type ExperimentError struct {
	File   string
	Line   int
	Column int
	// Path is the field path, e.g. "faults[1].fault.toxic.latency_ms";
	// empty for the document itself.
	Path string
	Msg  string
	// Err is the validation error behind Msg, if any.
	Err error
}

func (e *ExperimentError) Error() string {
	where := fmt.Sprintf("%s:%d:%d: ", e.File, e.Line, e.Column)
	if e.Path != "" {
		where += e.Path + ": "
	}
	return where + e.Msg
}

// Unwrap returns ErrExperiment and the validation error behind it.
func (e *ExperimentError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrExperiment, e.Err}
	}
	return []error{ErrExperiment}
}

// DecodeExperiment decodes one experiment file, YAML or JSON (JSON is
// YAML), strictly: an unknown or repeated field, a value of the wrong type,
// a missing required field or an invalid fault or check is an error that
// names file, line, column and field path. The scenario is validated.
//
// The file form is the Go types' JSON form, except that durations are
// strings ("2s", "250ms"); `faultlab chaos schema` prints it as a JSON
// Schema.
func DecodeExperiment(file string, data []byte) (Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Scenario{}, &ExperimentError{File: file, Line: 1, Column: 1, Msg: yamlMessage(err)}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return Scenario{}, &ExperimentError{File: file, Line: 1, Column: 1, Msg: "empty document"}
	}
	var sc Scenario
	d := &decoder{file: file}
	if err := d.decode(doc.Content[0], "", reflect.ValueOf(&sc).Elem()); err != nil {
		return Scenario{}, err
	}
	return sc, nil
}

// yamlMessage strips yaml.v3's "yaml: " prefix; its messages carry the line.
func yamlMessage(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	toxicType    = reflect.TypeFor[toxi.Toxic]()
)

// fileField is one field of a struct in the file form.
type fileField struct {
	name  string
	index int
	// nonzero: an explicit 0 is an error (the zero value means a default,
	// e.g. a toxicity of 0 means 1).
	nonzero bool
}

// fileFields lists t's fields by their file names: the `file` tag when
// there is one (for fields whose JSON form is custom), else the `json` tag.
func fileFields(t reflect.Type) []fileField {
	var out []fileField
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("file")
		if !ok {
			tag = sf.Tag.Get("json")
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !sf.IsExported() {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		f := fileField{name: name, index: i}
		for o := range strings.SplitSeq(opts, ",") {
			f.nonzero = f.nonzero || o == "nonzero"
		}
		out = append(out, f)
	}
	return out
}

// requiredFields are the fields a file must give, by type; the decoder and
// the schema both read it.
var requiredFields = map[reflect.Type][]string{
	reflect.TypeFor[Scenario]():    {"name", "load", "hypothesis"},
	reflect.TypeFor[Step]():        {"name", "at", "fault"},
	reflect.TypeFor[FaultSpec]():   {"kind"},
	reflect.TypeFor[LoadProfile](): {"duration", "mix"},
	reflect.TypeFor[MixEntry]():    {"call", "weight"},
	reflect.TypeFor[Check]():       {"kind"},
	reflect.TypeFor[Abuse]():       {"call"},
}

type validator interface{ Validate() error }

type decoder struct{ file string }

func (d *decoder) fail(n *yaml.Node, path string, err error, format string, args ...any) error {
	return &ExperimentError{File: d.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...), Err: err}
}

func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind == yaml.AliasNode {
		// Aliases can loop (a: &x [*x]) or multiply (billion laughs);
		// an experiment is short enough to write out.
		return d.fail(n, path, nil, "aliases (*name) are not supported: write the value out")
	}
	if n.ShortTag() == "!!null" {
		if v.Kind() == reflect.Slice || v.Kind() == reflect.Map {
			return nil
		}
		return d.fail(n, path, nil, "must not be null")
	}
	switch {
	case v.Type() == durationType:
		return d.duration(n, path, v)
	case v.Kind() == reflect.Struct:
		if err := d.object(n, path, v); err != nil {
			return err
		}
		if fs, ok := v.Addr().Interface().(*FaultSpec); ok {
			fs.fillHop()
		}
		// A toxic is validated by its FaultSpec, which may give its hop.
		if val, ok := v.Interface().(validator); ok && v.Type() != toxicType {
			if err := val.Validate(); err != nil {
				return d.fail(n, path, err, "%s", err)
			}
		}
		return nil
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.fail(n, path, nil, "must be a list")
		}
		if len(n.Content) == 0 {
			return nil // [] reads as null does: no entries
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, e := range n.Content {
			if err := d.decode(e, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case v.Kind() == reflect.Map:
		return d.stringMap(n, path, v)
	}
	return d.scalar(n, path, v)
}

func (d *decoder) duration(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!str" {
		return d.fail(n, path, nil, "must be a duration like \"2s\" or \"250ms\", got %s", n.Value)
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		return d.fail(n, path, err, "must be a duration like \"2s\" or \"250ms\", got %q", n.Value)
	}
	v.SetInt(int64(dur))
	return nil
}

func (d *decoder) object(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return d.fail(n, path, nil, "must be an object")
	}
	fields := fileFields(v.Type())
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		fp := join(path, k.Value)
		j := slices.IndexFunc(fields, func(f fileField) bool { return f.name == k.Value })
		if j < 0 {
			return d.fail(k, fp, nil, "unknown field (want one of %s)", fieldNames(fields))
		}
		if seen[k.Value] {
			return d.fail(k, fp, nil, "repeated field")
		}
		seen[k.Value] = true
		fv := v.Field(fields[j].index)
		if err := d.decode(val, fp, fv); err != nil {
			return err
		}
		if fields[j].nonzero && fv.IsZero() {
			return d.fail(val, fp, nil, "must not be 0 (leave it out for the default)")
		}
	}
	for _, name := range requiredFields[v.Type()] {
		if !seen[name] {
			return d.fail(n, path, nil, "missing field %q", name)
		}
	}
	return nil
}

func (d *decoder) stringMap(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String || v.Type().Elem().Kind() != reflect.String {
		return d.fail(n, path, nil, "must be an object of strings")
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		if val.Kind != yaml.ScalarNode || val.ShortTag() != "!!str" {
			return d.fail(val, join(path, k.Value), nil, "must be a string")
		}
		m.SetMapIndex(reflect.ValueOf(k.Value).Convert(v.Type().Key()), reflect.ValueOf(val.Value).Convert(v.Type().Elem()))
	}
	v.Set(m)
	return nil
}

func (d *decoder) scalar(n *yaml.Node, path string, v reflect.Value) error {
	if n.Kind != yaml.ScalarNode {
		return d.fail(n, path, nil, "must be a %s", kindWord(v.Kind()))
	}
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		if tag != "!!str" {
			return d.fail(n, path, nil, "must be a string, got %s", n.Value)
		}
		v.SetString(n.Value)
	case reflect.Bool:
		if tag != "!!bool" {
			return d.fail(n, path, nil, "must be true or false, got %s", n.Value)
		}
		v.SetBool(n.Value == "true")
	case reflect.Int, reflect.Int64:
		i, err := strconv.ParseInt(n.Value, 0, 64)
		if tag != "!!int" || err != nil {
			return d.fail(n, path, err, "must be an integer, got %s", n.Value)
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if (tag != "!!int" && tag != "!!float") || err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return d.fail(n, path, err, "must be a number, got %s", n.Value)
		}
		v.SetFloat(f)
	default:
		return d.fail(n, path, nil, "unsupported field type %s", v.Type())
	}
	return nil
}

func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int64:
		return "integer"
	}
	return "number"
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func fieldNames(fs []fileField) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return strings.Join(names, ", ")
}

// fillHop gives a toxic's hop in both places, so that a file may give it
// once (fault.hop) and Go code may give either.
func (f *FaultSpec) fillHop() {
	if f.Kind != FaultToxic {
		return
	}
	if f.Toxic.Hop == "" {
		f.Toxic.Hop = f.Hop
	}
	if f.Hop == "" {
		f.Hop = f.Toxic.Hop
	}
}

// EncodeExperiment writes sc in the file form, as YAML that
// DecodeExperiment reads back to the same Scenario. Fields at their zero
// value are left out unless required; a toxic's hop is given once.
func EncodeExperiment(sc Scenario) ([]byte, error) {
	sc.Faults = slices.Clone(sc.Faults)
	for i := range sc.Faults {
		if f := &sc.Faults[i].Fault; f.Kind == FaultToxic && f.Toxic.Hop == f.Hop {
			f.Toxic.Hop = ""
		}
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(encodeNode(reflect.ValueOf(sc))); err != nil {
		return nil, fmt.Errorf("encode experiment %s: %w", sc.Name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode experiment %s: %w", sc.Name, err)
	}
	return []byte(b.String()), nil
}

// flowWidth is the longest one-line object the encoder writes in flow
// style ({call: list_products, weight: 2}).
const flowWidth = 90

func encodeNode(v reflect.Value) *yaml.Node {
	switch {
	case v.Type() == durationType:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: time.Duration(v.Int()).String()}
	case v.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		required := requiredFields[v.Type()]
		for _, f := range fileFields(v.Type()) {
			fv := v.Field(f.index)
			if fv.IsZero() && !slices.Contains(required, f.name) {
				continue
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f.name}, encodeNode(fv))
		}
		flowIfShort(n)
		return n
	case v.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode}
		for i := range v.Len() {
			n.Content = append(n.Content, encodeNode(v.Index(i)))
		}
		if v.Len() == 0 {
			n.Style = yaml.FlowStyle
		}
		return n
	case v.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		slices.Sort(keys)
		for _, k := range keys {
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())).String()})
		}
		flowIfShort(n)
		return n
	case v.Kind() == reflect.String:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v.String()}
		if len(n.Value) > flowWidth && foldable(n.Value) {
			n.Style = yaml.FoldedStyle
		}
		return n
	case v.Kind() == reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	case v.Kind() == reflect.Float64:
		n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!float", Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
		if _, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
			n.Tag = "!!int"
		}
		return n
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
}

// flowIfShort writes a mapping on one line when it is short and its
// values are scalars or one-line objects themselves.
func flowIfShort(n *yaml.Node) {
	if w := lineWidth(n, true); w >= 0 && w <= flowWidth {
		n.Style = yaml.FlowStyle
	}
}

// lineWidth is about how wide n is on one line, or -1 if it cannot be.
func lineWidth(n *yaml.Node, top bool) int {
	if n.Kind == yaml.ScalarNode {
		return len(n.Value) + 2
	}
	if !top && n.Style != yaml.FlowStyle {
		return -1
	}
	width := 2
	for _, c := range n.Content {
		w := lineWidth(c, false)
		if w < 0 {
			return -1
		}
		width += w
	}
	return width
}

// foldable reports whether s survives a folded block scalar unchanged: one
// line, no tabs, no runs of spaces and none at either end (a folded block
// would re-fold or keep more-indented lines otherwise; FuzzDecodeExperiment
// found such a description).
func foldable(s string) bool {
	return !strings.ContainsAny(s, "\n\t\r") && strings.TrimSpace(s) == s && !strings.Contains(s, "  ")
}
