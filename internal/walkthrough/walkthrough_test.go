package walkthrough

import (
	"strings"
	"testing"
)

func TestScript(t *testing.T) {
	good := "# x\n\n## Walk-through\n\ntext\n\n```sh\ncurl " + Gateway + "/api/v1/products\n```\n\n## Next\n"
	block, err := Script(good)
	if err != nil || block != "curl "+Gateway+"/api/v1/products\n" {
		t.Fatalf("Script = %q, %v", block, err)
	}
	for name, readme := range map[string]string{
		"no section":      "# x\n```sh\ncurl " + Gateway + "\n```\n",
		"no block":        "## Walk-through\ncurl " + Gateway + "\n",
		"unclosed block":  "## Walk-through\n```sh\ncurl " + Gateway + "\n",
		"another gateway": "## Walk-through\n```sh\ncurl http://localhost:9999\n```\n",
	} {
		if _, err := Script(readme); err == nil {
			t.Errorf("%s: Script accepted it", name)
		}
	}
}

func TestCheckFindsBrokenPromises(t *testing.T) {
	if errs := Check("", "http://127.0.0.1:1"); len(errs) < 5 {
		t.Fatalf("Check on empty output found %d problems, want every promise broken: %v", len(errs), errs)
	}
	out := "Location: " + Gateway + "/api/v1/orders/ord_1\n"
	errs := Check(out, "http://127.0.0.1:1")
	found := false
	for _, err := range errs {
		found = found || strings.Contains(err.Error(), "not the gateway it ran against")
	}
	if !found {
		t.Errorf("Check missed the default gateway address in the output: %v", errs)
	}
}
