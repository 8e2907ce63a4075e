package order

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/services/product"
)

// Client calls the order service on behalf of a user (bearer token), with
// the gateway key or the service key as caller proof. Errors are kit errors
// (*kit.StatusError for 4xx/5xx answers). It is safe for concurrent use.
type Client struct {
	base      string
	hc        *http.Client
	keyHeader string
	key       string
}

// NewClient returns a client for the order service at baseURL that proves
// itself with the service key; nil hc means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	if hc == nil {
		hc = kit.DefaultClient()
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, keyHeader: auth.ServiceKeyHeader, key: serviceKey}
}

func (c *Client) do(ctx context.Context, method, path, token string, body, out any, hdr ...string) error {
	req, err := kit.NewRequest(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(c.keyHeader, c.key)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return kit.Do(c.hc, req, out)
}

// Create places an order for the token's user under idempotencyKey.
func (c *Client) Create(ctx context.Context, token, idempotencyKey string, items []product.Item) (Order, error) {
	var o Order
	err := c.do(ctx, http.MethodPost, RouteOrders, token, CreateRequest{Items: items}, &o, kit.IdempotencyKeyHeader, idempotencyKey)
	return o, err
}

// Get reads one order of the token's user.
func (c *Client) Get(ctx context.Context, token, id string) (Order, error) {
	var o Order
	err := c.do(ctx, http.MethodGet, "/orders/"+url.PathEscape(id), token, nil, &o)
	return o, err
}

// List reads the token's user's orders, newest first.
func (c *Client) List(ctx context.Context, token string) ([]Order, error) {
	var l List
	err := c.do(ctx, http.MethodGet, RouteOrders, token, nil, &l)
	return l.Items, err
}

// History reads every order with its events (GET /internal/orders, service
// key), following the pages.
func (c *Client) History(ctx context.Context) ([]History, error) {
	var all []History
	after := ""
	for {
		path := RouteHistory + "?limit=1000"
		if after != "" {
			path += "&after=" + url.QueryEscape(after)
		}
		req, err := kit.NewRequest(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set(auth.ServiceKeyHeader, c.key)
		var page HistoryPage
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
