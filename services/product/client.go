package product

import (
	"context"
	"net/http"
	"net/url"

	"github.com/faultlab/faultlab/internal/kit"
)

// Client calls the product service as a fellow service (X-Service-Key).
// Errors are kit errors (*kit.StatusError, transport errors); Reserve also
// wraps ErrUnknownProduct (422), ErrInsufficientStock (409) and ErrState.
// It is safe for concurrent use.
type Client struct {
	c kit.Caller
}

// The answers that Reserve, and Release and Commit, name.
var (
	reserveErrors = kit.StatusErrors{
		http.StatusUnprocessableEntity: ErrUnknownProduct,
		http.StatusConflict:            ErrInsufficientStock,
	}
	finishErrors = kit.StatusErrors{
		http.StatusNotFound: ErrNotFound,
		http.StatusConflict: ErrState,
	}
)

// NewClient returns a client for the product service at baseURL; nil hc
// means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	return &Client{c: kit.NewCaller(baseURL, hc, serviceKey)}
}

// Get returns one product.
func (c *Client) Get(ctx context.Context, id string) (Product, error) {
	return kit.Call[Product](ctx, c.c, http.MethodGet, "/products/"+url.PathEscape(id), nil)
}

// Reserve reserves items under id (idempotent by id).
func (c *Client) Reserve(ctx context.Context, id string, items []Item) (Reservation, error) {
	r, err := kit.Call[Reservation](ctx, c.c, http.MethodPost, RouteReservations, ReserveRequest{ID: id, Items: items},
		kit.IdempotencyKeyHeader, "reserve-"+id)
	return r, reserveErrors.Wrap(err)
}

// Release returns a reservation's stock (idempotent). A reservation that
// does not exist wraps ErrNotFound; a committed one ErrState.
func (c *Client) Release(ctx context.Context, id string) (Reservation, error) {
	return c.finish(ctx, "/internal/reservations/"+url.PathEscape(id)+"/release")
}

// Commit marks a reservation's stock sold (idempotent).
func (c *Client) Commit(ctx context.Context, id string) (Reservation, error) {
	return c.finish(ctx, "/internal/reservations/"+url.PathEscape(id)+"/commit")
}

func (c *Client) finish(ctx context.Context, path string) (Reservation, error) {
	r, err := kit.Call[Reservation](ctx, c.c, http.MethodPost, path, nil, kit.IdempotencyKeyHeader, path)
	return r, finishErrors.Wrap(err)
}

// Stock returns the stock summary.
func (c *Client) Stock(ctx context.Context) (StockSummary, error) {
	return kit.Call[StockSummary](ctx, c.c, http.MethodGet, RouteStock, nil)
}

// Reservations lists the reservations in state ("" for all).
func (c *Client) Reservations(ctx context.Context, state string) ([]Reservation, error) {
	path := RouteReservations
	if state != "" {
		path += "?state=" + url.QueryEscape(state)
	}
	rs, err := kit.Call[Reservations](ctx, c.c, http.MethodGet, path, nil)
	return rs.Items, err
}
