package order

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/services/product"
)

// Client calls the order service on behalf of a user (bearer token), with
// the service key as caller proof. Errors are kit errors (*kit.StatusError
// for 4xx/5xx answers). It is safe for concurrent use.
type Client struct {
	c kit.Caller
}

// NewClient returns a client for the order service at baseURL that proves
// itself with the service key; nil hc means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	return &Client{c: kit.NewCaller(baseURL, hc, serviceKey)}
}

// call sends one request on behalf of the token's user.
func call[T any](ctx context.Context, c *Client, method, path, token string, body any, hdr ...string) (T, error) {
	return kit.Call[T](ctx, c.c, method, path, body, append([]string{"Authorization", "Bearer " + token}, hdr...)...)
}

// Create places an order for the token's user under idempotencyKey.
func (c *Client) Create(ctx context.Context, token, idempotencyKey string, items []product.Item) (Order, error) {
	return call[Order](ctx, c, http.MethodPost, RouteOrders, token, CreateRequest{Items: items}, kit.IdempotencyKeyHeader, idempotencyKey)
}

// Get reads one order of the token's user.
func (c *Client) Get(ctx context.Context, token, id string) (Order, error) {
	return call[Order](ctx, c, http.MethodGet, "/orders/"+url.PathEscape(id), token, nil)
}

// List reads the token's user's orders, newest first.
func (c *Client) List(ctx context.Context, token string) ([]Order, error) {
	l, err := call[List](ctx, c, http.MethodGet, RouteOrders, token, nil)
	return l.Items, err
}

// History reads every order with its events (GET /internal/orders, service
// key), following the pages.
func (c *Client) History(ctx context.Context) ([]History, error) {
	return kit.All[History](ctx, c.c, RouteHistory)
}
