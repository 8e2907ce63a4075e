package main

import (
	"errors"
	"strings"
	"testing"
)

// TestCommandTable: names and aliases are unique, every listed command is
// in the usage text on its own line, help prints that text, and a missing
// or unknown command is a one-line usage error.
func TestCommandTable(t *testing.T) {
	seen := map[string]bool{}
	text := usageText()
	for _, c := range commands() {
		for _, n := range append([]string{c.name}, c.aliases...) {
			if seen[n] {
				t.Errorf("%q is in the table twice", n)
			}
			seen[n] = true
		}
		if c.usage != "" && !strings.Contains(text, "\n  "+c.name) {
			t.Errorf("usage text lacks %q:\n%s", c.name, text)
		}
	}
	out, _, err := runCmd(t, "help")
	if err != nil || out != text {
		t.Errorf("help: err %v, printed\n%s\nwant\n%s", err, out, text)
	}
	for _, args := range [][]string{nil, {"dance"}} {
		_, _, err := runCmd(t, args...)
		var ue *usageError
		if !errors.As(err, &ue) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: err %v (%T), want a one-line usage error", args, err, err)
		}
	}
}
