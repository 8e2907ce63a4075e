package crash

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/kit"
	child "github.com/faultlab/faultlab/internal/proc"
	"github.com/faultlab/faultlab/internal/proctest"
	"github.com/faultlab/faultlab/internal/store/pgtest"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
)

const (
	gatewayKey = "crash-gateway-key-0123456789"
	serviceKey = "crash-service-key-0123456789"
)

// services in start order: each one's upstreams come before it.
var services = []string{"user", "product", "payment", "order", "gateway"}

// TestCrashSafety kills payment and then order with SIGKILL under load and
// restarts them on the same port and data dir. Every order the gateway
// acknowledged must end confirmed (charged once) or failed (not charged),
// and no unit of stock may be lost.
func TestCrashSafety(t *testing.T) { crashSafety(t) }

// TestCrashSafetyOnPostgres is TestCrashSafety with every store in one
// PostgreSQL database (--store). It once failed in 2 of 16 runs (an order
// left pending, its charge processing: payment killed between Begin and
// Complete, and nobody asked payment to finish the charge); order's
// reconciler now does (TestChargeLeftProcessingIsFinished in
// services/order).
func TestCrashSafetyOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the faultlab binary and runs five processes and PostgreSQL; skipped under -short")
	}
	db := pgtest.Database(t)
	crashSafety(t, func(s *shop) { s.store = db })
}

func crashSafety(t *testing.T, opts ...func(*shop)) {
	if testing.Short() {
		t.Skip("builds the faultlab binary and runs five processes for ~20 s; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	s := newShop(t, opts...)
	hc := &http.Client{Timeout: 3 * time.Second}
	env := lab.NewRemote(lab.RemoteConfig{URLs: s.urls, ServiceKey: serviceKey, HTTP: hc, DataDir: s.dir})
	tok, err := env.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	before, err := env.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := bestStocked(t, ctx, hc, s.urls["gateway"])

	ld := startLoad(ctx, hc, s.urls["gateway"], tok, pid, 4, 125*time.Millisecond)
	start := time.Now()
	phase := func(what string, cond func() bool) {
		t.Helper()
		defer func() { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }()
		if !poll(ctx, 15*time.Second, cond) {
			ld.stop()
			t.Fatalf("%s: gave up (acked %d, other %d)", what, ld.acked(), ld.others.Load())
		}
	}
	waitAcked := func(n int) {
		want := ld.acked() + n
		phase(fmt.Sprintf("waiting for %d acknowledged orders", n), func() bool { return ld.acked() >= want })
	}
	waitRefused := func(n int64) {
		want := ld.others.Load() + n
		phase(fmt.Sprintf("waiting for %d refused orders", n), func() bool { return ld.others.Load() >= want })
	}

	waitAcked(20)
	s.kill(t, "payment")
	waitRefused(5) // the load sees payment gone
	s.start(t, "payment")
	t.Logf("%6.2fs payment restarted", time.Since(start).Seconds())
	waitAcked(20)
	s.kill(t, "order")
	waitRefused(5)
	s.start(t, "order")
	t.Logf("%6.2fs order restarted", time.Since(start).Seconds())
	waitAcked(20)
	ld.stop()

	ids := ld.ids()
	orders := map[string]order.Order{}
	settled := poll(ctx, 20*time.Second, func() bool {
		for _, id := range ids {
			if o, ok := orders[id]; ok && o.Status != order.StatusPending {
				continue
			}
			if o, err := getOrder(ctx, hc, s.urls["gateway"], tok, id); err == nil {
				orders[id] = o
			}
		}
		for _, id := range ids {
			if o, ok := orders[id]; !ok || o.Status == order.StatusPending {
				return false
			}
		}
		return true
	})
	var stock = before
	stockSettled := poll(ctx, 20*time.Second, func() bool {
		st, err := env.Stock(ctx)
		if err != nil {
			return false
		}
		stock = st
		return st.Reserved == 0
	})
	charges, err := env.Charges(ctx)
	if err != nil {
		t.Fatal(err)
	}

	pay := payment.NewClient(s.urls["payment"], hc, serviceKey)
	confirmed, failed, pending, missing := 0, 0, 0, 0
	for _, id := range ids {
		o, ok := orders[id]
		if !ok {
			missing++
			t.Errorf("acknowledged order %s not found", id)
			continue
		}
		ps, err := pay.ForOrder(ctx, id)
		if err != nil {
			t.Fatalf("charges of %s: %v", id, err)
		}
		n := 0
		for _, p := range ps {
			if p.Status == payment.StatusSucceeded {
				n++
			}
		}
		switch o.Status {
		case order.StatusConfirmed:
			confirmed++
			if n != 1 {
				t.Errorf("confirmed order %s has %d charges, want 1", id, n)
			}
		case order.StatusFailed:
			failed++
			if n != 0 {
				t.Errorf("failed order %s (%s) was charged %d times", id, o.Reason, n)
			}
		default:
			pending++
		}
	}
	t.Logf("orders acknowledged %d, found %d, confirmed %d, failed %d, pending %d; charges %d, duplicates %d; refused requests %d",
		len(ids), len(ids)-missing, confirmed, failed, pending, charges.Total, charges.Duplicates, ld.others.Load())
	t.Logf("stock before %+v, after %+v", before, stock)

	if !settled || pending > 0 {
		t.Errorf("%d acknowledged orders still pending after 20 s", pending)
	}
	if charges.Duplicates != 0 {
		t.Errorf("%d orders charged more than once", charges.Duplicates)
	}
	if !stock.Consistent() || stock.Initial != before.Initial {
		t.Errorf("stock does not add up: before %+v, after %+v", before, stock)
	}
	if !stockSettled {
		t.Errorf("%d units still reserved after 20 s", stock.Reserved)
	}
	// Every order is one unit, so every unit sold is one charge, including
	// orders whose answer the client never saw.
	if stock.Sold != charges.Total {
		t.Errorf("sold %d units but took %d charges", stock.Sold, charges.Total)
	}
	if confirmed < 40 {
		t.Errorf("only %d orders confirmed: the load did not get through", confirmed)
	}
	checkHistory(t, ctx, env, ld.rec.Ops())
	// A charge left processing by the payment kill (killed between its
	// Begin and Complete), which the reconciler had to send again.
	b, _ := os.ReadFile(filepath.Join(s.dir, "logs", "order.log"))
	t.Logf("charges sent again by order's reconciler (order.charge_resent): %d", strings.Count(string(b), `"order.charge_resent"`))
	if t.Failed() {
		dumpUnsettled(t, ctx, hc, s)
	}
}

// checkHistory settles the shop (order's own reconciler runs every 5 s)
// and holds the stores to what every client was told.
func checkHistory(t *testing.T, ctx context.Context, env chaos.Env, ops []history.Op) {
	t.Helper()
	rep, err := chaos.VerifyHistory(ctx, env, ops, 30*time.Second)
	if err != nil {
		t.Fatalf("history: %v", err)
	}
	t.Log(rep.String())
	if !rep.OK() {
		t.Errorf("history check failed: %s", rep.Summary())
	}
}

// shop is the five services as processes.
type shop struct {
	bin, dir string
	addrs    map[string]string
	urls     map[string]string
	procs    map[string]*proc
	// upstream overrides the URL a service calls an upstream on (e.g. a
	// Toxiproxy hop): upstream[caller][callee].
	upstream map[string]map[string]string
	// logLevel is a service's --log-level; default warn.
	logLevel map[string]string
	// store is the --store of every service: empty for SQLite in dir.
	store string
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func newShop(t *testing.T, opts ...func(*shop)) *shop {
	t.Helper()
	tmp := t.TempDir()
	s := &shop{bin: buildBinary(t, tmp), dir: filepath.Join(tmp, "data"),
		addrs: map[string]string{}, urls: map[string]string{}, procs: map[string]*proc{},
		upstream: map[string]map[string]string{}, logLevel: map[string]string{}}
	for i, addr := range proctest.FreeAddrs(t, len(services)) {
		s.addrs[services[i]] = addr
		s.urls[services[i]] = "http://" + addr
	}
	for _, o := range opts {
		o(s)
	}
	t.Cleanup(func() {
		for name := range s.procs {
			s.stop(name)
		}
		if t.Failed() {
			for _, name := range services {
				b, _ := os.ReadFile(filepath.Join(s.dir, name+".out"))
				if len(b) > 4<<10 {
					b = b[len(b)-4<<10:]
				}
				t.Logf("%s output (tail):\n%s", name, b)
			}
		}
	})
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range services {
		s.start(t, name)
	}
	return s
}

// start runs `faultlab serve name` and waits for its /healthz.
func (s *shop) start(t *testing.T, name string) {
	t.Helper()
	out, err := os.OpenFile(filepath.Join(s.dir, name+".out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	level := s.logLevel[name]
	if level == "" {
		level = "warn"
	}
	args := []string{"serve", name, "--listen", s.addrs[name], "--data-dir", s.dir,
		"--gateway-key", gatewayKey, "--service-key", serviceKey, "--public-url", s.urls["gateway"], "--log-level", level}
	for _, up := range []string{"user", "product", "order", "payment"} {
		u := s.urls[up]
		if o := s.upstream[name][up]; o != "" {
			u = o
		}
		args = append(args, "--"+up+"-url", u)
	}
	if s.store != "" {
		args = append(args, "--store", s.store)
	}
	cmd := exec.Command(s.bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + s.dir}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	s.procs[name] = p
	hc := &http.Client{Timeout: time.Second}
	ok := poll(context.Background(), 15*time.Second, func() bool {
		select {
		case <-p.done:
			return false
		default:
		}
		resp, err := hc.Get(s.urls[name] + kit.RouteHealthz)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		// The answer must come from this service, not from another one
		// that took the port first.
		var h struct{ Service string }
		return resp.StatusCode == http.StatusOK &&
			json.NewDecoder(resp.Body).Decode(&h) == nil && h.Service == name
	})
	if !ok {
		t.Fatalf("%s did not become healthy at %s", name, s.urls[name])
	}
}

// kill sends SIGKILL, so nothing is flushed or shut down, and reaps it.
func (s *shop) kill(t *testing.T, name string) {
	t.Helper()
	p := s.procs[name]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", name, err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%s survived SIGKILL", name)
	}
	delete(s.procs, name)
}

func (s *shop) stop(name string) {
	p := s.procs[name]
	child.Stop(p.cmd.Process, p.done, syscall.SIGTERM, 5*time.Second)
}

// buildBinary builds cmd/faultlab from the module root into dir.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatal("no go.mod above the package dir")
		}
		root = parent
	}
	bin := filepath.Join(dir, "faultlab")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/faultlab")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// poll calls cond every 50ms until it holds or within has passed.
func poll(ctx context.Context, within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func bestStocked(t *testing.T, ctx context.Context, hc *http.Client, gw string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, gw+"/api/v1/products?limit=100", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page product.Page
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || len(page.Items) == 0 {
		t.Fatalf("products: %d %v", resp.StatusCode, err)
	}
	best := page.Items[0]
	for _, p := range page.Items {
		if p.Stock > best.Stock {
			best = p
		}
	}
	if best.Stock < 400 {
		t.Logf("best-stocked product %s has only %d units; some orders will fail for stock", best.ID, best.Stock)
	}
	return best.ID
}

func getOrder(ctx context.Context, hc *http.Client, gw, tok, id string) (order.Order, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, gw+"/api/v1/orders/"+id, nil)
	if err != nil {
		return order.Order{}, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := hc.Do(req)
	if err != nil {
		return order.Order{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return order.Order{}, fmt.Errorf("order %s: status %d", id, resp.StatusCode)
	}
	var o order.Order
	if err := json.NewDecoder(resp.Body).Decode(&o); err != nil {
		return order.Order{}, fmt.Errorf("order %s: %w", id, err)
	}
	return o, nil
}

// load creates one-unit orders with fresh Idempotency-Keys from a few
// clients at a fixed pace each, and keeps the ids of those acknowledged.
type load struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	others atomic.Int64 // answers other than 201, and transport errors
	rec    history.Recorder

	mu   sync.Mutex
	acks []string
}

func startLoad(ctx context.Context, hc *http.Client, gw, tok, pid string, clients int, every time.Duration) *load {
	ctx, cancel := context.WithCancel(ctx)
	l := &load{cancel: cancel}
	body, _ := json.Marshal(order.CreateRequest{Items: []product.Item{{ProductID: pid, Quantity: 1}}})
	var seq atomic.Int64
	for c := range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				key := "crash-" + strconv.Itoa(c) + "-" + strconv.FormatInt(seq.Add(1), 10)
				id, _, err := createOrder(ctx, hc, gw, tok, key, body, &l.rec)
				if err != nil {
					l.others.Add(1)
					continue
				}
				l.mu.Lock()
				l.acks = append(l.acks, id)
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *load) stop() { l.cancel(); l.wg.Wait() }

func (l *load) acked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acks)
}

func (l *load) ids() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.acks...)
}

var errNotCreated = errors.New("order not created")

// createOrder sends one order and records it in rec. It returns the order
// id of a 201 and the status (0: no answer).
func createOrder(ctx context.Context, hc *http.Client, gw, tok, key string, body []byte, rec *history.Recorder) (string, int, error) {
	var cr order.CreateRequest
	_ = json.Unmarshal(body, &cr)
	op := history.Op{Key: key, Attempt: 1, Start: time.Now()}
	for _, it := range cr.Items {
		op.Items = append(op.Items, history.Item{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, gw+"/api/v1/orders", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set(kit.IdempotencyKeyHeader, key)
	resp, err := hc.Do(req)
	if err != nil {
		op.End, op.Err = time.Now(), err.Error()
		rec.Record(op)
		return "", 0, err
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	op.End = time.Now()
	op.SetAnswer(resp.StatusCode, b)
	if err != nil {
		op.Err = err.Error()
	}
	rec.Record(op)
	if resp.StatusCode != http.StatusCreated {
		return "", op.Status, fmt.Errorf("%w: status %d", errNotCreated, resp.StatusCode)
	}
	if err != nil || op.OrderID == "" {
		return "", op.Status, fmt.Errorf("%w: undecodable 201: %v", errNotCreated, err)
	}
	return op.OrderID, op.Status, nil
}

// TestCrashMidReconcile kills order with SIGKILL twice: first with orders
// in flight, so that they are left pending, then again while the
// reconciler of the restarted order is in the middle of its pass over
// them while the clients replay their keys (a request may settle an order
// the pass loaded before: the pass must not save its stale copy). Payment sits behind a Toxiproxy hop with 500 ms of latency, so a
// pass takes about that long per order; the test polls order's log for
// the first order the pass settled (order.reconciled) and kills then. After
// a last restart without the latency, the history check must find 0
// anomalies: no acknowledged order lost, none charged twice or left
// pending, stock sold and reserved matching the orders.
func TestCrashMidReconcile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the faultlab binary and kills order twice; skipped under -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tx, err := toxi.Start(ctx, toxi.Config{APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tx.Close() })
	s := newShop(t, func(s *shop) {
		hops, err := tx.CreateHops([]toxi.Hop{{Name: "order-to-payment", Listen: "127.0.0.1:0", Upstream: s.addrs["payment"]}})
		if err != nil {
			t.Fatal(err)
		}
		s.upstream["order"] = map[string]string{"payment": "http://" + hops[0].Listen}
		s.logLevel["order"] = "info"
	})
	hc := &http.Client{Timeout: 10 * time.Second}
	env := lab.NewRemote(lab.RemoteConfig{URLs: s.urls, ServiceKey: serviceKey, HTTP: hc, DataDir: s.dir})
	tok, err := env.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pid := bestStocked(t, ctx, hc, s.urls["gateway"])
	slow := toxi.Toxic{Hop: "order-to-payment", Kind: toxi.Latency, LatencyMs: 500}
	if err := toxi.Apply(ctx, tx.Client(), slow); err != nil {
		t.Fatal(err)
	}
	orderLog := filepath.Join(s.dir, "logs", "order.log")
	count := func(action string) int {
		b, _ := os.ReadFile(orderLog)
		return strings.Count(string(b), `"`+action+`"`)
	}
	start := time.Now()
	step := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }

	// 1. Orders in flight, then SIGKILL: they stay pending.
	const n = 16
	body, _ := json.Marshal(order.CreateRequest{Items: []product.Item{{ProductID: pid, Quantity: 1}}})
	var rec history.Recorder
	var wg sync.WaitGroup
	created := count("order.created")
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, _ = createOrder(ctx, hc, s.urls["gateway"], tok, fmt.Sprintf("midrec-%d", i), body, &rec)
		}()
	}
	if !poll(ctx, 20*time.Second, func() bool { return count("order.created")-created >= n }) {
		t.Fatalf("only %d of %d orders were created", count("order.created")-created, n)
	}
	s.kill(t, "order")
	wg.Wait()
	step(fmt.Sprintf("order killed with %d orders in flight", n))
	snap, err := lab.StoreSnapshot(ctx, s.dir)
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, o := range snap.Orders {
		if o.Status == history.StatusPending {
			pending++
		}
	}
	if pending < 4 {
		t.Fatalf("only %d orders left pending: too few for a pass to be interrupted", pending)
	}

	// 2. Restart. Once the reconciler's pass has settled its first order,
	// the clients replay their keys while the pass goes on (each until a
	// final answer, through the kill below and the last restart); kill
	// order when the pass has settled a second order, before the rest.
	// (Orders a dead run left leased wait for the lease to expire.)
	base := count("order.reconciled")
	s.start(t, "order")
	if !poll(ctx, 45*time.Second, func() bool { return count("order.reconciled") > base }) {
		t.Fatal("the restarted order's reconciler settled nothing in 45 s")
	}
	replays := make([]chan struct{}, n)
	for i := range n {
		replays[i] = make(chan struct{})
		go func() {
			defer close(replays[i])
			op := history.Op{Status: 0}
			for ctx.Err() == nil {
				_, op.Status, _ = createOrder(ctx, hc, s.urls["gateway"], tok, fmt.Sprintf("midrec-%d", i), body, &rec)
				if op.Acked() || op.Refused() {
					return
				}
				select { // a client's back-off between replays
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
	}
	if !poll(ctx, 30*time.Second, func() bool { return count("order.reconciled") > base+1 }) {
		t.Fatal("the reconciler's pass stopped after one order")
	}
	s.kill(t, "order")
	done := count("order.reconciled") - base
	step(fmt.Sprintf("order killed mid-pass: %d of %d pending orders settled by the pass, the clients replaying", done, pending))
	if done >= pending {
		t.Fatalf("the pass settled all %d pending orders before the kill: not mid-pass", pending)
	}

	// 3. Restart without the latency; the shop must settle and agree with
	// what the clients were told.
	if err := toxi.Remove(ctx, tx.Client(), slow); err != nil {
		t.Fatal(err)
	}
	s.start(t, "order")
	step("order restarted without latency")
	for i, c := range replays {
		select {
		case <-c:
		case <-time.After(60 * time.Second):
			t.Fatalf("key midrec-%d got no final answer in 60 s of replays", i)
		}
	}
	step("every key has its final answer")
	checkHistory(t, ctx, env, rec.Ops())
}
