package kit_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/internal/kit"
)

// refKey is the contract of docs/CONTRACTS.md written differently from the
// implementation: 1 to 255 characters, each printable ASCII (0x21–0x7E).
var refKey = regexp.MustCompile(`^[!-~]{1,255}$`)

// FuzzValidIdempotencyKey compares ValidIdempotencyKey with the reference
// and checks that trimming or growing a key cannot make it valid wrongly.
func FuzzValidIdempotencyKey(f *testing.F) {
	for _, k := range []string{
		"", "k", "order-ord_123", "a b", "a\tb", "\x7f", "~!", "é", "\x00",
		strings.Repeat("k", 255), strings.Repeat("k", 256),
	} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, k string) {
		got, want := kit.ValidIdempotencyKey(k), refKey.MatchString(k)
		if got != want {
			t.Fatalf("ValidIdempotencyKey(%q) = %v, reference says %v", k, got, want)
		}
		if got && (len(k) < 1 || len(k) > 255) {
			t.Fatalf("accepted a key of %d bytes", len(k))
		}
		// Any key made of valid keys' characters is valid while short enough.
		if got && len(k) < 255 && !kit.ValidIdempotencyKey(k+k[:1]) {
			t.Fatalf("%q valid but %q not", k, k+k[:1])
		}
	})
}
