package console

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name    string
		buckets map[float64]float64
		q       float64
		want    float64
		ok      bool
	}{
		{"no observations", map[float64]float64{0.1: 0, inf: 0}, 0.99, 0, false},
		{"no buckets", map[float64]float64{}, 0.99, 0, false},
		{"all in one bucket: linear inside it", map[float64]float64{0.005: 0, 0.01: 100, 0.025: 100, inf: 100}, 0.99, 0.005 + 0.005*0.99, true},
		{"spread", map[float64]float64{0.01: 50, 0.1: 90, 1: 100, inf: 100}, 0.99, 0.1 + 0.9*0.9, true},
		{"rank in +Inf: the highest finite bound", map[float64]float64{0.5: 10, 1: 10, inf: 100}, 0.99, 1, true},
		{"first bucket starts at 0", map[float64]float64{0.004: 100, inf: 100}, 0.5, 0.002, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := quantile(tt.q, tt.buckets)
			if ok != tt.ok || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("quantile(%g) = %g, %v; want %g, %v", tt.q, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestTraffic(t *testing.T) {
	inf := math.Inf(1)
	tests := []struct {
		name       string
		prev, cur  counts
		pb, cb     map[float64]float64
		dt         float64
		rps, errs  float64
		p99Present bool
	}{
		{"rates over the interval", counts{100, 10}, counts{300, 60}, nil, nil, 2, 100, 0.25, false},
		{"a restart resets the counters: the current value is the delta", counts{500, 50}, counts{40, 4}, nil, nil, 1, 40, 0.1, false},
		{"nothing in the interval", counts{7, 1}, counts{7, 1}, map[float64]float64{0.1: 7, inf: 7}, map[float64]float64{0.1: 7, inf: 7}, 1, 0, 0, false},
		{"latency from the buckets' deltas", counts{0, 0}, counts{10, 0}, map[float64]float64{0.1: 5, inf: 5}, map[float64]float64{0.1: 15, inf: 15}, 1, 10, 0, true},
		{"no interval yet", counts{0, 0}, counts{10, 0}, nil, nil, 0, 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := traffic(tt.prev, tt.cur, tt.pb, tt.cb, tt.dt)
			if math.Abs(got.RPS-tt.rps) > 1e-9 || math.Abs(got.ErrorRate-tt.errs) > 1e-9 || (got.P99Ms != nil) != tt.p99Present {
				t.Errorf("traffic = %+v (p99 %v); want rps %g, error rate %g, p99 present %v", got, got.P99Ms, tt.rps, tt.errs, tt.p99Present)
			}
		})
	}
}
