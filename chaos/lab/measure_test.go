package lab_test

import (
	"context"
	"os"
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
)

// TestMeasureLoginAbuse measures the login-abuse scenario against a lab
// with the real password cost (argon2id, 19 MiB, as `faultlab up` runs
// it), for the README's figures. It is a measurement, not a gate: it
// reports and never fails on the figures. Run it with
//
//	FAULTLAB_MEASURE=1 go test -count=1 -p 1 -v -run TestMeasureLoginAbuse ./chaos/lab
func TestMeasureLoginAbuse(t *testing.T) {
	if os.Getenv("FAULTLAB_MEASURE") == "" {
		t.Skip("a measurement: set FAULTLAB_MEASURE=1")
	}
	base, ok := chaos.Lookup("login-abuse")
	if !ok {
		t.Fatal("login-abuse not in the catalogue")
	}
	// Extra readings: how many answers were shed (503) and how many 401s
	// (hashed) the spray and the customer's logins got.
	for _, call := range []string{chaos.CallAbuseUnknownEmail, chaos.CallLogin} {
		for _, st := range []int{401, 503} {
			base.Hypothesis = append(base.Hypothesis, chaos.Check{Kind: chaos.CheckStatusSeen, Phase: chaos.PhaseDuring, Call: call, Status: st})
		}
	}
	wide := base
	wide.Faults = append([]chaos.Step(nil), base.Faults...)
	wide.Faults[1].Fault.Abuse = chaos.Abuse{Call: chaos.CallAbuseUnknownEmail, Rate: 200, Concurrency: 32, Sources: 1000}
	for _, tc := range []struct {
		name string
		sc   chaos.Scenario
	}{{"as catalogued", base}, {"unknown emails from 1000 addresses at 200/s", wide}} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := lab.Start(context.Background(), lab.Config{Ephemeral: true, DataDir: t.TempDir(), Default: testPolicy})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			res := runScenario(t, l, tc.sc)
			logVerdicts(t, res)
			for _, c := range res.Load.Calls {
				t.Logf("%-14s n=%d ok=%d p50=%v p99=%v status=%v", c.Name, c.Total, c.Successes, c.Latency.P50, c.Latency.P99, c.Status)
			}
		})
	}
}
