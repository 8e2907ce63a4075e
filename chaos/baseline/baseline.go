package baseline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/chaos/load"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/shop"
	"github.com/faultlab/faultlab/topology"
)

// ErrConfig is wrapped by every configuration error of Compare.
var ErrConfig = errors.New("invalid baseline config")

// Config configures Compare. URLs, Keys and Token are required.
type Config struct {
	// URLs are the base URLs of the running services the gateway under test
	// calls directly (user, product, order, payment).
	URLs map[string]string
	// Keys are the lab's secrets: the gateway key is what both the gateway
	// and the baseline proxy send to product.
	Keys auth.Keys
	// Token is a valid bearer token for the demo customer.
	Token string
	// Closed is the length of each closed-loop run; 0 means 5s.
	Closed time.Duration
	// Open is the length of each open-loop run; 0 means 5s.
	Open time.Duration
	// Concurrency of the closed-loop runs; 0 means 32.
	Concurrency int
	// Rate of the open-loop runs; 0 means 1000 rps.
	Rate float64
	// Progress, if set, gets a line as each run starts.
	Progress io.Writer
}

// Path is the public path measured.
const Path = topology.RouteProducts

// Comparison is the four runs of Compare. It is a plain value.
type Comparison struct {
	GatewayClosed, BaselineClosed *load.Report
	GatewayOpen, BaselineOpen     *load.Report
	Concurrency                   int
	Rate                          float64
}

// RPSRatio is the gateway's closed-loop rps as a fraction of the baseline's.
func (c *Comparison) RPSRatio() float64 {
	if c.BaselineClosed == nil || c.BaselineClosed.RPS == 0 {
		return 0
	}
	return c.GatewayClosed.RPS / c.BaselineClosed.RPS
}

// NewProxy returns the baseline: a ReverseProxy that sends Path to
// productURL's /products with the gateway key, as the gateway does, and
// nothing else.
func NewProxy(productURL, gatewayKey string) (http.Handler, error) {
	u, err := url.Parse(productURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%w: product URL %q", ErrConfig, productURL)
	}
	tr := &http.Transport{Proxy: nil, MaxIdleConns: 512, MaxIdleConnsPerHost: 256, IdleConnTimeout: 90 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.URL.Path = "/products"
			pr.Out.URL.RawPath = ""
			pr.Out.Host = u.Host
			pr.Out.Header.Set(auth.GatewayKeyHeader, gatewayKey)
			pr.SetXForwarded()
		},
		Transport: tr,
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != Path {
			http.NotFound(w, r)
			return
		}
		rp.ServeHTTP(w, r)
	}), nil
}

// Compare starts a gateway (built like the lab's, with all its policies,
// but calling cfg.URLs directly) and the baseline proxy on ephemeral
// loopback ports, and loads each in turn: closed loop, then open loop.
func Compare(ctx context.Context, cfg Config) (*Comparison, error) {
	if cfg.URLs["product"] == "" || cfg.Token == "" || cfg.Keys.Gateway == "" {
		return nil, fmt.Errorf("%w: need the product URL, the gateway key and a token", ErrConfig)
	}
	if cfg.Closed <= 0 {
		cfg.Closed = 5 * time.Second
	}
	if cfg.Open <= 0 {
		cfg.Open = 5 * time.Second
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 1000
	}
	gw, err := shop.Build("gateway", shop.Options{Keys: cfg.Keys, URLs: cfg.URLs})
	if err != nil {
		return nil, fmt.Errorf("baseline: gateway: %w", err)
	}
	defer gw.Close()
	proxy, err := NewProxy(cfg.URLs["product"], cfg.Keys.Gateway)
	if err != nil {
		return nil, err
	}
	srvCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	serve := func(h http.Handler) (string, error) {
		ln, err := server.Listen("127.0.0.1:0")
		if err != nil {
			return "", fmt.Errorf("baseline: %w", err)
		}
		srv := server.New(h, nil)
		wg.Add(1)
		go func() { defer wg.Done(); _ = server.Serve(srvCtx, srv, ln) }()
		return "http://" + ln.Addr().String(), nil
	}
	gwURL, err := serve(gw.Handler)
	if err != nil {
		return nil, err
	}
	baseURL, err := serve(proxy)
	if err != nil {
		return nil, err
	}
	cmp := &Comparison{Concurrency: cfg.Concurrency, Rate: cfg.Rate}
	runs := []struct {
		name, base string
		rate       float64
		d          time.Duration
		out        **load.Report
	}{
		{"gateway closed loop", gwURL, 0, cfg.Closed, &cmp.GatewayClosed},
		{"baseline closed loop", baseURL, 0, cfg.Closed, &cmp.BaselineClosed},
		{"gateway open loop", gwURL, cfg.Rate, cfg.Open, &cmp.GatewayOpen},
		{"baseline open loop", baseURL, cfg.Rate, cfg.Open, &cmp.BaselineOpen},
	}
	for _, r := range runs {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "baseline: %s for %s\n", r.name, r.d)
		}
		rep, err := measure(ctx, r.base, cfg.Token, r.rate, r.d, cfg.Concurrency)
		if err != nil {
			return nil, fmt.Errorf("baseline: %s: %w", r.name, err)
		}
		*r.out = rep
		if err := ctx.Err(); err != nil {
			return cmp, fmt.Errorf("baseline: %w", err)
		}
	}
	return cmp, nil
}

// measure loads base+Path with one fresh connection pool.
func measure(ctx context.Context, base, token string, rate float64, d time.Duration, conc int) (*load.Report, error) {
	if rate > 0 {
		// Open loop: enough workers that a slow second does not drop requests.
		conc = max(conc, 256)
	}
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     30 * time.Second,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	auth := "Bearer " + token
	return load.Run(ctx, load.Config{
		Rate: rate, Duration: d, Concurrency: conc, Client: hc,
		Mix: []load.Call{{Name: "list_products", Weight: 1, Build: func(ctx context.Context) (*http.Request, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+Path, nil)
			if err == nil {
				req.Header.Set("Authorization", auth)
				req.Header.Set("Accept", "application/json")
			}
			return req, err
		}}},
	})
}

// WriteTable prints the comparison as a table.
func WriteTable(w io.Writer, c *Comparison) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
	ratio := func(a, b float64) string {
		if b == 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", a/b)
	}
	row := func(mode string, g, b *load.Report) {
		fmt.Fprintf(tw, "%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f%%\t%.1f%%\t\n", mode,
			g.RPS, b.RPS, ratio(g.RPS, b.RPS),
			ms(g.Latency.P50), ms(b.Latency.P50), ms(g.Latency.P99), ms(b.Latency.P99),
			ratio(float64(g.Latency.P99), float64(b.Latency.P99)), ms(g.Latency.Max),
			100*g.SuccessRate(), 100*b.SuccessRate())
	}
	fmt.Fprintln(tw, "run\tgw rps\tbase rps\trps ratio\tgw p50\tbase p50\tgw p99\tbase p99\tp99 ratio\tgw max\tgw ok\tbase ok\t")
	row(fmt.Sprintf("closed c=%d", c.Concurrency), c.GatewayClosed, c.BaselineClosed)
	row(fmt.Sprintf("open %.0f/s", c.Rate), c.GatewayOpen, c.BaselineOpen)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	_, err := fmt.Fprintf(w, "%s %s\n", verdict("gateway rps ≥ 90%% of baseline", c.RPSRatio() >= 0.9),
		verdict(fmt.Sprintf("gateway p99 < 5ms at %.0f rps", c.Rate), c.GatewayOpen.Latency.P99 < 5*time.Millisecond))
	return err
}

func verdict(what string, ok bool) string {
	w := "MISS"
	if ok {
		w = "MET"
	}
	return strings.ReplaceAll("["+w+"] "+what, "%%", "%")
}
