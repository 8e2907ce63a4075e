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

// callSet builds load.Calls against the gateway.
type callSet struct {
	env          Env
	base         string
	routes       Routes
	token        string
	products     []string
	orderProduct string
	orderID      string
	orderBody    func(string) any
	next         atomic.Uint64
	rec          *history.Recorder // every create_order attempt
	now          func() time.Time
	retryFor     time.Duration // create_order_retrying: how long one key is retried
}

func (cs *callSet) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cs.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if cs.token != "" {
		req.Header.Set("Authorization", "Bearer "+cs.token)
	}
	req.Header.Set("Accept", "application/json")
	return req, nil
}

func (cs *callSet) product() (string, error) {
	if len(cs.products) == 0 {
		return "", errors.New("no product ids in the catalogue")
	}
	return cs.products[cs.next.Add(1)%uint64(len(cs.products))], nil
}

// build returns the load.Call for a mix entry.
func (cs *callSet) build(m MixEntry) (load.Call, error) {
	c := load.Call{Name: m.Call, Weight: m.Weight}
	switch m.Call {
	case CallListProducts:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			return cs.newRequest(ctx, http.MethodGet, cs.routes.Products, nil)
		}
	case CallGetProduct:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			id, err := cs.product()
			if err != nil {
				return nil, err
			}
			return cs.newRequest(ctx, http.MethodGet, cs.routes.Products+"/"+id, nil)
		}
	case CallCreateOrder, CallCreateOrderRetrying:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			id := cs.orderProduct
			if id == "" {
				return nil, errors.New("no product to order")
			}
			req, err := cs.newRequest(ctx, http.MethodPost, cs.routes.Orders, cs.orderBody(id))
			if err != nil {
				return nil, err
			}
			req.Header.Set("Idempotency-Key", newKey())
			return req, nil
		}
		c.Do = cs.sendOrder
		if m.Call == CallCreateOrderRetrying {
			c.Do = cs.sendOrderRetrying
		}
	case CallGetOrder:
		c.Build = func(ctx context.Context) (*http.Request, error) {
			if cs.orderID == "" {
				return nil, errors.New("no order to get: creating one at setup failed")
			}
			return cs.newRequest(ctx, http.MethodGet, cs.routes.Orders+"/"+cs.orderID, nil)
		}
	case CallLogin:
		cr, ok := cs.env.(Credentials)
		if !ok {
			return c, fmt.Errorf("%w: the login call needs an Env with Credentials", ErrScenario)
		}
		email, password := cr.Credentials()
		c.Build = func(ctx context.Context) (*http.Request, error) {
			req, err := cs.newRequest(ctx, http.MethodPost, cs.routes.Login, map[string]string{"email": email, "password": password})
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
func (cs *callSet) sendOrder(ctx context.Context, hc *http.Client, req *http.Request) (int, error) {
	op := cs.newOp(req)
	status, _, err := cs.attempt(hc, req, &op)
	return status, err
}

// sendOrderRetrying sends a create_order and, while the answer is not
// final (a transport error, a 5xx, a 409 in progress, a 429), sends it
// again with the same Idempotency-Key, for up to retryFor: after
// Retry-After when the answer has one (at most 2s), else after 100ms,
// 200ms, … up to 1s. Every attempt is recorded. A final answer is 201, a
// permanent 4xx, or a 409 without Retry-After (insufficient stock).
func (cs *callSet) sendOrderRetrying(ctx context.Context, hc *http.Client, req *http.Request) (int, error) {
	retryFor := cs.retryFor
	if retryFor <= 0 {
		retryFor = DefaultRetryFor
	}
	deadline := time.Now().Add(retryFor)
	base := cs.newOp(req)
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
		status, wait, err := cs.attempt(hc, r, &op)
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
func (cs *callSet) newOp(req *http.Request) history.Op {
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
func (cs *callSet) attempt(hc *http.Client, req *http.Request, op *history.Op) (int, time.Duration, error) {
	now := cs.now
	if now == nil {
		now = time.Now
	}
	op.Start = now()
	resp, err := hc.Do(req)
	if err != nil {
		op.End, op.Err = now(), err.Error()
		cs.record(*op)
		return 0, -1, err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	op.End = now()
	op.SetAnswer(resp.StatusCode, body)
	if err != nil {
		op.Err = err.Error()
	}
	cs.record(*op)
	wait := time.Duration(-1)
	if secs, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && secs >= 0 {
		wait = min(time.Duration(secs)*time.Second, 2*time.Second)
	}
	return resp.StatusCode, wait, err
}

func (cs *callSet) record(op history.Op) {
	if cs.rec != nil {
		cs.rec.Record(op)
	}
}

func newKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// setup reads the catalogue's product ids and creates one order for
// get_order. Errors are returned for the report; calls that need the
// missing data fail at Build.
func (cs *callSet) setup(ctx context.Context, hc *http.Client, needOrder bool) error {
	req, err := cs.newRequest(ctx, http.MethodGet, cs.routes.Products, nil)
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
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list products: status %d: %v", resp.StatusCode, err)
	}
	cs.products = collectIDs(body)
	cs.orderProduct = mostStocked(body)
	if cs.orderProduct == "" && len(cs.products) > 0 {
		cs.orderProduct = cs.products[0]
	}
	if len(cs.products) == 0 {
		return errors.New("list products: no ids in the answer")
	}
	if !needOrder {
		return nil
	}
	req, err = cs.newRequest(ctx, http.MethodPost, cs.routes.Orders, cs.orderBody(cs.orderProduct))
	if err != nil {
		return err
	}
	req.Header.Set("Idempotency-Key", newKey())
	resp, err = hc.Do(req)
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
	cs.orderID = order.ID
	return nil
}

// mostStocked returns the id of the catalogue entry with the largest
// "stock", so that order load does not run a product out of stock and
// turn into 409s that have nothing to do with the fault under test.
func mostStocked(v any) string {
	m, ok := v.(map[string]any)
	if !ok {
		return ""
	}
	items, _ := m["items"].([]any)
	best, bestStock := "", -1.0
	for _, e := range items {
		o, _ := e.(map[string]any)
		id, _ := o["id"].(string)
		st, _ := o["stock"].(float64)
		if id != "" && st > bestStock {
			best, bestStock = id, st
		}
	}
	return best
}

// collectIDs finds the "id" of each object in the first array of v: a bare
// array, or {"items": [...]} and the like.
func collectIDs(v any) []string {
	switch x := v.(type) {
	case []any:
		var ids []string
		for _, e := range x {
			if o, ok := e.(map[string]any); ok {
				if id, ok := o["id"].(string); ok && id != "" && !strings.ContainsAny(id, "/?#") {
					ids = append(ids, id)
				}
			}
		}
		return ids
	case map[string]any:
		for _, k := range []string{"items", "products", "data"} {
			if ids := collectIDs(x[k]); len(ids) > 0 {
				return ids
			}
		}
	}
	return nil
}
