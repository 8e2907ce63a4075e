package order

import (
	"net/url"
	"testing"
)

// FuzzCursor: any ?cursor= is refused or parsed, never a panic, and a
// parsed cursor is exactly the one its token encodes.
func FuzzCursor(f *testing.F) {
	f.Add(Cursor{CreatedAt: 1764590400123, ID: "ord_01JXYZ"}.String())
	f.Add("MTIub3JkXzE")
	f.Add("")
	f.Add("LTEub3JkXzE")
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCursor(s)
		if !ok {
			return
		}
		if c.String() != s {
			t.Fatalf("ParseCursor(%q) = %+v, which encodes as %q", s, c, c.String())
		}
		if _, _, perr := parseListQuery(url.Values{"cursor": {s}}); perr != nil {
			t.Fatalf("a parsed cursor %q is refused by the list query: %v", s, perr)
		}
	})
}
