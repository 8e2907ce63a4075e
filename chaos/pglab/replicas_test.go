package pglab_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/internal/store/pgtest"
)

// replicas is two labs on one PostgreSQL database, seen as one chaos.Env:
// every service runs twice (each order and product replica reconciling on
// its own), the load alternates between the two gateways, and each fault
// is applied to both stacks. Reads (charges, stock, history, logs) go
// through the first lab; they read the one database.
type replicas struct {
	*lab.Lab
	b  *lab.Lab
	hc *http.Client
}

func newReplicas(t *testing.T) *replicas {
	db := pgtest.Database(t)
	dir := t.TempDir() // shared: the signing key, so either user replica's tokens pass both
	a := labtest.Start(t, lab.Config{DatabaseURL: db, DataDir: dir})
	b := labtest.Start(t, lab.Config{DatabaseURL: db, DataDir: dir})
	bu, err := url.Parse(b.GatewayURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dumpErrors(t, dir)
			t.Logf("PostgreSQL's log:\n%s", pgtest.Shared(t).Output())
		}
	})
	r := &replicas{Lab: a, b: b}
	r.hc = &http.Client{Transport: &alternate{next: a.HTTPClient().Transport, host: bu.Host}}
	return r
}

// alternate sends every other request to the second gateway.
type alternate struct {
	next http.RoundTripper
	host string
	n    atomic.Int64
}

func (a *alternate) RoundTrip(req *http.Request) (*http.Response, error) {
	if a.n.Add(1)%2 == 0 {
		req = req.Clone(req.Context())
		req.URL.Host, req.Host = a.host, a.host
	}
	next := a.next
	if next == nil {
		next = http.DefaultTransport
	}
	return next.RoundTrip(req)
}

func (r *replicas) HTTPClient() *http.Client { return r.hc }

// warmUp places a few orders through each gateway first, so that the
// steady-state probes meet open connection pools and prepared statements,
// as on a lab that has been running for a while.
func (r *replicas) warmUp(t *testing.T) {
	tok, err := r.Token(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, r.GatewayURL()+"/api/v1/orders",
			strings.NewReader(`{"items":[{"product_id":"prd_002","quantity":1}]}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", fmt.Sprint("warm-up-", i))
		resp, err := r.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
}

func (r *replicas) ApplyFault(ctx context.Context, f chaos.FaultSpec) error {
	return errors.Join(r.Lab.ApplyFault(ctx, f), r.b.ApplyFault(ctx, f))
}

func (r *replicas) RevertFault(ctx context.Context, f chaos.FaultSpec) error {
	return errors.Join(r.Lab.RevertFault(ctx, f), r.b.RevertFault(ctx, f))
}

func (r *replicas) ResetFaults(ctx context.Context) error {
	return errors.Join(r.Lab.ResetFaults(ctx), r.b.ResetFaults(ctx))
}

// Reconcile runs both order replicas' reconcilers at once, as two hosts
// would.
func (r *replicas) Reconcile(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- r.b.Reconcile(ctx) }()
	return errors.Join(r.Lab.Reconcile(ctx), <-errc)
}

// TestCompoundFaultsOnTwoReplicas runs the compound-faults scenario on two
// replicas of every service sharing PostgreSQL: the hypothesis holds and
// the history check finds no anomaly.
func TestCompoundFaultsOnTwoReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("about 30 s of chaos")
	}
	env := newReplicas(t)
	env.warmUp(t)
	sc := chaos.CompoundFaults()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	res, err := chaos.Run(ctx, env, sc, chaos.Options{SteadyState: time.Second, Recovery: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range res.Verdicts {
		t.Logf("pass=%-5v %-8s %-60s measured %-28s want %s %s", v.Pass, v.Phase, v.Check, v.Measured, v.Want, v.Note)
	}
	if res.Before != nil {
		for _, f := range res.Before.Failures {
			t.Logf("failed probe: %+v", f)
		}
	}
	if l := res.Load; l != nil {
		t.Logf("load: %d requests in %s, statuses %v", l.Total, l.Elapsed.Round(time.Second), l.Status)
	}
	if res.History == nil {
		t.Fatal("no history check ran")
	}
	t.Logf("%s; %d orders tried, %d in the store", res.History.String(), res.History.Keys, res.History.Orders)
	if !res.History.OK() || len(res.History.Anomalies) != 0 {
		t.Errorf("history check: %d anomalies", len(res.History.Anomalies))
	}
	waits, deadlocks := 0, 0
	for _, line := range strings.Split(pgtest.Shared(t).Output(), "\n") {
		switch {
		case strings.Contains(line, "still waiting"):
			waits++ // on the hot stock row: every order buys prd_001
		case strings.Contains(line, "deadlock detected"):
			deadlocks++ // retried by store.PGTx
			t.Log(line)
		}
	}
	t.Logf("PostgreSQL logged %d lock waits over 200 ms and %d deadlocks", waits, deadlocks)
	if !res.Passed() {
		t.Errorf("compound-faults on two replicas: hypothesis failed (errors=%v)", res.Errors)
	}
}

// dumpErrors logs the warning and error lines of the labs' logs.
func dumpErrors(t *testing.T, dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, `"log.level":"error"`) || strings.Contains(line, `"log.level":"warn"`) {
				t.Log(line)
			}
		}
	}
}
