package chaos

import (
	"time"

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/load"
)

// Verdict is the outcome of one Check.
type Verdict struct {
	Check    string    `json:"check"`
	Kind     CheckKind `json:"kind"`
	Phase    string    `json:"phase"`
	Pass     bool      `json:"pass"`
	Skipped  bool      `json:"skipped,omitempty"` // could not be judged; see Note
	Measured string    `json:"measured"`
	Want     string    `json:"want"`
	Note     string    `json:"note,omitempty"`
}

// Window is when a Step's fault was actually active, from the start of the
// main load.
type Window struct {
	Step  string        `json:"step"`
	Fault string        `json:"fault"`
	Start time.Duration `json:"start"`
	End   time.Duration `json:"end"`
	Error string        `json:"error,omitempty"` // apply or revert failed
}

// BreakerState is a breaker's state as the circuitbreaker_state gauge
// labels it. In JSON it is the plain string.
type BreakerState string

// String returns the state as metrics spell it.
func (s BreakerState) String() string { return string(s) }

// Breaker states. BreakerUnknown is a sample whose metrics could not be read.
const (
	BreakerClosed   BreakerState = "closed"
	BreakerHalfOpen BreakerState = "half_open"
	BreakerOpen     BreakerState = "open"
	BreakerUnknown  BreakerState = "unknown"
)

// BreakerSample is one reading of a breaker's state gauge.
type BreakerSample struct {
	At      time.Duration `json:"at"`      // from the start of the main load
	Breaker string        `json:"breaker"` // "service→upstream"
	State   BreakerState  `json:"state"`   // closed, half_open, open, or unknown
}

// Point is one second of the main load.
type Point struct {
	Offset    int           `json:"offset"`
	Requests  int           `json:"requests"`
	Successes int           `json:"successes"`
	Dropped   int           `json:"dropped"`
	P99       time.Duration `json:"p99"`
	// Span is the part of the second inside the main load when that is
	// less than a second (the last one); 0 means the whole second.
	Span     time.Duration           `json:"span,omitempty"`
	Breakers map[string]BreakerState `json:"breakers,omitempty"` // worst state seen in the second
	Faults   []string                `json:"faults,omitempty"`   // steps active in the second
}

// SuccessRate of the second, or 1 without requests.
func (p Point) SuccessRate() float64 {
	if p.Requests == 0 {
		return 1
	}
	return float64(p.Successes) / float64(p.Requests)
}

// Result is everything a run observed. It is a plain, JSON-serialisable value.
type Result struct {
	Scenario  Scenario        `json:"scenario"`
	Started   time.Time       `json:"started"`
	Elapsed   time.Duration   `json:"elapsed"`
	Before    *load.Report    `json:"before,omitempty"`
	Load      *load.Report    `json:"load,omitempty"`
	After     *load.Report    `json:"after,omitempty"`
	Verdicts  []Verdict       `json:"verdicts"`
	Timeline  []Point         `json:"timeline"`
	Windows   []Window        `json:"windows"`
	Breakers  []BreakerSample `json:"breakers,omitempty"`
	Failures  []load.Sample   `json:"failures,omitempty"` // of the main load, with trace ids
	Aborted   string          `json:"aborted,omitempty"`  // why faults were never injected
	Errors    []string        `json:"errors,omitempty"`   // setup and fault errors
	LoadStart time.Time       `json:"load_start"`
	// Detections are, per alert the hypothesis expects, when it was first
	// seen firing, measured from the first fault.
	Detections []Detection `json:"detections,omitempty"`
	// History is the history check's report (CheckHistory), with every
	// anomaly by order id.
	History *history.Report `json:"history,omitempty"`
}

// Detection is the time to detect of one alert: from the start of the
// first fault to the first sample that saw the alert firing in Prometheus
// (sampled every Options.SampleEvery, so at most that late).
type Detection struct {
	Alert string `json:"alert"`
	// Fault is when the first fault began, from the start of the main load.
	Fault time.Duration `json:"fault"`
	// Firing is when the alert was first seen firing, from the same origin;
	// -1 when it never was.
	Firing time.Duration `json:"firing"`
	// ActiveAt is Prometheus' own activeAt for the alert, from the same
	// origin (the evaluation that first saw the condition); 0 if unknown.
	ActiveAt time.Duration `json:"active_at,omitempty"`
}

// TimeToDetect is Firing - Fault, or -1 if the alert never fired. It is
// negative too when the alert was already firing before the fault.
func (d Detection) TimeToDetect() time.Duration {
	if d.Firing < 0 {
		return -1
	}
	return d.Firing - d.Fault
}

// Passed reports whether the run was not aborted and every verdict that
// was judged passed (skipped verdicts do not count).
func (r *Result) Passed() bool {
	if r.Aborted != "" {
		return false
	}
	for _, v := range r.Verdicts {
		if !v.Pass && !v.Skipped {
			return false
		}
	}
	return true
}

// Counts returns the number of passed, failed and skipped verdicts.
func (r *Result) Counts() (pass, fail, skip int) {
	for _, v := range r.Verdicts {
		switch {
		case v.Skipped:
			skip++
		case v.Pass:
			pass++
		default:
			fail++
		}
	}
	return
}
