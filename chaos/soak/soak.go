package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/fault"
	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/httpclient"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/topology"
)

// ErrConfig is wrapped by every configuration error of Run.
var ErrConfig = errors.New("invalid soak config")

// Config configures Run. Duration and Rate are required.
type Config struct {
	// Duration of the load.
	Duration time.Duration
	// Rate is the open-loop request rate per second.
	Rate float64
	// Seed makes the fault schedule; the same seed gives the same plan.
	Seed uint64
	// Slot is how long each set of faults lasts; 0 means 4s.
	Slot time.Duration
	// Settle bounds how long pending orders may take to settle once the
	// faults are cleared; 0 means 30s.
	Settle time.Duration
	// Progress, if set, receives a line per fault slot.
	Progress io.Writer
	// Argon2 overrides the lab's password hashing cost (tests).
	Argon2 *user.Argon2Params
	// GoroutineSlack is how many goroutines above the baseline still pass;
	// 0 means 10.
	GoroutineSlack int
}

// Planned is one fault of the plan, active over [At, Until) of the load.
type Planned struct {
	At, Until time.Duration
	Fault     chaos.FaultSpec
}

// toxics are the rotated network faults. The slicer is left out: removing
// a slicer from a hop under load can deadlock Toxiproxy v2.12.0
// (Shopify/toxiproxy#427, #558), freezing the hop for the rest of a long
// soak; the product-slicer-bandwidth scenario covers it in a short run.
var toxics = []toxi.Toxic{
	{Kind: toxi.Latency, LatencyMs: 300, JitterMs: 100},
	{Kind: toxi.ResetPeer, TimeoutMs: 10, Toxicity: 0.5},
	{Kind: toxi.Down},
	{Kind: toxi.SlowClose, DelayMs: 500},
}

// internalRoutes are the internal routes of the order saga that the
// rotation fails with HTTP 503: product's reservations (reserve, commit,
// release), its commit and release alone, and payment's charges.
var internalRoutes = []struct {
	service, prefix string
	probability     float64
}{
	{topology.Product, "/internal/reservations/", 0.5}, // commit and release
	{topology.Product, "/internal/reservations", 0.3},  // reserve, commit and release
	{topology.Payment, "/payments", 0.3},               // charges
}

// Plan returns the fault schedule for a load of d: one slot after another,
// each with one to three hops under a toxic at once; every other slot a 503
// on one internal route of the saga (reservations, commit and release,
// charges); every third slot a 503 burst on one service. It leaves the
// first slot quiet.
func Plan(seed uint64, d, slot time.Duration) []Planned {
	if slot <= 0 {
		slot = 4 * time.Second
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	gap := slot / 8
	var out []Planned
	services := topology.Callees() // every service some other one calls
	for i, at := 1, slot; at+slot/2 <= d; i, at = i+1, at+slot {
		until := min(at+slot-gap, d)
		hops := rng.Perm(len(lab.Hops))[:1+rng.IntN(3)]
		for _, h := range hops {
			t := toxics[rng.IntN(len(toxics))]
			hop := lab.Hops[h].Name
			t.Hop = hop
			out = append(out, Planned{At: at, Until: until, Fault: chaos.FaultSpec{Kind: chaos.FaultToxic, Hop: hop, Toxic: t}})
		}
		if i%2 == 0 {
			r := internalRoutes[rng.IntN(len(internalRoutes))]
			out = append(out, Planned{At: at, Until: until, Fault: chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: r.service,
				HTTP: fault.Fault{Name: "soak-internal-503", Kind: fault.KindStatus, Status: 503, Probability: r.probability, PathPrefix: r.prefix}}})
		}
		if i%3 == 0 {
			svc := services[rng.IntN(len(services))]
			out = append(out, Planned{At: at, Until: until, Fault: chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: svc,
				HTTP: fault.Fault{Name: "soak-503", Kind: fault.KindStatus, Status: 503, RetryAfter: 1, Probability: 0.5}}})
		}
	}
	return out
}

// Verdict is one invariant's outcome.
type Verdict struct {
	Name   string `json:"name"`
	Pass   bool   `json:"pass"`
	Detail string `json:"detail"`
	// Warn marks a check that is reported but does not fail the soak.
	Warn bool `json:"warn,omitempty"`
}

// Report is what a soak saw. It is a plain value.
type Report struct {
	Seed           uint64              `json:"seed"`
	Load           *load.Report        `json:"load"`
	FaultsApplied  int                 `json:"faults_applied"`
	FaultErrors    []string            `json:"fault_errors,omitempty"`
	OrdersAcked    int                 `json:"orders_acked"`
	OrdersFound    int                 `json:"orders_found"`
	OrderStates    map[string]int      `json:"order_states"`
	Reconciled     int                 `json:"reconciled"`
	Charges        chaos.ChargeSummary `json:"charges"`
	Stock          chaos.StockSummary  `json:"stock"`
	History        *history.Report     `json:"history,omitempty"`
	GoroutinesBase int                 `json:"goroutines_base"`
	GoroutinesEnd  int                 `json:"goroutines_end"`
	HeapBase       uint64              `json:"heap_base"`
	HeapEnd        uint64              `json:"heap_end"`
	Verdicts       []Verdict           `json:"verdicts"`
	// GoroutineDump holds the goroutines left running when there were too
	// many, grouped by stack.
	GoroutineDump string `json:"goroutine_dump,omitempty"`
}

// Passed reports whether every invariant held (warnings aside).
func (r *Report) Passed() bool {
	for _, v := range r.Verdicts {
		if !v.Pass && !v.Warn {
			return false
		}
	}
	return len(r.Verdicts) > 0
}

// Failed returns the names of the invariants that did not hold.
func (r *Report) Failed() []string {
	var out []string
	for _, v := range r.Verdicts {
		if !v.Pass && !v.Warn {
			out = append(out, v.Name)
		}
	}
	return out
}

func (r *Report) verdict(name string, pass bool, format string, args ...any) {
	r.Verdicts = append(r.Verdicts, Verdict{Name: name, Pass: pass, Detail: fmt.Sprintf(format, args...)})
}

// Run starts an ephemeral lab, soaks it, checks the invariants and closes
// the lab. It returns an error only when the soak could not be run; broken
// invariants are in the Report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Duration <= 0 || cfg.Rate <= 0 {
		return nil, fmt.Errorf("%w: duration and rate must be positive, got %s and %g", ErrConfig, cfg.Duration, cfg.Rate)
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 30 * time.Second
	}
	if cfg.GoroutineSlack <= 0 {
		cfg.GoroutineSlack = 10
	}
	rep := &Report{Seed: cfg.Seed, OrderStates: map[string]int{}}
	rep.GoroutinesBase, rep.HeapBase = runtime.NumGoroutine(), heapInuse()

	dir, err := os.MkdirTemp("", "faultlab-soak-")
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	defer os.RemoveAll(dir)
	l, err := lab.Start(ctx, lab.Config{Ephemeral: true, DataDir: dir, Argon2: cfg.Argon2})
	if err != nil {
		return nil, fmt.Errorf("soak: %w", err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = l.Close()
		}
	}()
	runErr := soak(ctx, cfg, l, rep)
	if runErr != nil {
		return rep, runErr
	}

	// Shut everything down, then look for what was left behind.
	l.HTTPClient().CloseIdleConnections()
	if err := l.Close(); err != nil {
		return rep, fmt.Errorf("soak: close lab: %w", err)
	}
	closed = true
	l = nil
	rep.GoroutinesEnd = waitGoroutines(ctx, rep.GoroutinesBase+cfg.GoroutineSlack, 10*time.Second)
	rep.verdict("goroutines back to baseline", rep.GoroutinesEnd <= rep.GoroutinesBase+cfg.GoroutineSlack,
		"%d before, %d after (slack %d)", rep.GoroutinesBase, rep.GoroutinesEnd, cfg.GoroutineSlack)
	if rep.GoroutinesEnd > rep.GoroutinesBase+cfg.GoroutineSlack {
		var b strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&b, 1)
		rep.GoroutineDump = b.String()
	}
	rep.HeapEnd = heapInuse()
	limit := 2*rep.HeapBase + 10<<20
	rep.verdict("heap back to baseline", rep.HeapEnd <= limit, "HeapInuse %.1f MiB before, %.1f MiB after (limit %.1f MiB)",
		mib(rep.HeapBase), mib(rep.HeapEnd), mib(limit))
	return rep, nil
}

// mix is the soak's load: reads, and orders of which half are sent again
// with the same key until their answer is final, as a careful client does.
var mix = []chaos.MixEntry{
	{Call: chaos.CallListProducts, Weight: 2},
	{Call: chaos.CallGetProduct, Weight: 1},
	{Call: chaos.CallCreateOrder, Weight: 1},
	{Call: chaos.CallCreateOrderRetrying, Weight: 1},
}

func soak(ctx context.Context, cfg Config, l *lab.Lab, rep *Report) error {
	token, err := l.Token(ctx)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	gw := l.GatewayURL()
	rec := &history.Recorder{}
	var next atomic.Uint64
	w := &chaos.Workload{Gateway: gw, Token: token, Spread: true, Recorder: rec, RetryFor: chaos.DefaultRetryFor,
		Key: func() string { return fmt.Sprintf("soak-%d-%d", cfg.Seed, next.Add(1)) }}
	if err := w.Setup(ctx, l.HTTPClient(), false); err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	calls, err := w.Calls(mix)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	capture := &orderCapture{next: httpclient.NewTransport()}
	hc := &http.Client{Transport: capture, Timeout: 15 * time.Second}
	defer capture.next.(*http.Transport).CloseIdleConnections()

	plan := Plan(cfg.Seed, cfg.Duration, cfg.Slot)
	if err := loadUnderFaults(ctx, cfg, l, plan, hc, calls, rep); err != nil {
		return err
	}
	if err := clearFaults(ctx, l); err != nil {
		return err
	}
	if err := checkOrders(ctx, cfg, l, hc, gw, token, capture.ids(), rep); err != nil {
		return err
	}
	if err := checkChargesAndStock(ctx, cfg, l, rep); err != nil {
		return err
	}
	rep.verdict("faults were applied", rep.FaultsApplied > 0 || len(plan) == 0, "%d of %d planned, %d errors", rep.FaultsApplied, len(plan), len(rep.FaultErrors))
	hrep, err := chaos.VerifyHistory(ctx, l, rec.Ops(), cfg.Settle)
	if err != nil {
		rep.verdict("history", false, "%d operations, not checked: %v", hrep.Ops, err)
		return nil
	}
	rep.History = &hrep
	rep.verdict("history", hrep.OK(), "%s (%d orders in the stores)", hrep.Summary(), hrep.Orders)
	return nil
}

// loadUnderFaults runs the load while inject applies the plan.
func loadUnderFaults(ctx context.Context, cfg Config, l *lab.Lab, plan []Planned, hc *http.Client, calls []load.Call, rep *Report) error {
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rep.FaultsApplied, rep.FaultErrors = inject(loadCtx, l, plan, cfg.Progress)
	}()
	// Retrying clients hold a worker while they wait to retry (up to
	// DefaultRetryFor): room for a few seconds of load in flight.
	lr, err := load.Run(ctx, load.Config{Rate: cfg.Rate, Duration: cfg.Duration, Concurrency: max(128, 4*int(cfg.Rate)), Client: hc, Mix: calls})
	cancel()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	rep.Load = lr
	return nil
}

// clearFaults turns every fault off before the invariants are checked.
func clearFaults(ctx context.Context, l *lab.Lab) error {
	// Bounded: Toxiproxy's control API can hang for good when a toxic is
	// removed while a stream is stuck (Shopify/toxiproxy#427, #558).
	rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
	err := l.ResetFaults(rctx)
	rcancel()
	if err != nil {
		return fmt.Errorf("soak: clear faults (Toxiproxy's API may be deadlocked, see Shopify/toxiproxy#427): %w", err)
	}
	return nil
}

// checkOrders reads every acknowledged order until it settles: each must
// exist and reach a final state.
func checkOrders(ctx context.Context, cfg Config, l *lab.Lab, hc *http.Client, gw, token string, acked []string, rep *Report) error {
	rep.OrdersAcked = len(acked)
	states, reconciled, err := settle(ctx, l, hc, gw, token, acked, cfg.Settle)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	rep.Reconciled = reconciled
	missing, pending := 0, 0
	for _, st := range states {
		rep.OrderStates[st]++
		switch st {
		case "missing":
			missing++
		case "pending":
			pending++
		default:
			rep.OrdersFound++
		}
	}
	rep.verdict("every acknowledged order exists", missing == 0, "%d acknowledged, %d found, %d missing", rep.OrdersAcked, rep.OrdersFound+pending, missing)
	rep.verdict("every acknowledged order settles", pending == 0 && missing == 0, "%d final within %s, %d still pending", rep.OrdersFound, cfg.Settle, pending)
	return nil
}

// checkChargesAndStock checks payment's charges against the confirmed
// orders, and that the stock adds up.
func checkChargesAndStock(ctx context.Context, cfg Config, l *lab.Lab, rep *Report) error {
	var err error
	rep.Charges, err = l.Charges(ctx)
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	rep.verdict("no double charge", rep.Charges.Duplicates == 0, "%d charges, %d orders charged twice", rep.Charges.Total, rep.Charges.Duplicates)
	confirmed := rep.OrderStates["confirmed"]
	rep.verdict("every confirmed order is charged", rep.Charges.Total >= confirmed, "%d confirmed, %d charges", confirmed, rep.Charges.Total)
	rep.Stock, err = settleStock(ctx, l, time.Now().Add(cfg.Settle))
	if err != nil {
		return fmt.Errorf("soak: %w", err)
	}
	s := rep.Stock
	rep.verdict("stock consistent", s.Consistent(), "initial %d = available %d + reserved %d + sold %d", s.Initial, s.Available, s.Reserved, s.Sold)
	// A reservation whose order failed while its release could not reach
	// product stays reserved: counted, but reported as a warning.
	rep.verdict("no stock left reserved", s.Reserved == 0, "%d units still reserved %s after the faults", s.Reserved, cfg.Settle)
	rep.Verdicts[len(rep.Verdicts)-1].Warn = true
	return nil
}

// inject applies and reverts the plan on the wall clock until ctx ends.
func inject(ctx context.Context, env chaos.Env, plan []Planned, progress io.Writer) (applied int, errs []string) {
	type event struct {
		at    time.Duration
		apply bool
		p     Planned
	}
	var evs []event
	for _, p := range plan {
		evs = append(evs, event{p.At, true, p}, event{p.Until, false, p})
	}
	// Reverts before applies at the same instant: a hop freed by one slot
	// may be taken by the next.
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].at != evs[j].at {
			return evs[i].at < evs[j].at
		}
		return !evs[i].apply && evs[j].apply
	})
	start := time.Now()
	for _, ev := range evs {
		t := time.NewTimer(time.Until(start.Add(ev.at)))
		select {
		case <-ctx.Done():
			t.Stop()
			return applied, errs
		case <-t.C:
		}
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		if ev.apply {
			err = env.ApplyFault(c, ev.p.Fault)
			if err == nil {
				applied++
				if progress != nil {
					fmt.Fprintf(progress, "soak: %6.1fs %s\n", ev.at.Seconds(), ev.p.Fault)
				}
			}
		} else {
			err = env.RevertFault(c, ev.p.Fault)
		}
		cancel()
		if err != nil {
			errs = append(errs, err.Error())
		}
	}
	return applied, errs
}

// settle reads every acknowledged order through the gateway until none is
// pending or the bound passes, asking order to reconcile pending ones.
func settle(ctx context.Context, l *lab.Lab, hc *http.Client, gw, token string, ids []string, bound time.Duration) (map[string]string, int, error) {
	states := map[string]string{}
	todo := ids
	deadline := time.Now().Add(bound)
	reconciled := 0
	for {
		var still []string
		for _, id := range todo {
			st, err := orderState(ctx, hc, gw, token, id)
			if err != nil {
				st = "unknown"
			}
			states[id] = st
			if st == "pending" || st == "unknown" {
				still = append(still, id)
			}
		}
		todo = still
		if len(todo) == 0 || time.Now().After(deadline) {
			for _, id := range todo {
				if states[id] == "unknown" {
					states[id] = "missing"
				}
			}
			return states, reconciled, nil
		}
		n, _ := l.Units[topology.Order].Reconcile(ctx)
		reconciled += n
		if err := pause(ctx); err != nil {
			return nil, reconciled, err
		}
	}
}

// settleStock reads the stock until nothing is reserved or the deadline
// passes, reconciling orders an interrupted request left pending.
func settleStock(ctx context.Context, l *lab.Lab, deadline time.Time) (chaos.StockSummary, error) {
	for {
		s, err := l.Stock(ctx)
		if err != nil || s.Reserved == 0 || time.Now().After(deadline) {
			return s, err
		}
		_, _ = l.Units[topology.Order].Reconcile(ctx)
		if err := pause(ctx); err != nil {
			return s, err
		}
	}
}

// pause waits one polling period.
func pause(ctx context.Context) error {
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func orderState(ctx context.Context, hc *http.Client, gw, token, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw+chaos.DefaultRoutes.Orders+"/"+id, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return "missing", nil
	default:
		return "", fmt.Errorf("order %s: status %d", id, resp.StatusCode)
	}
	var o struct {
		Status string `json:"status"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&o); err != nil {
		return "", fmt.Errorf("order %s: %w", id, err)
	}
	return o.Status, nil
}

// orderCapture records the id of every order the gateway acknowledged
// with 201.
type orderCapture struct {
	next http.RoundTripper
	mu   sync.Mutex
	acks []string
}

func (c *orderCapture) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost || resp.StatusCode != http.StatusCreated ||
		!strings.HasSuffix(req.URL.Path, chaos.DefaultRoutes.Orders) {
		return resp, err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	if rerr != nil {
		return resp, nil // the client never saw the acknowledgement either
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &o) == nil && o.ID != "" {
		c.mu.Lock()
		c.acks = append(c.acks, o.ID)
		c.mu.Unlock()
	}
	return resp, nil
}

func (c *orderCapture) ids() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.acks...)
}

func heapInuse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

// waitGoroutines polls until at most want goroutines run or bound passes,
// and returns the last count. Connection goroutines end asynchronously
// after their peers close.
func waitGoroutines(ctx context.Context, want int, bound time.Duration) int {
	deadline := time.Now().Add(bound)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		n := runtime.NumGoroutine()
		if n <= want || time.Now().After(deadline) {
			return n
		}
		select {
		case <-ctx.Done():
			return n
		case <-tick.C:
		}
	}
}

// WriteText prints the report.
func WriteText(w io.Writer, r *Report) error {
	var b strings.Builder
	if lr := r.Load; lr != nil {
		fmt.Fprintf(&b, "requests      %d (%.1f/s), %.1f%% ok, %d dropped; p50 %s p99 %s\n", lr.Total, lr.RPS, 100*lr.SuccessRate(), lr.Dropped, lr.Latency.P50, lr.Latency.P99)
		fmt.Fprintf(&b, "statuses      %s\n", statuses(lr.Status))
	}
	fmt.Fprintf(&b, "seed          %d\n", r.Seed)
	fmt.Fprintf(&b, "faults        %d applied, %d errors\n", r.FaultsApplied, len(r.FaultErrors))
	fmt.Fprintf(&b, "orders        %d acknowledged, %d found final %v, %d reconciled\n", r.OrdersAcked, r.OrdersFound, r.OrderStates, r.Reconciled)
	fmt.Fprintf(&b, "charges       %d, duplicates %d; stock sold %d, reserved %d\n", r.Charges.Total, r.Charges.Duplicates, r.Stock.Sold, r.Stock.Reserved)
	fmt.Fprintf(&b, "goroutines    %d → %d; heap %.1f → %.1f MiB\n", r.GoroutinesBase, r.GoroutinesEnd, mib(r.HeapBase), mib(r.HeapEnd))
	for _, v := range r.Verdicts {
		word := "FAIL"
		switch {
		case v.Pass:
			word = "PASS"
		case v.Warn:
			word = "WARN"
		}
		fmt.Fprintf(&b, "%s  %-34s %s\n", word, v.Name, v.Detail)
	}
	if r.History != nil && !r.History.OK() {
		b.WriteString(r.History.String() + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func statuses(m map[int]int) string {
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%d×%d", c, m[c]))
	}
	return strings.Join(parts, " ")
}
