package payment

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
)

// Errors of Client.Charge (each wraps the *kit.StatusError too).
var (
	ErrDeclined  = errors.New("payment declined")
	ErrInFlight  = errors.New("payment with this key in flight")
	ErrKeyReused = errors.New("idempotency key reused with a different body")
)

// Client calls the payment service as a fellow service. It is safe for
// concurrent use.
type Client struct {
	base string
	hc   *http.Client
	key  string
}

// NewClient returns a client for the payment service at baseURL; nil hc
// means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	if hc == nil {
		hc = kit.DefaultClient()
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, key: serviceKey}
}

func (c *Client) newRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	req, err := kit.NewRequest(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set(auth.ServiceKeyHeader, c.key)
	return req, nil
}

// Charge charges once per idempotencyKey. A decline wraps ErrDeclined, a
// request still in flight ErrInFlight (which kit.Unavailable does not
// count as unavailable: callers decide), a reused key ErrKeyReused.
func (c *Client) Charge(ctx context.Context, idempotencyKey string, r ChargeRequest) (Payment, error) {
	req, err := c.newRequest(ctx, http.MethodPost, RoutePayments, r)
	if err != nil {
		return Payment{}, err
	}
	req.Header.Set(kit.IdempotencyKeyHeader, idempotencyKey)
	var p Payment
	err = kit.Do(c.hc, req, &p)
	switch kit.StatusOf(err) {
	case http.StatusPaymentRequired:
		return p, fmt.Errorf("%w: %w", ErrDeclined, err)
	case http.StatusConflict:
		return p, fmt.Errorf("%w: %w", ErrInFlight, err)
	case http.StatusUnprocessableEntity:
		return p, fmt.Errorf("%w: %w", ErrKeyReused, err)
	}
	return p, err
}

// ForOrder lists the payments of an order.
func (c *Client) ForOrder(ctx context.Context, orderID string) ([]Payment, error) {
	req, err := c.newRequest(ctx, http.MethodGet, RouteForOrder+"?order_id="+url.QueryEscape(orderID), nil)
	if err != nil {
		return nil, err
	}
	var l List
	err = kit.Do(c.hc, req, &l)
	return l.Items, err
}

// Summary returns the charges summary.
func (c *Client) Summary(ctx context.Context) (Summary, error) {
	req, err := c.newRequest(ctx, http.MethodGet, RouteSummary, nil)
	if err != nil {
		return Summary{}, err
	}
	var s Summary
	err = kit.Do(c.hc, req, &s)
	return s, err
}

// Charges reads every payment, by id (GET /internal/charges), following
// the pages.
func (c *Client) Charges(ctx context.Context) ([]Payment, error) {
	all := []Payment{}
	after := ""
	for {
		path := RouteCharges + "?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		req, err := c.newRequest(ctx, http.MethodGet, path, nil)
		if err != nil {
			return nil, err
		}
		var page ChargesPage
		if err := kit.Do(c.hc, req, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}
