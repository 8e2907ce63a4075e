package payment

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/faultlab/faultlab/internal/kit"
)

// Errors of Client.Charge (each wraps the *kit.StatusError too).
var (
	ErrDeclined  = errors.New("payment declined")
	ErrInFlight  = errors.New("payment with this key in flight")
	ErrKeyReused = errors.New("idempotency key reused with a different body")
)

// chargeErrors are the answers of POST /payments that Charge names.
var chargeErrors = kit.StatusErrors{
	http.StatusPaymentRequired:     ErrDeclined,
	http.StatusConflict:            ErrInFlight,
	http.StatusUnprocessableEntity: ErrKeyReused,
}

// Client calls the payment service as a fellow service. It is safe for
// concurrent use.
type Client struct {
	c kit.Caller
}

// NewClient returns a client for the payment service at baseURL; nil hc
// means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	return &Client{c: kit.NewCaller(baseURL, hc, serviceKey)}
}

// Charge charges once per idempotencyKey. A decline wraps ErrDeclined, a
// request still in flight ErrInFlight (which kit.Unavailable does not
// count as unavailable: callers decide), a reused key ErrKeyReused.
func (c *Client) Charge(ctx context.Context, idempotencyKey string, r ChargeRequest) (Payment, error) {
	p, err := kit.Call[Payment](ctx, c.c, http.MethodPost, RoutePayments, r, kit.IdempotencyKeyHeader, idempotencyKey)
	return p, chargeErrors.Wrap(err)
}

// ForOrder lists the payments of an order.
func (c *Client) ForOrder(ctx context.Context, orderID string) ([]Payment, error) {
	l, err := kit.Call[List](ctx, c.c, http.MethodGet, RouteForOrder+"?order_id="+url.QueryEscape(orderID), nil)
	return l.Items, err
}

// Summary returns the charges summary.
func (c *Client) Summary(ctx context.Context) (Summary, error) {
	return kit.Call[Summary](ctx, c.c, http.MethodGet, RouteSummary, nil)
}

// Charges reads every payment, by id (GET /internal/charges), following
// the pages.
func (c *Client) Charges(ctx context.Context) ([]Payment, error) {
	return kit.All[Payment](ctx, c.c, RouteCharges)
}
