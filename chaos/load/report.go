package load

import (
	"slices"
	"time"
)

// Report summarises a run. It is a plain, JSON-serialisable value.
type Report struct {
	Start     time.Time     `json:"start"`     // Config.Now at the start
	Elapsed   time.Duration `json:"elapsed"`   // wall time, including the in-flight tail
	Total     int           `json:"total"`     // requests completed (or failed)
	Successes int           `json:"successes"` // per Config.Success
	Dropped   int           `json:"dropped"`   // open loop: due while all workers were busy
	RPS       float64       `json:"rps"`       // achieved: Total / Elapsed
	Latency   Quantiles     `json:"latency"`
	Status    map[int]int   `json:"status"` // status code → count; 0 = no response
	Calls     []CallStats   `json:"calls"`  // by name
	Seconds   []Second      `json:"seconds"`
	Failures  []Sample      `json:"failures"` // the first failed requests, up to MaxSamples
}

// SuccessRate is Successes/Total, or 0 with no requests.
func (r *Report) SuccessRate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.Successes) / float64(r.Total)
}

// Quantiles of latency.
type Quantiles struct {
	P50 time.Duration `json:"p50"`
	P90 time.Duration `json:"p90"`
	P99 time.Duration `json:"p99"`
	Max time.Duration `json:"max"`
}

// CallStats is the breakdown for one call of the mix.
type CallStats struct {
	Name      string      `json:"name"`
	Total     int         `json:"total"`
	Successes int         `json:"successes"`
	Latency   Quantiles   `json:"latency"`
	Status    map[int]int `json:"status"`
}

// Second is one second of the run, by request start time.
type Second struct {
	Offset    int           `json:"offset"` // seconds since the start
	Requests  int           `json:"requests"`
	Successes int           `json:"successes"`
	Dropped   int           `json:"dropped"`
	P50       time.Duration `json:"p50"`
	P99       time.Duration `json:"p99"`
}

// Sample is a failed request, kept so it can be traced.
type Sample struct {
	Call    string        `json:"call"`
	Start   time.Time     `json:"start"`
	Latency time.Duration `json:"latency"`
	Status  int           `json:"status"`
	Error   string        `json:"error,omitempty"`
	TraceID string        `json:"trace_id"`
}

// Summarize computes the quantiles of ds (nearest-rank); it sorts ds.
func Summarize(ds []time.Duration) Quantiles { return quantiles(ds) }

func quantiles(ds []time.Duration) Quantiles {
	if len(ds) == 0 {
		return Quantiles{}
	}
	slices.Sort(ds)
	return Quantiles{P50: rank(ds, 0.50), P90: rank(ds, 0.90), P99: rank(ds, 0.99), Max: ds[len(ds)-1]}
}

// Quantile returns the q-quantile (nearest rank) of sorted ds.
func rank(sorted []time.Duration, q float64) time.Duration {
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
