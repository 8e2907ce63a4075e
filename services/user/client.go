package user

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
)

// Client calls the user service's internal API. It is safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
	key  string
}

// NewClient returns a client for the user service at baseURL. hc is the
// (resilience) client to use; nil means kit.DefaultClient(). serviceKey is
// sent as X-Service-Key.
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	if hc == nil {
		hc = kit.DefaultClient()
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, key: serviceKey}
}

// ValidateToken asks the user service who token belongs to. A 400 or 401
// answer wraps auth.ErrInvalidToken; anything else (connection error, 5xx,
// resilience refusals) wraps auth.ErrUnavailable, with the original error
// kept in the chain.
func (c *Client) ValidateToken(ctx context.Context, token string) (auth.Principal, error) {
	req, err := kit.NewRequest(ctx, http.MethodPost, c.base+RouteValidate, ValidateRequest{Token: token})
	if err != nil {
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	req.Header.Set(auth.ServiceKeyHeader, c.key)
	var p auth.Principal
	if err := kit.Do(c.hc, req, &p); err != nil {
		switch kit.StatusOf(err) {
		case http.StatusUnauthorized, http.StatusBadRequest:
			return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err)
		}
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	return p, nil
}

// Validate makes *Client an auth.Validator.
func (c *Client) Validate(ctx context.Context, token string) (auth.Principal, error) {
	return c.ValidateToken(ctx, token)
}
