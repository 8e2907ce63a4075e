package fault

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
)

// Client drives one service's control API. The zero HTTP means
// http.DefaultClient. It is safe for concurrent use.
type Client struct {
	// BaseURL is the service's base URL, e.g. http://127.0.0.1:8084.
	BaseURL string
	// ServiceKey is sent as X-Service-Key.
	ServiceKey string
	// HTTP makes the requests.
	HTTP *http.Client
}

// Set adds or replaces f on the service.
func (c *Client) Set(ctx context.Context, f Fault) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("fault: encode %s: %w", f.Name, err)
	}
	return c.do(ctx, http.MethodPost, Path, b, nil)
}

// Remove deletes the named fault; a missing one is an error wrapping
// ErrNotFound.
func (c *Client) Remove(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, Path+"/"+url.PathEscape(name), nil, nil)
}

// Clear removes every fault on the service.
func (c *Client) Clear(ctx context.Context) error {
	return c.do(ctx, http.MethodDelete, Path, nil, nil)
}

// List returns the service's active faults.
func (c *Client) List(ctx context.Context) ([]Fault, error) {
	var fs []Fault
	err := c.do(ctx, http.MethodGet, Path, nil, &fs)
	return fs, err
}

func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("fault: %s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set(auth.ServiceKeyHeader, c.ServiceKey)
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("fault: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		p := &problem.Error{Status: resp.StatusCode}
		_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(p)
		if p.Title == "" {
			p.Title = http.StatusText(resp.StatusCode)
		}
		if resp.StatusCode == http.StatusNotFound && method == http.MethodDelete {
			return fmt.Errorf("fault: %s %s: %w: %w", method, path, ErrNotFound, p)
		}
		return fmt.Errorf("fault: %s %s: %w", method, path, p)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return fmt.Errorf("fault: decode %s %s: %w", method, path, err)
		}
	}
	return nil
}
