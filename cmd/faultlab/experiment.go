package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/faultlab/faultlab/chaos"
)

// readExperiment decodes the experiment file path; its errors are
// "path:line:column: field: message".
func readExperiment(path string) (chaos.Scenario, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return chaos.Scenario{}, fmt.Errorf("experiment: %w", err)
	}
	return chaos.DecodeExperiment(path, b)
}

// scenarioArg resolves a command's scenario: the experiment file given by
// -f, else a built-in scenario's name, else (for compare) a file path.
func scenarioArg(cmd, file, name string, namesOnly bool) (chaos.Scenario, error) {
	switch {
	case file != "" && name != "":
		return chaos.Scenario{}, usagef("%s: give a scenario name or -f FILE, not both", cmd)
	case file != "":
		return readExperiment(file)
	case name == "":
		return chaos.Scenario{}, usagef("%s: which scenario? one of %s, or -f FILE", cmd, scenarioNames())
	}
	if sc, ok := chaos.Lookup(name); ok {
		return sc, nil
	}
	if !namesOnly && looksLikeFile(name) {
		return readExperiment(name)
	}
	return chaos.Scenario{}, usagef("%s: unknown scenario %q: want one of %s, or -f FILE", cmd, name, scenarioNames())
}

func looksLikeFile(s string) bool {
	return strings.ContainsRune(s, os.PathSeparator) || strings.HasSuffix(s, ".yaml") ||
		strings.HasSuffix(s, ".yml") || strings.HasSuffix(s, ".json")
}

var errInvalidExperiments = errors.New("invalid experiment files")

// runChaosValidate checks experiment files without running them: one line
// per file, "ok" or the first error.
func runChaosValidate(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("chaos validate: which files? e.g. faultlab chaos validate my-experiment.yaml")
	}
	bad := 0
	for _, path := range args {
		sc, err := readExperiment(path)
		if err != nil {
			fmt.Fprintln(stdout, err)
			bad++
			continue
		}
		fmt.Fprintf(stdout, "%s: ok: %s, %d fault(s), %d check(s), %s of load\n", path, sc.Name, len(sc.Faults), len(sc.Hypothesis), sc.Load.Duration)
	}
	if bad > 0 {
		return fmt.Errorf("%w: %d of %d", errInvalidExperiments, bad, len(args))
	}
	return nil
}

// runChaosSchema prints the experiment files' JSON Schema.
func runChaosSchema(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		return usagef("chaos schema takes no arguments, got %q", args[0])
	}
	_, err := stdout.Write(chaos.Schema())
	return err
}

// runChaosShow prints a built-in experiment's file, to start one's own from.
func runChaosShow(args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usagef("chaos show: want one scenario name, one of %s", scenarioNames())
	}
	b, ok := chaos.ExperimentFile(args[0])
	if !ok {
		return usagef("chaos show: unknown scenario %q: want one of %s", args[0], scenarioNames())
	}
	_, err := stdout.Write(b)
	return err
}
