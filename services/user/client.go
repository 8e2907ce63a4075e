package user

import (
	"net/http"

	"github.com/faultlab/faultlab/internal/kit"
)

// Client calls the user service's internal API: token validation. It is
// kit's TokenClient, the Validator every other service's frame uses by
// default. It is safe for concurrent use.
type Client = kit.TokenClient

// NewClient returns a client for the user service at baseURL. hc is the
// (resilience) client to use; nil means kit.DefaultClient(). serviceKey is
// sent as X-Service-Key.
func NewClient(baseURL string, hc *http.Client, serviceKey string) *Client {
	return kit.NewTokenClient(baseURL, hc, serviceKey)
}
