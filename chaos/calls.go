package chaos

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/chaos/history"
	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/topology"
)

// Routes are the gateway's public paths the load uses. The zero value
// means DefaultRoutes.
type Routes struct {
	Products string `json:"products"` // GET list, GET {Products}/{id}
	Orders   string `json:"orders"`   // POST create, GET {Orders}/{id}
	Login    string `json:"login"`    // POST {"email","password"}
}

// DefaultRoutes are the gateway's public paths.
var DefaultRoutes = Routes{Products: topology.RouteProducts, Orders: topology.RouteOrders, Login: topology.RouteLogin}

// OrderBody is the default create_order body for one unit of productID.
func OrderBody(productID string) any {
	return map[string]any{"items": []map[string]any{{"product_id": productID, "quantity": 1}}}
}

// Workload builds the load of a mix against the gateway: the one place that
// knows how each call is made. The scenarios (Run), `faultlab load` and the
// soak all build their load with it: Setup reads the catalogue (and creates
// an order for get_order), then Calls turns the mix into load.Calls. The
// zero value of every field works; set the fields before Setup, and do not
// change them after.
//
//	Setup: GET {Products} ─► product ids (and stock) ─► POST {Orders} for get_order
//	Calls: MixEntry ─► load.Call{Build: request to the gateway, Do: recorded create_order}
type Workload struct {
	// Gateway is the gateway's base URL.
	Gateway string
	// Routes are the gateway paths; the zero value means DefaultRoutes.
	Routes Routes
	// Token is the bearer token every call but login sends; empty: none.
	Token string
	// Credentials log the login call in; nil: a mix with CallLogin is an
	// error.
	Credentials Credentials
	// OrderBody builds a create_order body; nil means OrderBody.
	OrderBody func(productID string) any
	// Key makes a create_order's Idempotency-Key; nil: 16 random bytes in
	// hex.
	Key func() string
	// Spread sends orders to every product in stock in turn (and
	// get_product reads only those), rather than every order to the most
	// stocked product, which keeps stock from running out under a short
	// load but puts the whole load on one row.
	Spread bool
	// Recorder receives every create_order attempt; nil records nothing
	// (and create_order is sent like any other call).
	Recorder *history.Recorder
	// Now stamps the recorded operations; nil means time.Now.
	Now func() time.Time
	// RetryFor is how long a create_order_retrying call retries one key; 0
	// means DefaultRetryFor.
	RetryFor time.Duration

	products     []string
	orderProduct string
	orderID      string
	next         atomic.Uint64
}

func (w *Workload) routes() Routes {
	if w.Routes == (Routes{}) {
		return DefaultRoutes
	}
	return w.Routes
}

func (w *Workload) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(w.Gateway, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if w.Token != "" {
		req.Header.Set("Authorization", "Bearer "+w.Token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func (w *Workload) product() (string, error) {
	if len(w.products) == 0 {
		return "", errors.New("no product ids in the catalogue")
	}
	return w.products[w.next.Add(1)%uint64(len(w.products))], nil
}

// orderFor returns the product the next order asks for.
func (w *Workload) orderFor() (string, error) {
	if w.Spread {
		return w.product()
	}
	if w.orderProduct == "" {
		return "", errors.New("no product to order")
	}
	return w.orderProduct, nil
}

func (w *Workload) newOrder(ctx context.Context, id string) (*http.Request, error) {
	body := OrderBody
	if w.OrderBody != nil {
		body = w.OrderBody
	}
	req, err := w.newRequest(ctx, http.MethodPost, w.routes().Orders, body(id))
	if err != nil {
		return nil, err
	}
	key := newKey
	if w.Key != nil {
		key = w.Key
	}
	req.Header.Set("Idempotency-Key", key())
	return req, nil
}

// Calls returns the load.Calls of mix, in its order.
func (w *Workload) Calls(mix []MixEntry) ([]load.Call, error) {
	calls := make([]load.Call, 0, len(mix))
	for _, m := range mix {
		c, err := w.call(m)
		if err != nil {
			return nil, err
		}
		calls = append(calls, c)
	}
	return calls, nil
}

// call returns the load.Call for a mix entry.
func (w *Workload) call(m MixEntry) (load.Call, error) {
	c := load.Call{Name: m.Call, Weight: m.Weight}
	switch m.Call {
	case CallListProducts:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			return w.newRequest(ctx, http.MethodGet, w.routes().Products, nil)
		}
	case CallGetProduct:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			id, err := w.product()
			if err != nil {
				return nil, err
			}
			return w.newRequest(ctx, http.MethodGet, w.routes().Products+"/"+id, nil)
		}
	case CallCreateOrder, CallCreateOrderRetrying:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			id, err := w.orderFor()
			if err != nil {
				return nil, err
			}
			return w.newOrder(ctx, id)
		}
		switch {
		case m.Call == CallCreateOrderRetrying:
			c.Do = w.sendOrderRetrying
		case w.Recorder != nil:
			c.Do = w.sendOrder
		}
	case CallGetOrder:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			if w.orderID == "" {
				return nil, errors.New("no order to get: creating one at setup failed")
			}
			return w.newRequest(ctx, http.MethodGet, w.routes().Orders+"/"+w.orderID, nil)
		}
	case CallLogin:
		if w.Credentials == nil {
			return c, fmt.Errorf("%w: the login call needs an Env with Credentials", ErrScenario)
		}
		email, password := w.Credentials.Credentials()
		c.Build = func(ctx context.Context) (*http.Request, error) {
			req, err := w.newRequest(ctx, http.MethodPost, w.routes().Login, map[string]string{"email": email, "password": password})
			if err == nil {
				req.Header.Del("Authorization")
			}
			return req, err
		}
	default:
		return c, fmt.Errorf("%w: unknown call %q", ErrScenario, m.Call)
	}
	return c, nil
}

// sendOrder sends one create_order and records it in the history.
func (w *Workload) sendOrder(ctx context.Context, hc *http.Client, req *http.Request) (int, error) {
	op := w.newOp(req)
	status, _, err := w.attempt(hc, req, &op)
	return status, err
}

// sendOrderRetrying sends a create_order and, while the answer is not
// final (a transport error, a 5xx, a 409 in progress, a 429), sends it
// again with the same Idempotency-Key, for up to retryFor: after
// Retry-After when the answer has one (at most 2s), else after 100ms,
// 200ms, … up to 1s. Every attempt is recorded. A final answer is 201, a
// permanent 4xx, or a 409 without Retry-After (insufficient stock).
func (w *Workload) sendOrderRetrying(ctx context.Context, hc *http.Client, req *http.Request) (int, error) {
	retryFor := w.RetryFor
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	deadline := time.Now().Add(retryFor)
	base := w.newOp(req)
	backoff := 100 * time.Millisecond
	for n := 1; ; n++ {
		r := req
		if n > 1 {
			r = req.Clone(ctx)
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return 0, err
				}
				r.Body = body
			}
		}
		op := base
		op.Attempt, op.Replay = n, n > 1
		status, wait, err := w.attempt(hc, r, &op)
		// A 409 with Retry-After is a request still in progress; without
		// one (insufficient stock, a changed total) it is final.
		final := op.Acked() || op.Refused() || (status == http.StatusConflict && wait < 0)
		if final || ctx.Err() != nil || time.Now().Add(max(wait, 0)).After(deadline) {
			return status, err
		}
		if wait <= 0 {
			wait = backoff
			backoff = min(2*backoff, time.Second)
		}
		sleep(ctx, wait)
	}
}

// newOp starts the history record of req: its key and the items asked for.
func (w *Workload) newOp(req *http.Request) history.Op {
	op := history.Op{Key: req.Header.Get("Idempotency-Key"), Attempt: 1}
	if req.GetBody != nil {
		if b, err := req.GetBody(); err == nil {
			var body struct {
				Items []history.Item `json:"items"`
			}
			_ = json.NewDecoder(io.LimitReader(b, 1<<20)).Decode(&body)
			b.Close()
			op.Items = body.Items
		}
	}
	return op
}

// attempt sends req once, reads the answer into op and records op. It
// returns the status and the answer's Retry-After (capped at 2s; -1 when
// the answer has none).
func (w *Workload) attempt(hc *http.Client, req *http.Request, op *history.Op) (int, time.Duration, error) {
	now := w.Now
	if now == nil {
		now = time.Now
	}
	op.Start = now()
	resp, err := hc.Do(req)
	if err != nil {
		op.End, op.Err = now(), err.Error()
		w.record(*op)
		return 0, -1, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	op.End = now()
	op.SetAnswer(resp.StatusCode, body)
	if err != nil {
		op.Err = err.Error()
	}
	w.record(*op)
	if err == nil {
		err = load.Answer(resp.StatusCode, body) // the report's error column
	}
	wait := time.Duration(-1)
	if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
		wait = min(time.Duration(secs)*time.Second, 2*time.Second)
	}
	return resp.StatusCode, wait, err
}

func (w *Workload) record(op history.Op) {
	if w.Recorder != nil {
		w.Recorder.Record(op)
	}
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Setup reads the catalogue's product ids and, with needOrder, creates one
// order for get_order. The scenarios note an error in the report and run
// on: calls that need the missing data fail at Build.
func (w *Workload) Setup(ctx context.Context, hc *http.Client, needOrder bool) error {
	if err := w.readCatalogue(ctx, hc); err != nil {
		return err
	}
	if !needOrder {
		return nil
	}
	return w.createOrder(ctx, hc)
}

// readCatalogue lists the products: every id for get_product, and the
// most stocked one for orders (with Spread, only those in stock, for both).
func (w *Workload) readCatalogue(ctx context.Context, hc *http.Client) error {
	req, err := w.newRequest(ctx, http.MethodGet, w.routes().Products, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("list products: %w", err)
	}
	var body any
	err = json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body)
	resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("list products: status %d", resp.StatusCode)
	case err != nil:
		return fmt.Errorf("list products: %w", err)
	}
	best := -1.0
	w.products = nil
	for _, e := range catalogueEntries(body) {
		if w.Spread && e.stock <= 0 {
			continue
		}
		w.products = append(w.products, e.id)
		if e.stock > best {
			w.orderProduct, best = e.id, e.stock
		}
	}
	if len(w.products) == 0 {
		if w.Spread {
			return errors.New("list products: no product in stock")
		}
		return errors.New("list products: no ids in the answer")
	}
	return nil
}

// createOrder creates the order get_order reads.
func (w *Workload) createOrder(ctx context.Context, hc *http.Client) error {
	id, err := w.orderFor()
	if err != nil {
		return err
	}
	req, err := w.newOrder(ctx, id)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("create order: %w", err)
	}
	defer resp.Body.Close()
	var order struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&order); err != nil || resp.StatusCode >= 300 || order.ID == "" {
		return fmt.Errorf("create order: status %d: no id", resp.StatusCode)
	}
	w.orderID = order.ID
	return nil
}

// entry is one product of the catalogue.
type entry struct {
	id    string
	stock float64
}

// catalogueEntries finds the objects with an "id" in the first array of v:
// a bare array, or {"items": [...]} and the like.
func catalogueEntries(v any) []entry {
	switch x := v.(type) {
	case []any:
		var out []entry
		for _, e := range x {
			o, _ := e.(map[string]any)
			id, _ := o["id"].(string)
			if id == "" || strings.ContainsAny(id, "/?#") {
				continue
			}
			st, _ := o["stock"].(float64)
			out = append(out, entry{id, st})
		}
		return out
	case map[string]any:
		for _, k := range []string{"items", "products", "data"} {
			if es := catalogueEntries(x[k]); len(es) > 0 {
				return es
			}
		}
	}
	return nil
}
