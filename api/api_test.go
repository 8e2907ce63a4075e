package api_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/faultlab/faultlab/api"
	"github.com/faultlab/faultlab/api/apitest"
)

// TestDocumentLints runs kin-openapi's validation of the document: its
// structure, its schemas, and every example against its schema.
func TestDocumentLints(t *testing.T) {
	doc, err := apitest.LoadDoc()
	if err != nil {
		t.Fatal(err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", doc.OpenAPI)
	}
}

// TestJSONIsTheYAML: the JSON the gateway serves holds the same document
// as the YAML, in the YAML's order.
func TestJSONIsTheYAML(t *testing.T) {
	j, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(j, &fromJSON); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if err := yaml.Unmarshal(api.YAML(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	// yaml.v3 decodes integers as int; JSON as float64: compare through JSON.
	yb, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	var norm any
	if err := json.Unmarshal(yb, &norm); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, norm) {
		t.Fatal("the JSON document differs from the YAML")
	}
	if !strings.HasPrefix(string(j), `{"openapi":"3.1.0","info":{`) {
		t.Fatalf("JSON does not keep the YAML's order: %.40s", j)
	}
}
