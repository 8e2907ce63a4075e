package chaos

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/load"
)

// Options configures Run. The zero value works.
type Options struct {
	// Progress receives a live one-line status, rewritten with \r. Nil: none.
	Progress io.Writer
	// Now stamps results and windows; nil means time.Now. Scheduling itself
	// runs on the wall clock.
	Now func() time.Time
	// SteadyState is the length of the before and after probes; 0 means 2s,
	// negative means no probes (and before/after checks are skipped).
	SteadyState time.Duration
	// Recovery is a pause between the end of the main load and the after
	// probe; 0 means none.
	Recovery time.Duration
	// SampleEvery is the breaker/alert sampling period; 0 means 250ms.
	SampleEvery time.Duration
	// Routes are the gateway paths; the zero value means DefaultRoutes.
	Routes Routes
	// OrderBody builds a create_order body; nil means OrderBody.
	OrderBody func(productID string) any
}

// record is one result of a load phase.
type record struct {
	r   load.Result
	off time.Duration // from the start of the main load
	ok  bool
}

// run holds the state of one Run.
type run struct {
	env  Env
	sc   Scenario
	opt  Options
	res  *Result
	wl   *Workload
	hc   *http.Client
	cap  *capture
	rec  *history.Recorder
	mix  []load.Call
	t0   time.Time // main load start (Options.Now)
	wall time.Time // main load start (wall clock)

	mu       sync.Mutex
	phases   map[string][]record
	windows  []Window
	samples  []BreakerSample
	alerts   map[string]firing // by alert name: first seen firing
	alertErr error
	startM   map[string]MetricFamilies
	endM     map[string]MetricFamilies
	abusers  map[int]func() // step → stop, for FaultAbuse steps running
}

// Run executes sc against env: it resets the faults, probes the steady
// state, drives the main load while applying and reverting the faults on
// schedule, probes again, and judges the hypothesis. It returns an error
// only when the run could not happen at all (invalid scenario, no token);
// everything else is in the Result. Faults are reset when Run returns.
func Run(ctx context.Context, env Env, sc Scenario, opt Options) (*Result, error) {
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.SteadyState == 0 {
		opt.SteadyState = 2 * time.Second
	}
	if opt.SampleEvery <= 0 {
		opt.SampleEvery = 250 * time.Millisecond
	}
	if opt.Routes == (Routes{}) {
		opt.Routes = DefaultRoutes
	}
	if opt.OrderBody == nil {
		opt.OrderBody = OrderBody
	}
	rn := &run{env: env, sc: sc, opt: opt, phases: map[string][]record{}, alerts: map[string]firing{}, rec: &history.Recorder{}}
	rn.res = &Result{Scenario: sc, Started: opt.Now()}
	defer func() { rn.res.Elapsed = opt.Now().Sub(rn.res.Started) }()

	if err := env.ResetFaults(ctx); err != nil {
		return nil, fmt.Errorf("chaos: %s: reset faults: %w", sc.Name, err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := env.ResetFaults(cctx); err != nil {
			rn.errorf("reset faults at the end: %v", err)
		}
	}()
	if err := rn.prepare(ctx); err != nil {
		return nil, err
	}
	rn.startM = rn.snapshot(ctx)

	if opt.SteadyState > 0 {
		rn.res.Before = rn.probe(ctx, PhaseBefore)
		for _, c := range sc.Hypothesis {
			if c.phase() != PhaseBefore {
				continue
			}
			if v := rn.judge(ctx, c); !v.Pass && !v.Skipped {
				rn.res.Aborted = fmt.Sprintf("steady state not met before faults: %s: %s (want %s)", v.Check, v.Measured, v.Want)
			}
		}
	}
	if rn.res.Aborted != "" {
		rn.judgeAll(ctx, true)
		return rn.res, nil
	}

	rn.main(ctx)
	if opt.SteadyState > 0 {
		if opt.Recovery > 0 {
			sleep(ctx, opt.Recovery)
		}
		rn.sampleDuring(ctx, func() { rn.res.After = rn.probe(ctx, PhaseAfter) })
	}
	rn.endM = rn.snapshot(ctx)
	rn.judgeAll(ctx, false)
	rn.timeline()
	return rn.res, nil
}

func (rn *run) errorf(format string, args ...any) {
	rn.mu.Lock()
	defer rn.mu.Unlock()
	rn.res.Errors = append(rn.res.Errors, fmt.Sprintf(format, args...))
}

// prepare logs in, reads the catalogue and builds the calls.
func (rn *run) prepare(ctx context.Context) error {
	tok, err := rn.env.Token(ctx)
	if err != nil {
		return fmt.Errorf("chaos: %s: token: %w", rn.sc.Name, err)
	}
	rn.cap = newCapture(rn.sc.Hypothesis, rn.env.HTTPClient())
	rn.hc = rn.cap.client
	cr, _ := rn.env.(Credentials)
	rn.wl = &Workload{Gateway: rn.env.GatewayURL(), Routes: rn.opt.Routes, Token: tok, Credentials: cr, OrderBody: rn.opt.OrderBody,
		Recorder: rn.rec, Now: rn.opt.Now, RetryFor: rn.sc.Load.RetryFor}
	needOrder := slices.ContainsFunc(rn.sc.Load.Mix, func(m MixEntry) bool { return m.Call == CallGetOrder })
	if err := rn.wl.Setup(ctx, rn.hc, needOrder); err != nil {
		rn.errorf("setup: %v", err)
	}
	if rn.mix, err = rn.wl.Calls(rn.sc.Load.Mix); err != nil {
		return fmt.Errorf("chaos: %s: %w", rn.sc.Name, err)
	}
	return nil
}

func (rn *run) loadConfig(d time.Duration, phase string) load.Config {
	return load.Config{
		Rate: rn.sc.Load.Rate, Duration: d, Concurrency: rn.sc.Load.Concurrency,
		Mix: rn.mix, Client: rn.hc, Now: rn.opt.Now,
		OnResult: func(r load.Result) {
			rec := record{r: r, off: r.Start.Sub(rn.t0), ok: load.DefaultSuccess(r)}
			rn.mu.Lock()
			rn.phases[phase] = append(rn.phases[phase], rec)
			rn.mu.Unlock()
		},
	}
}

// probe runs a steady-state load of the scenario's mix.
// Its progress is one line of its own, ended when the probe is.
func (rn *run) probe(ctx context.Context, phase string) *load.Report {
	if rn.opt.Progress != nil {
		fmt.Fprintf(rn.opt.Progress, "%s: steady-state probe %s the faults (%s)…", rn.sc.Name, phase, rn.opt.SteadyState)
		defer fmt.Fprintln(rn.opt.Progress, " done")
	}
	rep, err := load.Run(ctx, rn.loadConfig(rn.opt.SteadyState, phase))
	if err != nil {
		rn.errorf("%s probe: %v", phase, err)
	}
	return rep
}

// main runs the main load with the fault schedule, the sampler and the
// progress line.
func (rn *run) main(ctx context.Context) {
	rn.t0, rn.wall = rn.opt.Now(), time.Now()
	rn.res.LoadStart = rn.t0
	loadDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rn.schedule(ctx, loadDone)
	}()
	rn.sampleDuring(ctx, func() {
		stopProgress := rn.startProgress()
		rep, err := load.Run(ctx, rn.loadConfig(rn.sc.Load.Duration, PhaseOverall))
		close(loadDone)
		wg.Wait()
		stopProgress()
		if err != nil {
			rn.errorf("main load: %v", err)
			return
		}
		rn.res.Load = rep
		rn.res.Failures = rep.Failures
	})
}

// event is one fault action at an offset of the main load.
type event struct {
	at     time.Duration
	step   int
	revert bool
	prob   float64 // for ramped HTTP faults: the probability to set
}

// schedule applies and reverts the steps on time, and reverts whatever is
// still applied when the load ends.
func (rn *run) schedule(ctx context.Context, done <-chan struct{}) {
	var evs []event
	for i, st := range rn.sc.Faults {
		if st.Fault.Kind == FaultHTTP && st.Ramp > 0 {
			target := st.Fault.HTTP.Probability
			if target == 0 {
				target = 1
			}
			for k := 1; k <= 4; k++ {
				evs = append(evs, event{at: st.At + st.Ramp*time.Duration(k-1)/4, step: i, prob: target * float64(k) / 4})
			}
		} else {
			evs = append(evs, event{at: st.At, step: i})
		}
		if st.Until > 0 {
			evs = append(evs, event{at: st.Until, step: i, revert: true})
		}
	}
	sort.SliceStable(evs, func(a, b int) bool { return evs[a].at < evs[b].at })
	applied := map[int]bool{}
	win := map[int]int{} // step → index in rn.windows
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for _, ev := range evs {
		timer.Reset(max(0, ev.at-time.Since(rn.wall)))
		select {
		case <-done:
			rn.revertAll(ctx, applied, win)
			return
		case <-timer.C:
		}
		st := rn.sc.Faults[ev.step]
		spec := st.Fault
		if ev.prob > 0 {
			spec.HTTP.Probability = ev.prob
		}
		off := rn.opt.Now().Sub(rn.t0)
		if ev.revert {
			if applied[ev.step] {
				rn.revert(ctx, ev.step, win[ev.step], off)
				delete(applied, ev.step)
			}
			continue
		}
		err := rn.apply(ctx, ev.step, spec)
		rn.mu.Lock()
		if _, ok := win[ev.step]; !ok {
			w := Window{Step: st.Name, Fault: st.Fault.String(), Start: off, End: -1}
			if err != nil {
				w.Error = "apply: " + err.Error()
				w.End = off
			}
			rn.windows = append(rn.windows, w)
			win[ev.step] = len(rn.windows) - 1
		}
		rn.mu.Unlock()
		if err != nil {
			rn.errorf("apply %s: %v", st.Name, err)
			continue
		}
		applied[ev.step] = true
	}
	<-done
	rn.revertAll(ctx, applied, win)
}

func (rn *run) revertAll(ctx context.Context, applied map[int]bool, win map[int]int) {
	off := rn.opt.Now().Sub(rn.t0)
	for i := range rn.sc.Faults {
		if applied[i] {
			rn.revert(ctx, i, win[i], off)
		}
	}
}

// apply injects a step's fault through the Env, or starts its abuse load.
func (rn *run) apply(ctx context.Context, step int, spec FaultSpec) error {
	if spec.Kind != FaultAbuse {
		return rn.env.ApplyFault(ctx, spec)
	}
	if rn.abusers == nil {
		rn.abusers = map[int]func(){}
	}
	if _, running := rn.abusers[step]; !running {
		rn.abusers[step] = rn.startAbuse(ctx, spec.Abuse)
	}
	return nil
}

func (rn *run) revert(ctx context.Context, step, w int, off time.Duration) {
	var err error
	if stop, ok := rn.abusers[step]; ok {
		stop()
		delete(rn.abusers, step)
	} else {
		err = rn.env.RevertFault(context.WithoutCancel(ctx), rn.sc.Faults[step].Fault)
	}
	rn.mu.Lock()
	rn.windows[w].End = off
	if err != nil {
		rn.windows[w].Error = "revert: " + err.Error()
	}
	rn.mu.Unlock()
	if err != nil {
		rn.errorf("revert %s: %v", rn.sc.Faults[step].Name, err)
	}
}

func (rn *run) startProgress() (stop func()) {
	if rn.opt.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				rn.progress("load", time.Since(rn.wall))
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		rn.progress("load", time.Since(rn.wall))
		fmt.Fprintln(rn.opt.Progress)
	}
}

func (rn *run) progress(stage string, elapsed time.Duration) {
	if rn.opt.Progress == nil {
		return
	}
	rn.mu.Lock()
	recs := rn.phases[PhaseOverall]
	n, ok := len(recs), 0
	for _, r := range recs {
		if r.ok {
			ok++
		}
	}
	var active []string
	for _, w := range rn.windows {
		if w.End < 0 {
			active = append(active, w.Step)
		}
	}
	rn.mu.Unlock()
	rate := 100.0
	if n > 0 {
		rate = 100 * float64(ok) / float64(n)
	}
	faults := "no fault"
	if len(active) > 0 {
		faults = "fault: " + joinNames(active)
	}
	fmt.Fprintf(rn.opt.Progress, "\r%s %-12s %5.1fs/%-5s %6d req %6.1f%% ok  %-40s",
		rn.sc.Name, stage, elapsed.Seconds(), rn.sc.Load.Duration, n, rate, faults)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
