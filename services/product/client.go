package product

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
)

// Client calls the product service as a fellow service (X-Service-Key).
// Errors are kit errors (*kit.StatusError, transport errors); Reserve also
// wraps ErrUnknownProduct (422), ErrInsufficientStock (409) and ErrState.
// It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	key  string
}

// NewClient returns a client for the product service at baseURL; nil hc
// means kit.DefaultClient().
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	if hc == nil {
		hc = kit.DefaultClient()
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, key: serviceKey}
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	req, err := kit.NewRequest(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set(auth.ServiceKeyHeader, c.key)
	return kit.Do(c.hc, req, out)
}

// Get returns one product.
func (c *Client) Get(ctx context.Context, id string) (Product, error) {
	var p Product
	err := c.do(ctx, http.MethodGet, "/products/"+url.PathEscape(id), nil, &p)
	return p, err
}

// Reserve reserves items under id (idempotent by id).
func (c *Client) Reserve(ctx context.Context, id string, items []Item) (Reservation, error) {
	var r Reservation
	err := c.do(ctx, http.MethodPost, RouteReservations, ReserveRequest{ID: id, Items: items}, &r)
	switch kit.StatusOf(err) {
	case http.StatusUnprocessableEntity:
		return r, fmt.Errorf("%w: %w", ErrUnknownProduct, err)
	case http.StatusConflict:
		return r, fmt.Errorf("%w: %w", ErrInsufficientStock, err)
	}
	return r, err
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
	var r Reservation
	err := c.do(ctx, http.MethodPost, path, nil, &r)
	switch kit.StatusOf(err) {
	case http.StatusNotFound:
		return r, fmt.Errorf("%w: %w", ErrNotFound, err)
	case http.StatusConflict:
		return r, fmt.Errorf("%w: %w", ErrState, err)
	}
	return r, err
}

// Stock returns the stock summary.
func (c *Client) Stock(ctx context.Context) (StockSummary, error) {
	var s StockSummary
	err := c.do(ctx, http.MethodGet, RouteStock, nil, &s)
	return s, err
}

// Reservations lists the reservations in state ("" for all).
func (c *Client) Reservations(ctx context.Context, state string) ([]Reservation, error) {
	path := RouteReservations
	if state != "" {
		path += "?state=" + url.QueryEscape(state)
	}
	var rs Reservations
	err := c.do(ctx, http.MethodGet, path, nil, &rs)
	return rs.Items, err
}
