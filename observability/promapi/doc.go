// Package promapi reads what the tests and tools need from Prometheus'
// HTTP API: the active scrape targets (GET /api/v1/targets) and their
// health.
//
//	ts, err := promapi.Targets(ctx, http.DefaultClient, "http://127.0.0.1:9090")
//	up := promapi.Up(ts, "payment") // the payment job's instances scraped up
package promapi
