package compare

import (
	"slices"
	"strings"
	"time"

	"github.com/faultlab/faultlab/chaos"
)

// Never marks a time to detect or recover that did not happen within the
// run.
const Never time.Duration = -1

// recovered is the success rate of a second that counts as recovered.
const recovered = 0.99

// Summary is one run's figures.
type Summary struct {
	Passed  int `json:"passed"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
	// Aborted: the steady state was not there before the faults.
	Aborted bool `json:"aborted,omitempty"`
	// SuccessRate and P99 are the main load's.
	SuccessRate float64       `json:"success_rate"`
	P99         time.Duration `json:"p99"`
	// Amplification is attempts per logical call to the compared
	// upstreams over the run; 0 when there was no call.
	Amplification float64 `json:"amplification"`
	// TimeToDetect is from the first fault to a compared upstream's
	// breaker seen open; Never when none opened.
	TimeToDetect time.Duration `json:"time_to_detect"`
	// TimeToRecover is from the last revert to the end of the first
	// second after it with 99% successful requests; Never when none.
	TimeToRecover time.Duration `json:"time_to_recover"`
}

func summarize(res *chaos.Result, upstreams []string, before, after map[string]calls) Summary {
	s := Summary{TimeToDetect: Never, TimeToRecover: Never, Aborted: res.Aborted != ""}
	s.Passed, s.Failed, s.Skipped = res.Counts()
	if res.Load != nil {
		s.SuccessRate, s.P99 = res.Load.SuccessRate(), res.Load.Latency.P99
	}
	var attempts, requests float64
	for k, a := range after {
		b := before[k]
		attempts += a.attempts - b.attempts
		requests += a.requests - b.requests
	}
	if requests > 0 {
		s.Amplification = attempts / requests
	}
	if len(res.Windows) == 0 {
		return s
	}
	s.TimeToDetect = detect(res, upstreams)
	s.TimeToRecover = recovery(res)
	return s
}

// detect is the time from the first fault to the first open sample of a
// breaker on one of upstreams.
func detect(res *chaos.Result, upstreams []string) time.Duration {
	start := res.Windows[0].Start
	for _, w := range res.Windows {
		start = min(start, w.Start)
	}
	for _, b := range res.Breakers {
		_, up, _ := strings.Cut(b.Breaker, "→")
		if b.State == chaos.BreakerOpen && b.At >= start && slices.Contains(upstreams, up) {
			return b.At - start
		}
	}
	return Never
}

// recovery is the time from the last revert to the end of the first second
// from then on with a success rate of at least 99%.
func recovery(res *chaos.Result) time.Duration {
	var end time.Duration
	for _, w := range res.Windows {
		if w.End < 0 {
			return Never // still on when the load ended
		}
		end = max(end, w.End)
	}
	for _, p := range res.Timeline {
		from := time.Duration(p.Offset) * time.Second
		if from+time.Second <= end || p.Requests == 0 {
			continue
		}
		if p.SuccessRate() >= recovered {
			return max(0, from+time.Second-end)
		}
	}
	return Never
}
