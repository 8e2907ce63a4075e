package sagasim

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

var (
	seedFlag    = flag.Uint64("sagasim.seed", 0, "seed of the first round (0: SAGASIM_SEED, else the time)")
	roundsFlag  = flag.Int("sagasim.rounds", 0, "rounds to run (0: 24, 8 under -short)")
	workersFlag = flag.Int("sagasim.workers", 4, "concurrent clients per round (1 replays a seed's interleaving exactly)")
	opsFlag     = flag.Int("sagasim.ops", 30, "operations per worker per round")
)

// maxCall bounds how long a call may be on the wire (in fake time): a
// request not delivered by then has timed out at its client, as the
// resilience policies' timeouts (2 s to payment) guarantee in the lab.
const maxCall = 2 * time.Second

func TestSaga(t *testing.T) {
	seed := *seedFlag
	if seed == 0 {
		if v, err := strconv.ParseUint(os.Getenv("SAGASIM_SEED"), 10, 64); err == nil {
			seed = v
		}
	}
	if seed == 0 {
		seed = uint64(time.Now().UnixNano()) % 1_000_000_007
	}
	rounds := *roundsFlag
	if rounds == 0 {
		rounds = 24
		if testing.Short() {
			rounds = 8
		}
	}
	ops := 0
	answers, states := map[int]int{}, map[string]int{}
	for i := range rounds {
		s := seed + uint64(i)
		rep, err := runRound(t, s, *workersFlag, *opsFlag, answers, states)
		if err != nil {
			t.Fatalf("seed %d: %v\nreproduce: go test ./chaos/sagasim -run TestSaga -sagasim.seed=%d -sagasim.rounds=1 -sagasim.workers=%d", s, err, s, *workersFlag)
		}
		ops += rep.Ops
		if !rep.OK() {
			t.Fatalf("seed %d: %s\nreproduce: go test ./chaos/sagasim -run TestSaga -sagasim.seed=%d -sagasim.rounds=1 -sagasim.workers=%d", s, rep, s, *workersFlag)
		}
	}
	t.Logf("seeds %d..%d: %d rounds, %d client operations, 0 anomalies; answers %v; orders %v", seed, seed+uint64(rounds)-1, rounds, ops, answers, states)
	// The faults must bite: a run where every order simply succeeded
	// proves nothing.
	if rounds >= 8 && (answers[http.StatusCreated] == 0 || answers[http.StatusServiceUnavailable] == 0 || states[order.StatusConfirmed] == 0 || states[order.StatusFailed] == 0) {
		t.Fatalf("the faults did not bite: answers %v, orders %v", answers, states)
	}
}

// clock is the fake clock. Deliveries of calls hold its read lock, so
// time does not move while an upstream handles a call.
type clock struct {
	mu  sync.RWMutex
	now atomic.Int64
}

func (c *clock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now.Add(int64(d))
	c.mu.Unlock()
}

// faultKind is what a link does to one call.
type faultKind int

const (
	pass         faultKind = iota
	fail503                // the upstream answers 503, doing nothing
	dropRequest            // lost on the way: the caller cannot tell
	dropResponse           // done, but the answer is lost
	refuse400              // payment refuses the charge outright
	// landedRefused: an attempt lands and its answer is lost, then the
	// client's retry finds the connection refused, as a resilience client
	// retrying into an outage sees it.
	landedRefused
)

type rngKey struct{}

// opRand is the seeded generator of one operation; its calls draw their
// faults from it.
type opRand struct {
	mu sync.Mutex
	r  *rand.Rand
}

func (o *opRand) intN(n int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.r.IntN(n)
}

// world is one round: the upstreams, the order store, the clock and the
// faults.
type world struct {
	t       testing.TB
	dir     string
	clock   *clock
	prod    *product.Service
	pay     *payment.Service
	orders  order.Store
	quiet   atomic.Bool
	downMu  sync.Mutex
	down    map[string]time.Time // upstream ──► down until
	genMu   sync.Mutex
	gen     *generation
	gens    []*generation
	rec     history.Recorder
	keysMu  sync.Mutex
	keys    []keyed
	crashes atomic.Int64
}

type keyed struct {
	key   string
	items []product.Item
	tries int
}

// generation is one order process.
type generation struct {
	svc    *order.Service
	killed atomic.Bool
}

// link is the network between order and one upstream.
type link struct {
	w    *world
	name string
	h    http.Handler
	gen  *generation
}

func refused() error {
	return &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
}

func (l *link) RoundTrip(req *http.Request) (*http.Response, error) {
	if l.gen.killed.Load() {
		return nil, refused() // the process is gone
	}
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(req.Body)
		_ = req.Body.Close()
	}
	start := l.w.clock.Now()
	f := l.fault(req)
	switch f {
	case fail503:
		return answer(req, http.StatusServiceUnavailable, "injected 503"), nil
	case refuse400:
		return answer(req, http.StatusBadRequest, "injected refusal: amount must be from 1 to 1000000000000 cents"), nil
	case dropRequest:
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, io.ErrUnexpectedEOF)
	case -1:
		return nil, refused()
	}
	l.w.clock.mu.RLock()
	if l.w.clock.Now().Sub(start) > maxCall {
		l.w.clock.mu.RUnlock()
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, context.DeadlineExceeded)
	}
	in := req.Clone(context.WithoutCancel(req.Context()))
	in.Body = io.NopCloser(bytes.NewReader(body))
	in.RequestURI = req.URL.RequestURI()
	rr := httptest.NewRecorder()
	l.h.ServeHTTP(rr, in)
	l.w.clock.mu.RUnlock()
	switch f {
	case dropResponse:
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, io.ErrUnexpectedEOF)
	case landedRefused:
		return nil, refused()
	}
	resp := rr.Result()
	resp.Request = req
	return resp, nil
}

// fault decides a call's fate from its operation's generator; -1 means
// the upstream is down (connection refused).
func (l *link) fault(req *http.Request) faultKind {
	if l.w.quiet.Load() {
		return pass
	}
	l.w.downMu.Lock()
	until := l.w.down[l.name]
	l.w.downMu.Unlock()
	if l.w.clock.Now().Before(until) {
		return -1
	}
	or, _ := req.Context().Value(rngKey{}).(*opRand)
	if or == nil {
		return pass
	}
	switch n := or.intN(100); {
	case n < 3:
		return dropRequest
	case n < 6:
		return dropResponse
	case n < 10:
		return fail503
	case n < 11 && l.name == "payment" && req.Method == http.MethodPost:
		return refuse400
	case n < 13 && l.name == "payment" && req.Method == http.MethodPost:
		return landedRefused
	}
	return pass
}

func answer(req *http.Request, status int, detail string) *http.Response {
	rr := httptest.NewRecorder()
	p := problem.New(status, detail)
	if status == http.StatusServiceUnavailable {
		p.RetryAfter = time.Second
	}
	problem.Write(rr, req, p)
	resp := rr.Result()
	resp.Request = req
	return resp
}

func newWorld(t testing.TB) *world {
	t.Helper()
	ctx := context.Background()
	w := &world{t: t, dir: t.TempDir(), clock: &clock{}, down: map[string]time.Time{}}
	w.clock.now.Store(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	base := kit.Base{Keys: kittest.Keys, Now: w.clock.Now}
	pst, err := product.OpenStore(ctx, w.dir)
	if err != nil {
		t.Fatal(err)
	}
	if w.prod, err = product.New(product.Config{Base: base, Store: pst, Tokens: kit.Tokens{Validator: kittest.Validator}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.prod.Close() })
	yst, err := payment.OpenStore(ctx, w.dir)
	if err != nil {
		t.Fatal(err)
	}
	if w.pay, err = payment.New(payment.Config{Base: base, Store: yst, Tokens: kit.Tokens{Validator: kittest.Validator}, DeclineAbove: 5000}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.pay.Close() })
	if w.orders, err = order.OpenStore(ctx, w.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.orders.Close() })
	w.crash()
	return w
}

// crash discards the current order process and starts another on the same
// store.
func (w *world) crash() {
	w.genMu.Lock()
	defer w.genMu.Unlock()
	if w.gen != nil {
		w.gen.killed.Store(true)
		w.crashes.Add(1)
	}
	g := &generation{}
	pl := &link{w: w, name: "product", h: w.prod, gen: g}
	yl := &link{w: w, name: "payment", h: w.pay, gen: g}
	svc, err := order.New(order.Config{
		Base:  kit.Base{Keys: kittest.Keys, Now: w.clock.Now},
		Store: noClose{w.orders}, Tokens: kit.Tokens{Validator: kittest.Validator},
		ProductClient: &http.Client{Transport: pl}, ProductURL: "http://product.sim",
		PaymentClient: &http.Client{Transport: yl}, PaymentURL: "http://payment.sim",
	})
	if err != nil {
		w.t.Fatal(err)
	}
	g.svc = svc
	w.gen = g
	w.gens = append(w.gens, g)
}

// noClose keeps the shared store open when a generation is dropped.
type noClose struct{ order.Store }

func (noClose) Close() error { return nil }

func (w *world) current() *generation {
	w.genMu.Lock()
	defer w.genMu.Unlock()
	return w.gen
}

// catalogue: scarce stock, one line above payment's decline limit (5000).
var catalogue = []struct {
	id  string
	max int64
}{{"prd_008", 1}, {"prd_007", 1}, {"prd_004", 1}, {"prd_002", 2}, {"prd_001", 1}}

func (w *world) place(ctx context.Context, r *opRand, k keyed, replay bool) {
	body, _ := json.Marshal(order.CreateRequest{Items: k.items})
	req := httptest.NewRequest(http.MethodPost, order.RouteOrders, bytes.NewReader(body)).WithContext(ctx)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(auth.GatewayKeyHeader, kittest.Keys.Gateway)
	req.Header.Set("Authorization", "Bearer "+kittest.AliceToken)
	req.Header.Set(kit.IdempotencyKeyHeader, k.key)
	op := history.Op{Key: k.key, Start: w.clock.Now(), Replay: replay, Attempt: k.tries}
	for _, it := range k.items {
		op.Items = append(op.Items, history.Item{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	rr := httptest.NewRecorder()
	w.current().svc.ServeHTTP(rr, req)
	op.End = w.clock.Now()
	op.SetAnswer(rr.Code, rr.Body.Bytes())
	w.rec.Record(op)
}

func (w *world) worker(ctx context.Context, seed uint64, id, n int) {
	r := rand.New(rand.NewPCG(seed, uint64(id)))
	for i := range n {
		or := &opRand{r: rand.New(rand.NewPCG(r.Uint64(), r.Uint64()))}
		octx := context.WithValue(ctx, rngKey{}, or)
		switch p := r.IntN(100); {
		case p < 40:
			k := keyed{key: fmt.Sprintf("k-%d-%d", id, i), tries: 1}
			// One or two lines; now and then one above the decline limit.
			for _, j := range r.Perm(len(catalogue))[:1+r.IntN(2)] {
				c := catalogue[j]
				if c.id == "prd_007" && r.IntN(3) > 0 {
					continue
				}
				k.items = append(k.items, product.Item{ProductID: c.id, Quantity: 1 + r.Int64N(c.max)})
			}
			if len(k.items) == 0 {
				k.items = []product.Item{{ProductID: "prd_002", Quantity: 1}}
			}
			w.keysMu.Lock()
			w.keys = append(w.keys, k)
			w.keysMu.Unlock()
			w.place(octx, or, k, false)
		case p < 70:
			w.keysMu.Lock()
			if len(w.keys) == 0 {
				w.keysMu.Unlock()
				continue
			}
			j := r.IntN(len(w.keys))
			w.keys[j].tries++
			k := w.keys[j]
			w.keysMu.Unlock()
			w.place(octx, or, k, true)
		case p < 80:
			_, _ = w.current().svc.Reconcile(octx)
		case p < 90:
			d := time.Duration(r.IntN(6000)) * time.Millisecond
			if r.IntN(20) == 0 {
				d = time.Duration(1+r.IntN(4)) * time.Minute
			}
			w.clock.Advance(d)
		case p < 94:
			w.crash()
		case p < 98:
			up := []string{"product", "payment"}[r.IntN(2)]
			w.downMu.Lock()
			w.down[up] = w.clock.Now().Add(time.Duration(1+r.IntN(20)) * time.Second)
			w.downMu.Unlock()
		}
	}
}

// sweeper is product's expiry, where the product service has one.
type sweeper interface {
	Sweep(ctx context.Context) (int, error)
}

func runRound(t *testing.T, seed uint64, workers, n int, answers map[int]int, states map[string]int) (history.Report, error) {
	w := newWorld(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for id := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.worker(ctx, seed, id, n)
		}()
	}
	wg.Wait()

	// Quiescence: faults off, every lease and grace run out, the
	// reconciler drives what is left.
	w.quiet.Store(true)
	w.downMu.Lock()
	w.down = map[string]time.Time{}
	w.downMu.Unlock()
	for range 4 {
		w.clock.Advance(30 * time.Second)
		if sw, ok := any(w.prod).(sweeper); ok {
			_, _ = sw.Sweep(ctx)
		}
		_, _ = w.current().svc.Reconcile(ctx)
	}
	snap, err := w.snapshot(ctx)
	if err != nil {
		return history.Report{}, err
	}
	ops := w.rec.Ops()
	for _, op := range ops {
		answers[op.Status]++
	}
	for _, o := range snap.Orders {
		states[o.Status]++
	}
	states["crashes"] += int(w.crashes.Load())
	return history.Check(ops, snap), nil
}

// snapshot reads the stores through their read endpoints, or straight
// from the SQLite files where the services have none.
func (w *world) snapshot(ctx context.Context) (history.Snapshot, error) {
	srv := func(h http.Handler) string {
		s := httptest.NewServer(h)
		w.t.Cleanup(s.Close)
		return s.URL
	}
	snap, err := history.Fetch(ctx, history.Source{
		OrderURL: srv(w.current().svc), PaymentURL: srv(w.pay), ProductURL: srv(w.prod), ServiceKey: kittest.Keys.Service,
	})
	if err == nil {
		return snap, nil
	}
	w.t.Logf("read endpoints unavailable (%v); reading the SQLite files", err)
	return lab.StoreSnapshot(ctx, w.dir)
}
