package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/observability"
)

// ErrConfig is wrapped by every configuration error of Run.
var ErrConfig = errors.New("invalid load config")

// Call is one kind of request in the mix.
type Call struct {
	// Name labels the call in the report, e.g. "list_products".
	Name string
	// Weight is the call's share of the mix; it must be positive.
	Weight int
	// Build makes a new request for ctx. It is called concurrently.
	Build func(ctx context.Context) (*http.Request, error)
	// Do, if set, sends the request Build made instead of the default
	// (Client.Do, body drained): it may read the answer, or send the
	// request again (same headers, a new body from GetBody) until it has a
	// final one. It returns the final status (0 when there was none). The
	// Result's latency spans all of it. It is called concurrently.
	Do func(ctx context.Context, client *http.Client, req *http.Request) (status int, err error)
}

// Config configures Run. Duration and Mix are required; the rest have
// working zero values.
type Config struct {
	// Rate is the open-loop request rate per second; 0 means closed loop
	// (every worker sends its next request as soon as the last one ends).
	Rate float64
	// Duration is how long requests are issued; in-flight ones then finish.
	Duration time.Duration
	// Concurrency caps requests in flight; 0 means 16.
	Concurrency int
	// Mix is the weighted set of calls.
	Mix []Call
	// Client sends the requests; nil means a client with a 10s timeout and
	// a connection pool sized to Concurrency.
	Client *http.Client
	// Now stamps results; nil means time.Now.
	Now func() time.Time
	// OnResult, if set, sees every result, from many goroutines at once.
	OnResult func(Result)
	// Success decides whether a result counts as a success; nil means no
	// error and a status below 400.
	Success func(Result) bool
	// MaxSamples bounds the failed requests kept in the report (the first
	// ones seen); 0 means 20.
	MaxSamples int
}

// Result is the outcome of one request.
type Result struct {
	Call    string        // the Call's name
	Start   time.Time     // when the request was sent (Config.Now)
	Latency time.Duration // until the body was read or the request failed
	Status  int           // 0 when there was no response
	Err     error         // transport or build error
	Detail  string        // for a status ≥ 400: what the answer said (see AnswerError)
	TraceID string        // the trace id of the traceparent sent
}

// DefaultSuccess is the default Config.Success.
func DefaultSuccess(r Result) bool { return r.Err == nil && r.Status > 0 && r.Status < 400 }

// Run sends load until cfg.Duration has passed or ctx ends, waits for the
// requests in flight, and reports. It returns an error only for a bad
// config; a cancelled ctx ends the run early with a partial report.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	total := 0
	cum := make([]int, len(cfg.Mix))
	for i, c := range cfg.Mix {
		total += c.Weight
		cum[i] = total
	}
	pick := func() *Call {
		if len(cfg.Mix) == 1 {
			return &cfg.Mix[0]
		}
		n := rand.IntN(total)
		i := sort.SearchInts(cum, n+1)
		return &cfg.Mix[i]
	}

	col := newCollector(cfg)
	wallStart := time.Now()
	stop := wallStart.Add(cfg.Duration)
	runCtx, cancel := context.WithDeadline(ctx, stop)
	defer cancel()

	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if cfg.Rate > 0 {
				for range jobs {
					col.add(do(ctx, &cfg, pick()))
				}
				return
			}
			for runCtx.Err() == nil {
				col.add(do(ctx, &cfg, pick()))
			}
		}()
	}
	if cfg.Rate > 0 {
		dispatch(runCtx, cfg.Rate, wallStart, jobs, col)
	}
	close(jobs)
	wg.Wait()
	return col.report(time.Since(wallStart)), nil
}

// dispatch issues requests at rate until ctx ends, dropping those due while
// every worker is busy.
func dispatch(ctx context.Context, rate float64, start time.Time, jobs chan<- struct{}, col *collector) {
	period := time.Duration(float64(time.Second) / rate)
	period = max(period, time.Millisecond) // above 1000/s, send in small bursts
	tick := time.NewTicker(period)
	defer tick.Stop()
	issued := 0
	for {
		due := int(time.Since(start).Seconds()*rate) + 1 - issued // the first goes at t=0
		for ; due > 0; due-- {
			issued++
			select {
			case jobs <- struct{}{}:
			default:
				col.drop()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (cfg *Config) fill() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	switch {
	case cfg.Duration <= 0:
		return bad("duration must be positive, got %s", cfg.Duration)
	case cfg.Rate < 0:
		return bad("rate must not be negative, got %g", cfg.Rate)
	case cfg.Concurrency < 0:
		return bad("concurrency must not be negative, got %d", cfg.Concurrency)
	case len(cfg.Mix) == 0:
		return bad("the mix has no calls")
	}
	for _, c := range cfg.Mix {
		if c.Weight <= 0 {
			return bad("call %q: weight must be positive, got %d", c.Name, c.Weight)
		}
		if c.Build == nil {
			return bad("call %q has no Build function", c.Name)
		}
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				MaxIdleConns:        cfg.Concurrency * 2,
				MaxIdleConnsPerHost: cfg.Concurrency,
				IdleConnTimeout:     30 * time.Second,
			},
		}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Success == nil {
		cfg.Success = DefaultSuccess
	}
	if cfg.MaxSamples == 0 {
		cfg.MaxSamples = 20
	}
	return nil
}

// do sends one request of call c.
func do(ctx context.Context, cfg *Config, c *Call) Result {
	sc := observability.SpanContext{TraceID: observability.NewTraceID(), SpanID: observability.NewSpanID(), Flags: "01"}
	res := Result{Call: c.Name, TraceID: sc.TraceID, Start: cfg.Now()}
	req, err := c.Build(ctx)
	if err != nil {
		res.Err = fmt.Errorf("build %s: %w", c.Name, err)
		return res
	}
	req.Header.Set(observability.TraceparentHeader, sc.String())
	if c.Do != nil {
		res.Status, res.Err = c.Do(ctx, cfg.Client, req)
		res.Latency = cfg.Now().Sub(res.Start)
		res.Detail, res.Err = detailOf(res.Err)
		return res
	}
	resp, err := cfg.Client.Do(req)
	if err == nil {
		res.Status = resp.StatusCode
		if resp.StatusCode >= 400 {
			var body []byte
			body, err = io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			res.Detail = describe(body)
		}
		_, cerr := io.Copy(io.Discard, resp.Body)
		err = errors.Join(err, cerr)
		resp.Body.Close()
	}
	res.Err = err
	res.Latency = cfg.Now().Sub(res.Start)
	return res
}

// collector gathers results from all workers.
type collector struct {
	cfg     *Config
	start   time.Time
	dropped atomic.Int64

	mu       sync.Mutex
	all      []time.Duration
	ok       int
	status   map[int]int
	calls    map[string]*callAcc
	seconds  []secondAcc
	samples  []Sample
	dropSecs []int
}

type callAcc struct {
	lat    []time.Duration
	ok     int
	status map[int]int
}

type secondAcc struct {
	lat []time.Duration
	ok  int
}

func newCollector(cfg Config) *collector {
	return &collector{
		cfg:    &cfg,
		start:  cfg.Now(),
		status: map[int]int{},
		calls:  map[string]*callAcc{},
		all:    make([]time.Duration, 0, 1024),
	}
}

func (c *collector) drop() {
	c.dropped.Add(1)
	sec := int(c.cfg.Now().Sub(c.start) / time.Second)
	c.mu.Lock()
	c.dropSecs = append(c.dropSecs, sec)
	c.mu.Unlock()
}

func (c *collector) add(r Result) {
	if c.cfg.OnResult != nil {
		c.cfg.OnResult(r)
	}
	ok := c.cfg.Success(r)
	sec := max(0, int(r.Start.Sub(c.start)/time.Second))
	c.mu.Lock()
	defer c.mu.Unlock()
	c.all = append(c.all, r.Latency)
	c.status[r.Status]++
	ca := c.calls[r.Call]
	if ca == nil {
		ca = &callAcc{status: map[int]int{}}
		c.calls[r.Call] = ca
	}
	ca.lat = append(ca.lat, r.Latency)
	ca.status[r.Status]++
	for len(c.seconds) <= sec {
		c.seconds = append(c.seconds, secondAcc{})
	}
	c.seconds[sec].lat = append(c.seconds[sec].lat, r.Latency)
	if ok {
		c.ok++
		ca.ok++
		c.seconds[sec].ok++
	} else if len(c.samples) < c.cfg.MaxSamples {
		s := Sample{Call: r.Call, Start: r.Start, Latency: r.Latency, Status: r.Status, TraceID: r.TraceID}
		s.Error = r.Detail
		if r.Err != nil {
			s.Error = r.Err.Error()
		}
		c.samples = append(c.samples, s)
	}
}

func (c *collector) report(elapsed time.Duration) *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	rep := &Report{
		Start:     c.start,
		Elapsed:   elapsed,
		Total:     len(c.all),
		Successes: c.ok,
		Dropped:   int(c.dropped.Load()),
		Latency:   quantiles(c.all),
		Status:    c.status,
		Failures:  c.samples,
	}
	if elapsed > 0 {
		rep.RPS = float64(rep.Total) / elapsed.Seconds()
	}
	names := make([]string, 0, len(c.calls))
	for n := range c.calls {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		ca := c.calls[n]
		rep.Calls = append(rep.Calls, CallStats{Name: n, Total: len(ca.lat), Successes: ca.ok, Latency: quantiles(ca.lat), Status: ca.status})
	}
	for _, s := range c.dropSecs {
		for len(c.seconds) <= s {
			c.seconds = append(c.seconds, secondAcc{})
		}
	}
	drops := make([]int, len(c.seconds))
	for _, s := range c.dropSecs {
		drops[s]++
	}
	for i, s := range c.seconds {
		q := quantiles(s.lat)
		rep.Seconds = append(rep.Seconds, Second{Offset: i, Requests: len(s.lat), Successes: s.ok, Dropped: drops[i], P50: q.P50, P99: q.P99})
	}
	return rep
}
