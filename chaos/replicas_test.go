package chaos_test

import (
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/topology"
)

// TestReplicaFiles: the replica scenarios are embedded files that decode,
// validate, and name only replicas that ReplicaLayout starts.
func TestReplicaFiles(t *testing.T) {
	scs := chaos.ReplicaScenarios()
	want := []string{"all-replicas-down", "replica-flap", "replica-kill", "replica-slow", "rolling-restart"}
	if len(scs) != len(want) {
		t.Fatalf("%d replica scenarios, want %d", len(scs), len(want))
	}
	for i, sc := range scs {
		if sc.Name != want[i] {
			t.Fatalf("scenario %d is %q, want %q", i, sc.Name, want[i])
		}
		if err := sc.Validate(); err != nil {
			t.Fatalf("%s: %v", sc.Name, err)
		}
		for _, st := range sc.Faults {
			if st.Fault.Kind != chaos.FaultReplica {
				continue
			}
			svc, n, err := topology.ParseReplica(st.Fault.Replica)
			if err != nil {
				t.Fatalf("%s: %v", sc.Name, err)
			}
			if n > chaos.ReplicaLayout[svc] {
				t.Fatalf("%s: %s is not in the layout %v", sc.Name, st.Fault.Replica, chaos.ReplicaLayout)
			}
		}
	}
}
