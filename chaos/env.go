package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// ErrNotSupported is returned by an Env method the environment cannot
// answer (e.g. Alerts without a Prometheus). Checks that need it are
// skipped, not failed.
var ErrNotSupported = errors.New("not supported by this environment")

// Env is a running lab, as Run sees it. The in-process lab (chaos/lab)
// implements it. Methods are called from several goroutines at once and
// must be safe for concurrent use.
type Env interface {
	// GatewayURL is the base URL of the public gateway, e.g. http://127.0.0.1:8080.
	GatewayURL() string
	// HTTPClient sends the load; it should pool connections.
	HTTPClient() *http.Client
	// Token logs a demo customer in and returns a bearer token.
	Token(ctx context.Context) (string, error)

	// ApplyFault injects f: a toxic on f.ToxicFault().Hop, or an HTTP fault
	// on f.Service (fault.Client.Set). A Step with Ramp applies the same HTTP
	// fault again with a higher probability; Set replaces it by name.
	ApplyFault(ctx context.Context, f FaultSpec) error
	// RevertFault removes f (a Down toxic: enables the hop again).
	RevertFault(ctx context.Context, f FaultSpec) error
	// ResetFaults removes every toxic and HTTP fault and enables every hop.
	ResetFaults(ctx context.Context) error

	// Metrics scrapes a service's /metrics (service: "gateway", "user",
	// "product", "order", "payment"). ParseMetrics turns the text into
	// MetricFamilies.
	Metrics(ctx context.Context, service string) (MetricFamilies, error)
	// Charges summarises payment's charges.
	Charges(ctx context.Context) (ChargeSummary, error)
	// Stock summarises product's stock.
	Stock(ctx context.Context) (StockSummary, error)
	// Events returns the log events (ECS objects) with event.action ==
	// action and @timestamp ≥ since, from every service.
	Events(ctx context.Context, action string, since time.Time) ([]map[string]any, error)
	// Alerts returns the alerts Prometheus has pending or firing, or an
	// error wrapping ErrNotSupported when there is no Prometheus.
	Alerts(ctx context.Context) ([]Alert, error)
}

// Credentials is implemented by an Env whose demo customer can log in
// through the gateway; the "login" call needs it.
type Credentials interface {
	Credentials() (email, password string)
}

// ChargeSummary counts payment's charges.
type ChargeSummary struct {
	// Total is the number of charges.
	Total int `json:"total"`
	// Duplicates is the number of orders charged more than once.
	Duplicates int `json:"duplicates"`
}

// StockSummary sums product's stock over all products.
type StockSummary struct {
	Initial   int `json:"initial"`
	Available int `json:"available"`
	Reserved  int `json:"reserved"`
	Sold      int `json:"sold"`
}

// Consistent reports whether no unit was lost or made up.
func (s StockSummary) Consistent() bool {
	return s.Available >= 0 && s.Reserved >= 0 && s.Sold >= 0 && s.Available+s.Reserved+s.Sold == s.Initial
}

// Alert is one Prometheus alert.
type Alert struct {
	Name     string            `json:"name"`
	State    string            `json:"state"` // "pending" or "firing"
	Labels   map[string]string `json:"labels,omitempty"`
	ActiveAt time.Time         `json:"active_at,omitzero"`
}

// MetricFamilies is a parsed scrape, by metric name.
type MetricFamilies map[string]*dto.MetricFamily

// ParseMetrics parses the Prometheus text exposition format.
func ParseMetrics(r io.Reader) (MetricFamilies, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return mf, nil
}

// ScrapeMetrics GETs url (a /metrics endpoint) and parses it; a helper for
// Env implementations.
func ScrapeMetrics(ctx context.Context, c *http.Client, url string) (MetricFamilies, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: status %d", url, resp.StatusCode)
	}
	return ParseMetrics(resp.Body)
}

// Gauge returns the value of the first gauge (or untyped) series of name
// whose labels include labels, and whether there was one.
func (m MetricFamilies) Gauge(name string, labels map[string]string) (float64, bool) {
	for _, s := range m.series(name, labels) {
		switch {
		case s.Gauge != nil:
			return s.Gauge.GetValue(), true
		case s.Untyped != nil:
			return s.Untyped.GetValue(), true
		case s.Counter != nil:
			return s.Counter.GetValue(), true
		}
	}
	return 0, false
}

// CounterSum sums the counters of name whose labels include labels (0 when
// there are none: a counter not yet touched has not been exported).
func (m MetricFamilies) CounterSum(name string, labels map[string]string) float64 {
	var sum float64
	for _, s := range m.series(name, labels) {
		switch {
		case s.Counter != nil:
			sum += s.Counter.GetValue()
		case s.Untyped != nil:
			sum += s.Untyped.GetValue()
		}
	}
	return sum
}

func (m MetricFamilies) series(name string, labels map[string]string) []*dto.Metric {
	mf := m[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, s := range mf.GetMetric() {
		have := make(map[string]string, len(s.GetLabel()))
		for _, l := range s.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		match := true
		for k, v := range labels {
			if have[k] != v {
				match = false
				break
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
