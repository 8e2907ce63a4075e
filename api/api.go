package api

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed openapi.yaml
var spec []byte

// Paths where the gateway serves the document.
const (
	PathJSON = "/api/v1/openapi.json"
	PathYAML = "/api/v1/openapi.yaml"
)

// YAMLContentType is the media type of the YAML document (RFC 9512).
const YAMLContentType = "application/yaml"

// YAML returns the document as written, in YAML. The caller must not
// modify it.
func YAML() []byte { return spec }

var toJSON = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(spec) })

// JSON returns the document in JSON, its members in the order of the
// YAML. The caller must not modify it. It is safe for concurrent use.
func JSON() ([]byte, error) { return toJSON() }

// yamlToJSON converts one YAML document to JSON, keeping the order of
// mapping keys (encoding/json would sort a map's).
func yamlToJSON(b []byte) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("api: parse openapi.yaml: %w", err)
	}
	var out bytes.Buffer
	if err := writeJSON(&out, &doc); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml to JSON: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

func writeJSON(out *bytes.Buffer, n *yaml.Node) error {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return fmt.Errorf("line %d: want one document", n.Line)
		}
		return writeJSON(out, n.Content[0])
	case yaml.AliasNode:
		return writeJSON(out, n.Alias)
	case yaml.MappingNode:
		out.WriteByte('{')
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key must be a scalar", k.Line)
			}
			if i > 0 {
				out.WriteByte(',')
			}
			kb, _ := json.Marshal(k.Value)
			out.Write(kb)
			out.WriteByte(':')
			if err := writeJSON(out, n.Content[i+1]); err != nil {
				return err
			}
		}
		out.WriteByte('}')
	case yaml.SequenceNode:
		out.WriteByte('[')
		for i, c := range n.Content {
			if i > 0 {
				out.WriteByte(',')
			}
			if err := writeJSON(out, c); err != nil {
				return err
			}
		}
		out.WriteByte(']')
	case yaml.ScalarNode:
		return writeScalar(out, n)
	default:
		return fmt.Errorf("line %d: unsupported YAML node kind %d", n.Line, n.Kind)
	}
	return nil
}

func writeScalar(out *bytes.Buffer, n *yaml.Node) error {
	switch n.ShortTag() {
	case "!!null":
		out.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			return err
		}
		out.WriteString(strconv.FormatBool(v))
	case "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		out.Write(b)
	default: // !!str, !!timestamp and the rest stay strings
		b, _ := json.Marshal(n.Value)
		out.Write(b)
	}
	return nil
}
