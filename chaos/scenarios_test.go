package chaos_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
)

func ordersSomething(sc chaos.Scenario) bool {
	for _, m := range sc.Load.Mix {
		if m.Call == chaos.CallCreateOrder || m.Call == chaos.CallCreateOrderRetrying {
			return true
		}
	}
	return false
}

func TestCatalogue(t *testing.T) {
	const probes = 4 * time.Second // the default before and after probes
	var all, short time.Duration
	nShort := 0
	seen := map[string]bool{}
	for _, sc := range chaos.Catalogue() {
		t.Run(sc.Name, func(t *testing.T) {
			if err := sc.Validate(); err != nil {
				t.Fatal(err)
			}
			if seen[sc.Name] {
				t.Fatal("duplicate name")
			}
			seen[sc.Name] = true
			if got, ok := chaos.Lookup(sc.Name); !ok || got.Name != sc.Name {
				t.Fatal("Lookup failed")
			}
			b, err := json.Marshal(sc)
			if err != nil {
				t.Fatal(err)
			}
			var back chaos.Scenario
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, sc) {
				t.Fatalf("JSON round trip changed the scenario:\n%s", b)
			}
		})
		all += sc.Load.Duration + probes
		if sc.Short {
			nShort++
			short += sc.Load.Duration + probes
		}
	}
	if len(seen) < 12 || !seen["compound-faults"] {
		t.Errorf("%d scenarios, want at least 11 with compound-faults", len(seen))
	}
	for _, sc := range chaos.Catalogue() {
		hasHistory := false
		for _, c := range sc.Hypothesis {
			hasHistory = hasHistory || c.Kind == chaos.CheckHistory
		}
		if ordersSomething(sc) && !hasHistory {
			t.Errorf("%s creates orders but has no history check", sc.Name)
		}
	}
	// The budget leaves room for lab start-up and the race detector: -short
	// must stay under 45 s.
	if nShort < 3 || nShort > 4 || short > 35*time.Second || all > 3*time.Minute {
		t.Errorf("short subset: %d scenarios, %s; all: %s", nShort, short, all)
	}
	if _, ok := chaos.Lookup("no-such"); ok {
		t.Error("Lookup found a missing scenario")
	}
	// Catalogue returns copies: editing one does not change the next.
	c := chaos.Catalogue()
	c[0].Hypothesis[0].Min = 0
	if chaos.Catalogue()[0].Hypothesis[0].Min == 0 {
		t.Error("Catalogue shares state between calls")
	}
}

// Each built-in file is named after its scenario, so Lookup finds it.
func TestExperimentFileNames(t *testing.T) {
	files := chaos.ExperimentFiles()
	cat := chaos.Catalogue()
	if len(files) != len(cat) {
		t.Fatalf("%d files, %d scenarios", len(files), len(cat))
	}
	for i, sc := range cat {
		if want := "experiments/" + sc.Name + ".yaml"; files[i] != want {
			t.Errorf("scenario %s is in %s, want %s", sc.Name, files[i], want)
		}
		if _, ok := chaos.ExperimentFile(sc.Name); !ok {
			t.Errorf("ExperimentFile(%q) not found", sc.Name)
		}
	}
	for _, bad := range []string{"../scenarios.go", "experiments/payment-down", ""} {
		if _, ok := chaos.ExperimentFile(bad); ok {
			t.Errorf("ExperimentFile(%q) found", bad)
		}
	}
}
