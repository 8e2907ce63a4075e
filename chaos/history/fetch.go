package history

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ErrFetch is wrapped by every error of Fetch.
var ErrFetch = errors.New("history: fetch snapshot")

// StatusError is an endpoint's answer other than 200.
type StatusError struct {
	Path   string
	Status int
	Body   string // the start of it
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("GET %s: status %d: %s", e.Path, e.Status, e.Body)
}

// Source names the services' internal read endpoints.
type Source struct {
	// OrderURL, PaymentURL and ProductURL are the services' base URLs.
	OrderURL, PaymentURL, ProductURL string
	// ServiceKey is sent as X-Service-Key.
	ServiceKey string
	// PageSize is the limit of each page; 0 means 1000.
	PageSize int
	// HTTP sends the requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// Fetch reads a Snapshot from the services:
//
//	order   GET /internal/orders?after=&limit=    (paged by "next")
//	payment GET /internal/charges?after=&limit=   (paged by "next")
//	product GET /internal/stock                   ({"products":[…]} or […])
//	product GET /internal/reservations?state=reserved
func Fetch(ctx context.Context, src Source) (Snapshot, error) {
	var snap Snapshot
	var err error
	if snap.Orders, err = fetchPages[Order](ctx, src, src.OrderURL, "/internal/orders"); err != nil {
		return snap, err
	}
	if snap.Charges, err = fetchPages[Charge](ctx, src, src.PaymentURL, "/internal/charges"); err != nil {
		return snap, err
	}
	var stock json.RawMessage
	if err := get(ctx, src, src.ProductURL+"/internal/stock", &stock); err != nil {
		return snap, err
	}
	if snap.Stock, err = decodeStock(stock); err != nil {
		return snap, fmt.Errorf("%w: /internal/stock: %w", ErrFetch, err)
	}
	var res struct {
		Items []Reservation `json:"items"`
	}
	if err := get(ctx, src, src.ProductURL+"/internal/reservations?state="+ReservationHeld, &res); err != nil {
		return snap, err
	}
	snap.Reservations = res.Items
	if snap.Reservations == nil {
		snap.Reservations = []Reservation{}
	}
	return snap, nil
}

func decodeStock(raw json.RawMessage) ([]StockLevel, error) {
	var levels []StockLevel
	if err := json.Unmarshal(raw, &levels); err == nil {
		return levels, nil
	}
	var sum struct {
		Products []StockLevel `json:"products"`
	}
	err := json.Unmarshal(raw, &sum)
	return sum.Products, err
}

type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// maxPages bounds a fetch: a server whose "next" never ends must not hold
// the check forever.
const maxPages = 10000

func fetchPages[T any](ctx context.Context, src Source, base, path string) ([]T, error) {
	limit := src.PageSize
	if limit <= 0 {
		limit = 1000
	}
	var out []T
	after := ""
	for range maxPages {
		q := url.Values{"limit": {fmt.Sprint(limit)}}
		if after != "" {
			q.Set("after", after)
		}
		var p page[T]
		if err := get(ctx, src, strings.TrimRight(base, "/")+path+"?"+q.Encode(), &p); err != nil {
			return nil, err
		}
		out = append(out, p.Items...)
		if p.Next == "" || len(p.Items) == 0 {
			return out, nil
		}
		if p.Next == after {
			return nil, fmt.Errorf("%w: %s: next %q does not advance", ErrFetch, path, p.Next)
		}
		after = p.Next
	}
	return nil, fmt.Errorf("%w: %s: more than %d pages", ErrFetch, path, maxPages)
}

func get(ctx context.Context, src Source, u string, v any) error {
	hc := src.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFetch, err)
	}
	req.Header.Set("X-Service-Key", src.ServiceKey)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrFetch, err)
	}
	defer resp.Body.Close()
	path := req.URL.Path
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%w: %w", ErrFetch, &StatusError{Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))})
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(v); err != nil {
		return fmt.Errorf("%w: GET %s: %w", ErrFetch, path, err)
	}
	return nil
}
