package observability_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/observability"
)

func lowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// FuzzParseTraceparent: a parsed traceparent has well-formed ids, and its
// String re-parses to the same span context; a rejected one wraps
// ErrTraceparent.
func FuzzParseTraceparent(f *testing.F) {
	for _, s := range []string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ",
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
		"", "00", "garbage",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := observability.ParseTraceparent(s)
		if err != nil {
			if !errors.Is(err, observability.ErrTraceparent) {
				t.Fatalf("error %v does not wrap ErrTraceparent", err)
			}
			if sc != (observability.SpanContext{}) {
				t.Fatalf("error with a non-zero span context %+v", sc)
			}
			return
		}
		if !lowerHex(sc.TraceID, 32) || !lowerHex(sc.SpanID, 16) ||
			sc.TraceID == strings.Repeat("0", 32) || sc.SpanID == strings.Repeat("0", 16) {
			t.Fatalf("%q parsed to bad ids %+v", s, sc)
		}
		if !lowerHex(sc.Flags, 2) {
			t.Fatalf("%q parsed to bad flags %q", s, sc.Flags)
		}
		out := sc.String()
		if len(out) != 55 || !strings.HasPrefix(out, "00-") {
			t.Fatalf("String() = %q, want a 55-byte version 00 header", out)
		}
		back, err := observability.ParseTraceparent(out)
		if err != nil {
			t.Fatalf("String() %q of %q does not re-parse: %v", out, s, err)
		}
		if back != sc {
			t.Fatalf("re-parse of %q: %+v, want %+v", out, back, sc)
		}
	})
}
