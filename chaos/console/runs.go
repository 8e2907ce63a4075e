package console

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/internal/problem"
)

// ScenarioInfo is one scenario the page can start.
type ScenarioInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Seconds     int    `json:"seconds"` // the main load's length
}

func (s *Server) listScenarios(w http.ResponseWriter, r *http.Request) {
	out := []ScenarioInfo{}
	for _, sc := range s.scenarios {
		out = append(out, ScenarioInfo{Name: sc.Name, Description: sc.Description, Seconds: int(sc.Load.Duration.Seconds())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	problem.WriteJSON(w, http.StatusOK, out)
}

// RunRequest starts a scenario.
type RunRequest struct {
	Scenario string `json:"scenario"`
}

func (s *Server) startRun(w http.ResponseWriter, r *http.Request) {
	var req RunRequest
	if err := problem.DecodeJSON(w, r, &req, 0); err != nil {
		problem.Write(w, r, err)
		return
	}
	sc, ok := s.scenarios[req.Scenario]
	if !ok {
		names := make([]string, 0, len(s.scenarios))
		for n := range s.scenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		problem.Write(w, r, problem.Unprocessable(fmt.Sprintf("scenario: unknown scenario %q (want one of %s)", req.Scenario, strings.Join(names, ", "))))
		return
	}
	s.mu.Lock()
	if s.run != nil && s.run.Running {
		name := s.run.Scenario
		s.mu.Unlock()
		problem.Write(w, r, problem.Conflict(fmt.Sprintf("scenario %s is running: one at a time (faults are global to the lab)", name)))
		return
	}
	s.run = &RunState{Scenario: sc.Name, Running: true, Started: s.cfg.Clock.Now()}
	started := *s.run
	s.wg.Add(1)
	s.mu.Unlock()
	go s.execute(sc)
	s.publish()
	problem.WriteJSON(w, http.StatusAccepted, started)
}

// execute runs sc and records its progress and verdicts as they come.
func (s *Server) execute(sc chaos.Scenario) {
	defer s.wg.Done()
	opt := s.cfg.RunOptions
	opt.Progress = &progress{s: s}
	res, err := chaos.Run(s.ctx, s.cfg.Lab, sc, opt)
	s.mu.Lock()
	run := s.run
	run.Running = false
	if err != nil {
		run.Error = err.Error()
	}
	if res != nil {
		run.Verdicts = res.Verdicts
		passed := res.Passed()
		run.Passed = &passed
		run.Aborted = res.Aborted
	}
	s.mu.Unlock()
	s.publish()
}

// progress publishes the runner's status line as a terminal would show it:
// \r starts the line again, \n ends it, and text between them adds to it
// (a probe writes "…" and later " done" on the same line).
type progress struct {
	s          *Server
	mu         sync.Mutex
	line, last string
}

func (p *progress) Write(b []byte) (int, error) {
	p.mu.Lock()
	for _, r := range string(b) {
		switch r {
		case '\r':
			p.line = ""
		case '\n':
			if strings.TrimSpace(p.line) != "" {
				p.last = p.line
			}
			p.line = ""
		default:
			p.line += string(r)
		}
	}
	show := p.line
	if strings.TrimSpace(show) == "" {
		show = p.last
	}
	p.mu.Unlock()
	p.s.mu.Lock()
	p.s.run.Progress = strings.Join(strings.Fields(show), " ")
	p.s.mu.Unlock()
	p.s.publish()
	return len(b), nil
}
