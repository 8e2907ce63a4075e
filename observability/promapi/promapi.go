package promapi

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// Target is one active scrape target.
type Target struct {
	Job, Instance, Health, LastError string
}

// Alert is one pending or firing alert.
type Alert struct {
	Name     string            // the alertname label
	State    string            // "pending" or "firing"
	Labels   map[string]string // every label, alertname included
	ActiveAt time.Time
}

// Targets returns Prometheus' active scrape targets. baseURL is
// Prometheus' base URL, e.g. http://127.0.0.1:9090; hc nil is
// http.DefaultClient.
func Targets(ctx context.Context, hc *http.Client, baseURL string) ([]Target, error) {
	var body struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	if err := get(ctx, hc, baseURL, "/api/v1/targets?state=active", &body); err != nil {
		return nil, fmt.Errorf("prometheus targets: %w", err)
	}
	out := make([]Target, 0, len(body.Data.ActiveTargets))
	for _, t := range body.Data.ActiveTargets {
		out = append(out, Target{Job: t.Labels["job"], Instance: t.Labels["instance"], Health: t.Health, LastError: t.LastError})
	}
	return out, nil
}

// Alerts returns Prometheus' pending and firing alerts.
func Alerts(ctx context.Context, hc *http.Client, baseURL string) ([]Alert, error) {
	var body struct {
		Data struct {
			Alerts []struct {
				Labels   map[string]string `json:"labels"`
				State    string            `json:"state"`
				ActiveAt time.Time         `json:"activeAt"`
			} `json:"alerts"`
		} `json:"data"`
	}
	if err := get(ctx, hc, baseURL, "/api/v1/alerts", &body); err != nil {
		return nil, fmt.Errorf("prometheus alerts: %w", err)
	}
	out := make([]Alert, 0, len(body.Data.Alerts))
	for _, a := range body.Data.Alerts {
		out = append(out, Alert{Name: a.Labels["alertname"], State: a.State, Labels: a.Labels, ActiveAt: a.ActiveAt})
	}
	return out, nil
}

// Up returns the instances of job among ts whose last scrape succeeded,
// sorted.
func Up(ts []Target, job string) []string {
	var up []string
	for _, t := range ts {
		if t.Job == job && t.Health == "up" {
			up = append(up, t.Instance)
		}
	}
	slices.Sort(up)
	return up
}

// get decodes the JSON answer of GET baseURL+path into dst.
func get(ctx context.Context, hc *http.Client, baseURL, path string, dst any) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+path, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(dst)
}
