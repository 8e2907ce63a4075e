package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/faultlab/faultlab/topology"
)

// FaultReplica is a FaultSpec kind: one replica of a replicated service
// (FaultSpec.Replica, e.g. "payment-2") stops when the step starts, like a
// pod kill, and starts again on its own address when the step ends. With
// FaultSpec.Drain it stops gracefully instead (its listener closes, the
// requests in flight finish), as in a rolling restart; without, it stops
// like a SIGKILL (its listener and every connection close at once).
const FaultReplica FaultKind = "replica"

// Replicas is implemented by an Env that can stop and start one replica
// (chaos/lab's Lab and, against `faultlab up`, Remote). Names are
// <service>-<n>, n from 1.
type Replicas interface {
	// Kill stops the replica at once: listener and connections close
	// abruptly, requests in flight get no answer.
	Kill(ctx context.Context, replica string) error
	// Drain stops the replica gracefully: no new connections, the
	// requests in flight finish.
	Drain(ctx context.Context, replica string) error
	// Restart starts a stopped replica again on its address.
	Restart(ctx context.Context, replica string) error
}

// KillReplica is the step that kills replica (e.g. "payment-2") at at and
// starts it again at until (0: at the end of the load).
func KillReplica(name, replica string, at, until time.Duration) Step {
	return Step{Name: name, At: at, Until: until, Fault: FaultSpec{Kind: FaultReplica, Replica: replica}}
}

// DrainReplica is KillReplica with a graceful stop.
func DrainReplica(name, replica string, at, until time.Duration) Step {
	st := KillReplica(name, replica, at, until)
	st.Fault.Drain = true
	return st
}

func (f FaultSpec) validateReplica() error {
	if _, _, err := topology.ParseReplica(f.Replica); err != nil {
		return fmt.Errorf("%w: %w", ErrScenario, err)
	}
	return nil
}

func (f FaultSpec) replicaString() string {
	if f.Drain {
		return "drain and restart " + f.Replica
	}
	return "kill and restart " + f.Replica
}
