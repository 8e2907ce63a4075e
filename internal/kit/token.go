package kit

import (
	"context"
	"fmt"
	"net/http"

	"github.com/faultlab/faultlab/internal/auth"
)

// TokenClient asks the user service who a bearer token belongs to
// (auth.RouteValidate): the Validator every other service uses, on its own
// or behind a resilience token cache. It is safe for concurrent use.
type TokenClient struct {
	c Caller
}

// NewTokenClient returns a TokenClient for the user service at baseURL.
// hc is the (resilience) client to use; nil means DefaultClient().
// serviceKey is sent as X-Service-Key.
func NewTokenClient(baseURL string, hc *http.Client, serviceKey string) *TokenClient {
	return &TokenClient{c: NewCaller(baseURL, hc, serviceKey)}
}

// ValidateToken asks the user service who token belongs to. A 400 or 401
// answer wraps auth.ErrInvalidToken; anything else (connection error, 5xx,
// resilience refusals) wraps auth.ErrUnavailable, with the original error
// kept in the chain.
func (c *TokenClient) ValidateToken(ctx context.Context, token string) (auth.Principal, error) {
	p, err := Call[auth.Principal](ctx, c.c, http.MethodPost, auth.RouteValidate, auth.ValidateRequest{Token: token})
	if err != nil {
		switch StatusOf(err) {
		case http.StatusUnauthorized, http.StatusBadRequest:
			return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err)
		}
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrUnavailable, err)
	}
	return p, nil
}

// Validate makes *TokenClient an auth.Validator.
func (c *TokenClient) Validate(ctx context.Context, token string) (auth.Principal, error) {
	return c.ValidateToken(ctx, token)
}
