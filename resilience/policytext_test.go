package resilience

import (
	"strings"
	"testing"
	"time"
)

func TestPolicyTextRoundTrip(t *testing.T) {
	p := Policy{
		Timeout: 2 * time.Second, AttemptTimeout: 800 * time.Millisecond, MaxAttempts: 4,
		BackoffInitial: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, MaxRetryAfter: 250 * time.Millisecond,
		BudgetRatio: 2, BudgetMinRetries: 5, BudgetWindow: 3 * time.Second,
		BreakerWindow: 5 * time.Second, BreakerMinRequests: 6, BreakerFailureRatio: 0.25,
		BreakerOpenTimeout: 2 * time.Second, BreakerHalfOpenProbes: 2, MaxConcurrent: 32, DisableBreaker: true,
		Balancer: BalancerRoundRobin, DisableOutlier: true, OutlierConsecutive5xx: 7, OutlierConsecutiveGateway: 2,
		OutlierBaseEjection: 3 * time.Second, OutlierMaxEjection: time.Minute, OutlierMaxPercent: 50,
		OutlierInterval: 4 * time.Second, OutlierSuccessStdev: 1.9, OutlierSuccessMinRequests: 9,
		HedgeDelay: 30 * time.Millisecond, HedgeQuantile: 0.95, HedgeMinDelay: time.Millisecond,
		HedgeMaxDelay: 200 * time.Millisecond, HedgePosts: true,
	}
	text, err := p.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	var back Policy
	if err := back.UnmarshalText(text); err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	if back != p {
		t.Fatalf("round trip of %s:\n got %+v\nwant %+v", text, back, p)
	}
	// Every key appears: a field added to Policy without a key fails here.
	if n := strings.Count(string(text), "="); n != len(PolicyKeys()) {
		t.Fatalf("%d keys written, %d known: %s", n, len(PolicyKeys()), text)
	}
	if s := (Policy{}).String(); s != "" {
		t.Fatalf("zero policy writes %q", s)
	}
}

func TestPolicyTextPatches(t *testing.T) {
	base := Policy{BreakerOpenTimeout: 2 * time.Second, BreakerMinRequests: 6, MaxAttempts: 3}
	p := base
	if err := p.UnmarshalText([]byte(" attempts=2 , attempt-timeout=300ms,breaker=off,lb=p2c,outlier-5xx=2,hedge-delay=40ms,hedge-posts=on")); err != nil {
		t.Fatal(err)
	}
	want := base
	want.MaxAttempts, want.AttemptTimeout, want.DisableBreaker = 2, 300*time.Millisecond, true
	want.Balancer, want.OutlierConsecutive5xx, want.HedgeDelay, want.HedgePosts = BalancerP2C, 2, 40*time.Millisecond, true
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
}

func TestPolicyTextErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"attempts", "want key=value"},
		{"retries=2", `unknown key "retries"`},
		{"timeout=fast", "want a duration"},
		{"timeout=-1s", "must be positive"},
		{"timeout=0s", "must be positive"},
		{"attempts=0", "integer ≥ 1"},
		{"attempts=2.5", "integer ≥ 1"},
		{"breaker-min-requests=-1", "integer ≥ 1"},
		{"budget-ratio=0", "> 0"},
		{"budget-ratio=Inf", "> 0"},
		{"breaker-failure-ratio=1.5", "(0, 1]"},
		{"breaker-failure-ratio=NaN", "> 0"},
		{"breaker=maybe", "on or off"},
		{"attempts=2,attempts=3", "given twice"},
		{"lb=random", "p2c or round-robin"},
		{"outlier=maybe", "on or off"},
		{"outlier-max-percent=101", "[1, 100]"},
		{"outlier-max-percent=0", "[1, 100]"},
		{"outlier-5xx=0", "integer ≥ 1"},
		{"outlier-base-ejection=0s", "must be positive"},
		{"outlier-success-stdev=-1", "> 0"},
		{"hedge-quantile=1.5", "(0, 1]"},
		{"hedge-delay=soon", "want a duration"},
		{"hedge-posts=yes", "on or off"},
	} {
		p := Policy{MaxAttempts: 7}
		err := p.UnmarshalText([]byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.text, err, tc.want)
		}
		if p != (Policy{MaxAttempts: 7}) {
			t.Errorf("%q: a failed parse changed the policy to %+v", tc.text, p)
		}
	}
}

// FuzzPolicyText: any text either fails to parse and leaves the policy as
// it was, or parses into a policy whose text parses back to the same.
func FuzzPolicyText(f *testing.F) {
	for _, seed := range []string{"", "attempts=2", "lb=round-robin,outlier-max-percent=50", "hedge-quantile=0.9,hedge-max-delay=1s", "outlier=off,breaker=on", "a=b=c", ",,="} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		base := Policy{MaxAttempts: 7}
		p := base
		if err := p.UnmarshalText([]byte(text)); err != nil {
			if p != base {
				t.Fatalf("%q: failed parse changed the policy", text)
			}
			return
		}
		out, _ := p.MarshalText()
		var back Policy
		if err := back.UnmarshalText(out); err != nil || back != p {
			t.Fatalf("%q -> %q -> %+v, %v; want %+v", text, out, back, err, p)
		}
	})
}
