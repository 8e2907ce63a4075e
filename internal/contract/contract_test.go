package contract_test

import (
	"net/http"
	"testing"

	"github.com/faultlab/faultlab/internal/contract"
)

func TestStripInternal(t *testing.T) {
	h := http.Header{}
	for _, name := range contract.Internal {
		h.Add(name, "client-set")
		h.Add(name, "twice")
	}
	h.Set("Authorization", "Bearer x")
	contract.StripInternal(h)
	for _, name := range contract.Internal {
		if v := h.Values(name); len(v) != 0 {
			t.Errorf("%s survived: %q", name, v)
		}
	}
	if h.Get("Authorization") == "" {
		t.Error("a public header was stripped")
	}
}

func TestInternalNamesAreCanonical(t *testing.T) {
	seen := map[string]bool{}
	for _, name := range contract.Internal {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("%q is not canonical (%q)", name, c)
		}
		if seen[name] {
			t.Errorf("%q listed twice", name)
		}
		seen[name] = true
	}
}
