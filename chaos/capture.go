package chaos

import (
	"net/http"
	"sync"

	"github.com/faultlab/faultlab/observability"
)

// capture records, by trace id, the response headers that header checks
// look at, so results (which carry only the trace id) can be joined to them.
type capture struct {
	client *http.Client
	names  []string
	seen   sync.Map // trace id → http.Header (only the named headers)
}

func newCapture(checks []Check, base *http.Client) *capture {
	c := &capture{}
	for _, ch := range checks {
		if ch.Kind == CheckHeader {
			c.names = append(c.names, http.CanonicalHeaderKey(ch.Header))
		}
	}
	if base == nil {
		base = http.DefaultClient
	}
	if len(c.names) == 0 {
		c.client = base
		return c
	}
	hc := *base
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	hc.Transport = roundTripFunc(func(r *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(r)
		if err == nil {
			if sc, perr := observability.ParseTraceparent(r.Header.Get(observability.TraceparentHeader)); perr == nil {
				h := http.Header{}
				for _, n := range c.names {
					if v := resp.Header.Values(n); len(v) > 0 {
						h[n] = v
					}
				}
				c.seen.Store(sc.TraceID, h)
			}
		}
		return resp, err
	})
	c.client = &hc
	return c
}

func (c *capture) header(traceID string) http.Header {
	if v, ok := c.seen.Load(traceID); ok {
		return v.(http.Header)
	}
	return nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
