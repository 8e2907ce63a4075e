package kit

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
)

// Caller is what every typed client is built on: one upstream service's
// base URL, the client to reach it through, and the service key it proves
// itself with. The zero value is not usable: build one with NewCaller.
// It is safe for concurrent use.
type Caller struct {
	base string
	hc   *http.Client
	key  string
}

// NewCaller returns a Caller for the service at baseURL that sends
// serviceKey as X-Service-Key; nil hc means DefaultClient().
func NewCaller(baseURL string, hc *http.Client, serviceKey string) Caller {
	if hc == nil {
		hc = DefaultClient()
	}
	return Caller{base: strings.TrimRight(baseURL, "/"), hc: hc, key: serviceKey}
}

// Call sends method path (below the caller's base URL) with body encoded as
// in NewRequest, the service key and the extra header pairs hdr, and
// decodes a 2xx answer into a T. Anything else is Do's error: a
// *StatusError, or the transport error as it came.
func Call[T any](ctx context.Context, c Caller, method, path string, body any, hdr ...string) (T, error) {
	var out T
	req, err := NewRequest(ctx, method, c.base+path, body)
	if err != nil {
		return out, err
	}
	req.Header.Set(auth.ServiceKeyHeader, c.key)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	err = Do(c.hc, req, &out)
	return out, err
}

// StatusErrors maps the statuses of an upstream's answers that mean
// something to the caller to the sentinel errors that say so.
type StatusErrors map[int]error

// Wrap returns err wrapped in the sentinel its status maps to, keeping the
// *StatusError in the chain; any other err as it is.
func (m StatusErrors) Wrap(err error) error {
	if sentinel, ok := m[StatusOf(err)]; ok && err != nil {
		return fmt.Errorf("%w: %w", sentinel, err)
	}
	return err
}

// Page is one page of an internal list read by id (keyset paging): its
// items and the last id of the page, to pass as after; Next is empty on
// the last page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next"`
}

// AllPagesLimit is the page size All asks for.
const AllPagesLimit = 1000

// All reads every item of the internal list at path, following its pages
// (?limit=&after=). It never returns a nil slice without an error.
func All[T any](ctx context.Context, c Caller, path string) ([]T, error) {
	all := []T{}
	after := ""
	for {
		q := path + "?limit=" + strconv.Itoa(AllPagesLimit)
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		page, err := Call[Page[T]](ctx, c, http.MethodGet, q, nil)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		after = page.Next
	}
}
