package console

import "testing"

// TestProgress: the status line is what a terminal would show.
func TestProgress(t *testing.T) {
	s := &Server{hub: newHub(), run: &RunState{}}
	p := &progress{s: s}
	for _, step := range []struct{ write, want string }{
		{"x: steady-state probe before the faults (2s)…", "x: steady-state probe before the faults (2s)…"},
		{" done\n", "x: steady-state probe before the faults (2s)… done"},
		{"\rx load    1.0s/7s   10 req  100.0% ok  no fault   ", "x load 1.0s/7s 10 req 100.0% ok no fault"},
		{"\rx load    2.0s/7s   20 req   90.0% ok  fault: down", "x load 2.0s/7s 20 req 90.0% ok fault: down"},
		{"\n", "x load 2.0s/7s 20 req 90.0% ok fault: down"},
	} {
		if _, err := p.Write([]byte(step.write)); err != nil {
			t.Fatal(err)
		}
		if got := s.run.Progress; got != step.want {
			t.Errorf("after %q: progress %q, want %q", step.write, got, step.want)
		}
	}
}
