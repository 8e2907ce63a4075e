package chaos

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/toxi"
)

// ErrScenario is wrapped by every validation error of a Scenario.
var ErrScenario = errors.New("invalid scenario")

// Scenario is one chaos experiment.
type Scenario struct {
	// Name is the scenario's id, e.g. "payment-down".
	Name string `json:"name"`
	// Description says what is broken and what should happen.
	Description string `json:"description"`
	// Short puts the scenario in the quick (-short) subset.
	Short bool `json:"short,omitempty"`
	// Faults are injected and reverted during the main load.
	Faults []Step `json:"faults"`
	// Load is the traffic driven through the gateway.
	Load LoadProfile `json:"load"`
	// Hypothesis is what must hold.
	Hypothesis []Check `json:"hypothesis"`
}

// Step injects one fault for a window of the main load.
type Step struct {
	// Name labels the fault window in reports.
	Name string `json:"name"`
	// At is when the fault is applied, from the start of the main load.
	At time.Duration `json:"at"`
	// Ramp, for an HTTP fault, raises its probability in four equal steps
	// over Ramp (25%, 50%, 75%, 100% of the target). Toxics cannot be
	// updated in place through Env, so Ramp is ignored for them.
	Ramp time.Duration `json:"ramp,omitempty"`
	// Until is when the fault is reverted; 0 means at the end of the main load.
	Until time.Duration `json:"until,omitempty"`
	// Fault is what to inject.
	Fault FaultSpec `json:"fault"`
}

// FaultKind is the kind of a FaultSpec. In JSON it is the plain string
// ("toxic", "http", "abuse").
type FaultKind string

// String returns the kind as scenarios spell it.
func (k FaultKind) String() string { return string(k) }

// Fault kinds of a FaultSpec.
const (
	FaultToxic FaultKind = "toxic" // a Toxiproxy toxic on a hop
	FaultHTTP  FaultKind = "http"  // an HTTP fault on a service's middleware
)

// FaultSpec is a declarative fault: a toxic on a hop, or an HTTP fault on a
// service.
type FaultSpec struct {
	// Kind is FaultToxic or FaultHTTP.
	Kind FaultKind `json:"kind"`
	// Hop is the proxy of a toxic, e.g. "order-to-payment"; it fills
	// Toxic.Hop when that is empty.
	Hop string `json:"hop,omitempty"`
	// Service is the service of an HTTP fault, e.g. "payment".
	Service string `json:"service,omitempty"`
	// Toxic is the toxic, for FaultToxic.
	Toxic toxi.Toxic `json:"toxic,omitzero"`
	// HTTP is the HTTP fault, for FaultHTTP.
	HTTP fault.Fault `json:"http,omitzero"`
	// Abuse is the hostile load, for FaultAbuse.
	Abuse Abuse `json:"abuse,omitzero"`
	// Replica is the replica to stop, for FaultReplica, e.g. "payment-2".
	Replica string `json:"replica,omitempty"`
	// Drain stops the replica gracefully rather than killing it.
	Drain bool `json:"drain,omitempty"`
}

// ToxicFault returns the toxic with its hop filled in from Hop.
func (f FaultSpec) ToxicFault() toxi.Toxic {
	t := f.Toxic
	if t.Hop == "" {
		t.Hop = f.Hop
	}
	return t
}

// Validate reports the first problem with f.
func (f FaultSpec) Validate() error {
	switch f.Kind {
	case FaultToxic:
		if f.Hop != "" && f.Toxic.Hop != "" && f.Hop != f.Toxic.Hop {
			return fmt.Errorf("%w: hop %q and toxic.hop %q differ", ErrScenario, f.Hop, f.Toxic.Hop)
		}
		return f.ToxicFault().Validate()
	case FaultHTTP:
		if f.Service == "" {
			return fmt.Errorf("%w: an http fault needs a service", ErrScenario)
		}
		return f.HTTP.Validate()
	case FaultAbuse:
		return f.Abuse.Validate()
	case FaultReplica:
		return f.validateReplica()
	}
	return fmt.Errorf("%w: fault kind must be %q, %q, %q or %q, got %q", ErrScenario, FaultToxic, FaultHTTP, FaultAbuse, FaultReplica, f.Kind)
}

// String describes f for reports.
func (f FaultSpec) String() string {
	if f.Kind == FaultHTTP {
		return "http " + f.HTTP.String() + " on " + f.Service
	}
	if f.Kind == FaultAbuse {
		return "abuse: " + f.Abuse.String()
	}
	if f.Kind == FaultReplica {
		return f.replicaString()
	}
	return f.ToxicFault().String()
}

// LoadProfile is the traffic of a scenario.
type LoadProfile struct {
	// Rate is requests per second (open loop); 0 means closed loop.
	Rate float64 `json:"rate"`
	// Duration of the main load.
	Duration time.Duration `json:"duration"`
	// Concurrency caps requests in flight; 0 means 16.
	Concurrency int `json:"concurrency,omitempty"`
	// Mix is the weighted set of calls.
	Mix []MixEntry `json:"mix"`
	// RetryFor is how long a create_order_retrying client keeps sending
	// one order (same Idempotency-Key) for a final answer; 0 means
	// DefaultRetryFor.
	RetryFor time.Duration `json:"retry_for,omitempty"`
}

// DefaultRetryFor is LoadProfile.RetryFor's default.
const DefaultRetryFor = 30 * time.Second

// Calls of a MixEntry.
const (
	CallListProducts = "list_products"
	CallGetProduct   = "get_product"
	CallCreateOrder  = "create_order"
	CallGetOrder     = "get_order"
	CallLogin        = "login"
	// CallCreateOrderRetrying creates an order like CallCreateOrder, then
	// sends it again with the same Idempotency-Key until the answer is
	// final (201 or a permanent 4xx), as a careful client would; each
	// attempt is an operation of the history.
	CallCreateOrderRetrying = "create_order_retrying"
)

// MixEntry is one call of the load mix.
type MixEntry struct {
	Call   string `json:"call"`
	Weight int    `json:"weight"`
}

// Phases of a check.
const (
	PhaseBefore  = "before"
	PhaseDuring  = "during"
	PhaseAfter   = "after"
	PhaseOverall = "overall"
)

// Validate reports the first problem with s.
func (s Scenario) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrScenario, s.Name, fmt.Sprintf(format, args...))
	}
	if s.Name == "" {
		return fmt.Errorf("%w: name is required", ErrScenario)
	}
	if s.Load.Duration <= 0 {
		return bad("load duration must be positive")
	}
	if s.Load.Rate < 0 || s.Load.Concurrency < 0 || s.Load.RetryFor < 0 {
		return bad("load rate, concurrency and retry_for must not be negative")
	}
	if len(s.Load.Mix) == 0 {
		return bad("load mix is empty")
	}
	for _, m := range s.Load.Mix {
		if m.Weight <= 0 {
			return bad("mix %q: weight must be positive", m.Call)
		}
	}
	for i, st := range s.Faults {
		if st.At < 0 || st.Ramp < 0 || st.Until < 0 {
			return bad("step %d (%s): negative offset", i, st.Name)
		}
		if st.Until != 0 && st.Until <= st.At {
			return bad("step %d (%s): until %s is not after at %s", i, st.Name, st.Until, st.At)
		}
		if st.At >= s.Load.Duration {
			return bad("step %d (%s): at %s is after the load ends (%s)", i, st.Name, st.At, s.Load.Duration)
		}
		if err := st.Fault.Validate(); err != nil {
			return fmt.Errorf("%s: step %d (%s): %w", s.Name, i, st.Name, err)
		}
	}
	for i, c := range s.Hypothesis {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("%s: check %d: %w", s.Name, i, err)
		}
	}
	return nil
}

// windows returns each step's [start, end) within a main load of d.
func (st Step) window(d time.Duration) (time.Duration, time.Duration) {
	end := st.Until
	if end == 0 || end > d {
		end = d
	}
	return st.At, end
}

func joinNames(ss []string) string { return strings.Join(ss, ", ") }
