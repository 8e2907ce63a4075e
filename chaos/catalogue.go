package chaos

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
)

// experiments are the built-in scenarios, one file each.
//
//go:embed experiments/*.yaml experiments/replicas/*.yaml
var experiments embed.FS

const (
	catalogueGlob = "experiments/*.yaml"
	replicaGlob   = "experiments/replicas/*.yaml"
)

// ExperimentFiles lists the built-in experiment files of the catalogue,
// by name.
func ExperimentFiles() []string { return embedded(catalogueGlob) }

func embedded(glob string) []string {
	names, _ := fs.Glob(experiments, glob) // the patterns are valid
	slices.Sort(names)
	return names
}

// ExperimentFile returns the text of the built-in experiment called name.
func ExperimentFile(name string) ([]byte, bool) {
	if !fs.ValidPath(name) || path.Base(name) != name {
		return nil, false
	}
	b, err := experiments.ReadFile(path.Join("experiments", name+".yaml"))
	return b, err == nil
}

func loadCatalogue() []Scenario { return loadExperiments(catalogueGlob) }

func loadExperiments(glob string) []Scenario {
	var out []Scenario
	for _, name := range embedded(glob) {
		b, err := experiments.ReadFile(name)
		if err != nil {
			panic(fmt.Sprintf("chaos: embedded %s: %v", name, err))
		}
		sc, err := DecodeExperiment(name, b)
		if err != nil {
			// The files are built in; TestCatalogue and
			// TestReplicaFiles decode them all.
			panic(fmt.Sprintf("chaos: embedded %v", err))
		}
		out = append(out, sc)
	}
	return out
}
