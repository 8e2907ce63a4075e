package deploy

import (
	"slices"
	"testing"

	"github.com/faultlab/faultlab/internal/contract"
)

// TestInternalHeadersMatchContract: the "Internal headers" table of
// docs/CONTRACTS.md and contract.Internal, which drives the gateway's
// stripping and its test, are the same list.
func TestInternalHeadersMatchContract(t *testing.T) {
	got := contracts(t).InternalHeaders
	if len(got) == 0 {
		t.Fatal("docs/CONTRACTS.md has no Internal headers table")
	}
	if !slices.Equal(got, contract.Internal) {
		t.Fatalf("docs/CONTRACTS.md lists %q\ncontract.Internal is   %q", got, contract.Internal)
	}
}
