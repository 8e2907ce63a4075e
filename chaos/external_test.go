package chaos_test

import (
	"context"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
)

// With ExternalFaults the run injects nothing: the fault window is still
// recorded on schedule, and the hypothesis is judged on what the system
// really did; here nobody injected the fault, so the 503s it expects
// during the window never come.
func TestExternalFaultsInjectNothing(t *testing.T) {
	env := newFakeEnv(t)
	res, err := chaos.Run(context.Background(), chaos.ExternalFaults(env), testScenario(), chaos.Options{SteadyState: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(env.applied)+len(env.reverted) != 0 {
		t.Fatalf("applied %v reverted %v, want nothing", env.applied, env.reverted)
	}
	if len(res.Windows) != 1 || res.Windows[0].End <= res.Windows[0].Start {
		t.Errorf("windows %+v, want the scheduled one", res.Windows)
	}
	for _, v := range res.Verdicts {
		if v.Kind.String() == "status_seen" && v.Phase == "during" && v.Pass {
			t.Errorf("status_seen passed with no fault injected: %+v", v)
		}
	}
	if res.Passed() {
		t.Error("the hypothesis passed with no fault injected")
	}
}
