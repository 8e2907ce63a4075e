package chaos

import "context"

// ExternalFaults returns env with fault injection turned off: ApplyFault,
// RevertFault and ResetFaults do nothing, everything else is env's. Run
// then sends the scenario's load, records its fault windows on schedule and
// judges the hypothesis, while something else injects the faults: a Chaos
// Mesh Workflow (deploy/k8s/chaos-mesh) started with the run. Abuse "faults"
// are load and still run.
func ExternalFaults(env Env) Env { return externalFaults{env} }

type externalFaults struct{ Env }

func (externalFaults) ApplyFault(context.Context, FaultSpec) error  { return nil }
func (externalFaults) RevertFault(context.Context, FaultSpec) error { return nil }
func (externalFaults) ResetFaults(context.Context) error            { return nil }
