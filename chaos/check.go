package chaos

import (
	"fmt"
	"strings"
	"time"
)

// CheckKind is the kind of a Check. In JSON it is the plain string
// ("success_rate", "breaker_opens", ...).
type CheckKind string

// String returns the kind as scenarios spell it.
func (k CheckKind) String() string { return string(k) }

// Kinds of Check.
const (
	// CheckSuccessRate: in Phase, the share of successful Call results
	// (all calls when Call is empty) is at least Min.
	CheckSuccessRate CheckKind = "success_rate"
	// CheckLatency: in Phase, the Quantile (0.5, 0.9 or 0.99; default 0.99)
	// of Call's latency is at most MaxLatency; or, with Max > 0, at most Max
	// times the same quantile of Call in the before phase (MaxLatency is
	// then a floor, for timer noise on an idle loopback).
	CheckLatency CheckKind = "latency"
	// CheckStatusSeen: in Phase, the share of Call results with Status is at
	// least Min (Min 0: at least one).
	CheckStatusSeen CheckKind = "status_seen"
	// CheckStatusAbsent: in Phase, no Call result has Status.
	CheckStatusAbsent CheckKind = "status_absent"
	// CheckHeader: in Phase, among Call results with Status (any when 0),
	// the share carrying Header (equal to Value when set) is at least Min
	// (Min 0: at least one).
	CheckHeader CheckKind = "header"
	// CheckBreakerOpens: Service's breaker on Upstream is seen open within
	// Within of the start of the first fault (or of the step named Step).
	CheckBreakerOpens CheckKind = "breaker_opens"
	// CheckBreakerCloses: after being open, the breaker is seen closed
	// within Within of the fault's revert.
	CheckBreakerCloses CheckKind = "breaker_closes"
	// CheckBreakerHalfOpen: the breaker went half-open after the fault's
	// revert (a half_open transition counted, or a half_open sample).
	CheckBreakerHalfOpen CheckKind = "breaker_half_open"
	// CheckBreakerStaysClosed: Service's breaker on Upstream never opens
	// during the run (no transition to open counted, no sample other than
	// closed): a fault behind Upstream must not trip it.
	CheckBreakerStaysClosed CheckKind = "breaker_stays_closed"
	// CheckRetryAmplification: on Service, attempts to Upstream per logical
	// call (metric deltas over the run) are at most Max.
	CheckRetryAmplification CheckKind = "retry_amplification"
	// CheckMetricIncrease: on Service, the counter Metric (summed over series
	// matching Labels) rose by at least Min (default 1) over the run.
	CheckMetricIncrease CheckKind = "metric_increase"
	// CheckNoDoubleCharge: Env.Charges reports no duplicate charges.
	CheckNoDoubleCharge CheckKind = "no_double_charge"
	// CheckStockConsistent: Env.Stock adds up: available + reserved + sold = initial.
	CheckStockConsistent CheckKind = "stock_consistent"
	// CheckLogEvent: at least Min (default 1) log events with event.action
	// Action (from Service, when set) since the run started.
	CheckLogEvent CheckKind = "log_event"
	// CheckAlertFires: the Prometheus alert Alert was seen firing.
	CheckAlertFires CheckKind = "alert_fires"
	// CheckHistory: once the faults are off and the shop is quiet (Settle,
	// within Within; 0 means DefaultSettle), what every create_order client
	// was told agrees with the stores: history.Check finds 0 anomalies.
	// Skipped when the Env is no Historian.
	CheckHistory CheckKind = "history"
)

// Check is one claim of a scenario's hypothesis. Which fields matter
// depends on Kind (see the Check* constants).
type Check struct {
	Kind        CheckKind         `json:"kind"`
	Phase       string            `json:"phase,omitempty"` // default: overall
	Call        string            `json:"call,omitempty"`
	Min         float64           `json:"min,omitempty"`
	Max         float64           `json:"max,omitempty"`
	Quantile    float64           `json:"quantile,omitempty"`
	MaxLatency  time.Duration     `json:"max_latency,omitempty"`
	Status      int               `json:"status,omitempty"`
	Header      string            `json:"header,omitempty"`
	Value       string            `json:"value,omitempty"`
	Service     string            `json:"service,omitempty"`
	Upstream    string            `json:"upstream,omitempty"`
	Step        string            `json:"step,omitempty"`
	Within      time.Duration     `json:"within,omitempty"`
	Metric      string            `json:"metric,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Action      string            `json:"action,omitempty"`
	Alert       string            `json:"alert,omitempty"`
	Description string            `json:"description,omitempty"`
}

func (c Check) phase() string {
	if c.Phase == "" {
		return PhaseOverall
	}
	return c.Phase
}

func (c Check) quantile() float64 {
	if c.Quantile == 0 {
		return 0.99
	}
	return c.Quantile
}

func (c Check) minCount() float64 {
	if c.Min == 0 {
		return 1
	}
	return c.Min
}

func (c Check) target() string {
	if c.Call == "" {
		return "all calls"
	}
	return c.Call
}

// String names the check in reports.
func (c Check) String() string {
	if c.Description != "" {
		return c.Description
	}
	switch c.Kind {
	case CheckSuccessRate:
		return fmt.Sprintf("success rate of %s", c.target())
	case CheckLatency:
		return fmt.Sprintf("p%g latency of %s", c.quantile()*100, c.target())
	case CheckStatusSeen:
		return fmt.Sprintf("%s answers %d", c.target(), c.Status)
	case CheckStatusAbsent:
		return fmt.Sprintf("%s never answers %d", c.target(), c.Status)
	case CheckHeader:
		s := fmt.Sprintf("%s responses carry %s", c.target(), c.Header)
		if c.Value != "" {
			s += ": " + c.Value
		}
		if c.Status != 0 {
			s += fmt.Sprintf(" (on %d)", c.Status)
		}
		return s
	case CheckBreakerOpens:
		return fmt.Sprintf("breaker %s→%s opens", c.Service, c.Upstream)
	case CheckBreakerCloses:
		return fmt.Sprintf("breaker %s→%s closes after recovery", c.Service, c.Upstream)
	case CheckBreakerHalfOpen:
		return fmt.Sprintf("breaker %s→%s goes half-open after recovery", c.Service, c.Upstream)
	case CheckBreakerStaysClosed:
		return fmt.Sprintf("breaker %s→%s stays closed", c.Service, c.Upstream)
	case CheckRetryAmplification:
		return fmt.Sprintf("retry amplification %s→%s", c.Service, c.Upstream)
	case CheckMetricIncrease:
		return fmt.Sprintf("%s %s%s rises", c.Service, c.Metric, labelString(c.Labels))
	case CheckNoDoubleCharge:
		return "no payment charged twice"
	case CheckStockConsistent:
		return "stock is consistent"
	case CheckLogEvent:
		s := "log event " + c.Action
		if c.Service != "" {
			s += " from " + c.Service
		}
		return s
	case CheckAlertFires:
		return "alert " + c.Alert + " fires"
	case CheckHistory:
		return "history: clients' answers agree with the stores"
	}
	return string(c.Kind)
}

// Validate reports the first problem with c.
func (c Check) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: check %s: %s", ErrScenario, c.Kind, fmt.Sprintf(format, args...))
	}
	switch c.phase() {
	case PhaseBefore, PhaseDuring, PhaseAfter, PhaseOverall:
	default:
		return bad("phase must be before, during, after or overall, got %q", c.Phase)
	}
	switch c.Kind {
	case CheckSuccessRate:
		if c.Min <= 0 || c.Min > 1 {
			return bad("min must be in (0, 1]")
		}
	case CheckLatency:
		if c.MaxLatency <= 0 && c.Max <= 0 {
			return bad("max_latency or max (a ratio to the before phase) must be positive")
		}
		if c.MaxLatency < 0 || c.Max < 0 {
			return bad("max_latency and max must not be negative")
		}
		if q := c.quantile(); q != 0.5 && q != 0.9 && q != 0.99 {
			return bad("quantile must be 0.5, 0.9 or 0.99")
		}
	case CheckStatusSeen, CheckStatusAbsent:
		if c.Status < 100 || c.Status > 599 {
			return bad("status must be an HTTP status")
		}
	case CheckHeader:
		if c.Header == "" {
			return bad("header is required")
		}
	case CheckBreakerOpens, CheckBreakerCloses:
		if c.Within <= 0 {
			return bad("within must be positive")
		}
		fallthrough
	case CheckBreakerHalfOpen, CheckBreakerStaysClosed:
		if c.Service == "" || c.Upstream == "" {
			return bad("service and upstream are required")
		}
	case CheckRetryAmplification:
		if c.Service == "" || c.Upstream == "" || c.Max < 1 {
			return bad("service, upstream and max ≥ 1 are required")
		}
	case CheckMetricIncrease:
		if c.Service == "" || c.Metric == "" {
			return bad("service and metric are required")
		}
	case CheckLogEvent:
		if c.Action == "" {
			return bad("action is required")
		}
	case CheckAlertFires:
		if c.Alert == "" {
			return bad("alert is required")
		}
	case CheckHistory:
		if c.Within < 0 {
			return bad("within must not be negative")
		}
	case CheckNoDoubleCharge, CheckStockConsistent:
	default:
		return bad("unknown kind")
	}
	return nil
}

func labelString(l map[string]string) string {
	if len(l) == 0 {
		return ""
	}
	parts := make([]string, 0, len(l))
	for _, k := range sortedKeys(l) {
		parts = append(parts, fmt.Sprintf("%s=%q", k, l[k]))
	}
	return "{" + strings.Join(parts, ",") + "}"
}
