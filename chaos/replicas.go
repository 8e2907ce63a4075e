package chaos

import (
	"github.com/faultlab/faultlab/topology"
)

// ReplicaLayout is the replica count each of ReplicaScenarios needs
// (`faultlab up --replicas product=3,order=2,payment=3`).
var ReplicaLayout = map[string]int{topology.Product: 3, topology.Order: 2, topology.Payment: 3}

// ReplicaScenarios are the scenarios of a replicated lab (ReplicaLayout):
// the embedded files in chaos/experiments/replicas, in name order. Like the
// catalogue, they are experiment files: `faultlab chaos run -f` runs one
// against `faultlab up --replicas product=3,order=2,payment=3`.
func ReplicaScenarios() []Scenario { return loadExperiments(replicaGlob) }
