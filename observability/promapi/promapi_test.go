package promapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/observability/promapi"
)

// A body as Prometheus 2.42 answers it, trimmed.
const targetsBody = `{"status":"success","data":{"activeTargets":[
{"labels":{"instance":"127.0.0.1:18084","job":"payment"},"health":"up","lastError":""},
{"labels":{"instance":"127.0.0.1:8084","job":"payment"},"health":"up","lastError":""},
{"labels":{"instance":"127.0.0.1:28084","job":"payment"},"health":"down","lastError":"connection refused"},
{"labels":{"instance":"127.0.0.1:8083","job":"order"},"health":"up","lastError":""}],"droppedTargets":[]}}`

const alertsBody = `{"status":"success","data":{"alerts":[
{"labels":{"alertname":"CircuitBreakerOpen","job":"order","name":"payment","severity":"page"},"annotations":{},"state":"firing","activeAt":"2026-12-02T03:00:01.5Z","value":"1e+00"}]}}`

// prometheus answers the two API calls as Prometheus 2.42 does.
func prometheus(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/api/v1/targets" && r.URL.Query().Get("state") == "active":
			_, _ = w.Write([]byte(targetsBody))
		case r.URL.Path == "/api/v1/alerts":
			_, _ = w.Write([]byte(alertsBody))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestAlerts(t *testing.T) {
	as, err := promapi.Alerts(context.Background(), nil, prometheus(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 || as[0].Name != "CircuitBreakerOpen" || as[0].State != "firing" || as[0].Labels["job"] != "order" ||
		!as[0].ActiveAt.Equal(time.Date(2026, 12, 2, 3, 0, 1, 5e8, time.UTC)) {
		t.Errorf("alerts %+v", as)
	}
}

func TestTargets(t *testing.T) {
	srv := prometheus(t)
	ts, err := promapi.Targets(context.Background(), nil, srv.URL+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 4 || ts[2].LastError != "connection refused" {
		t.Fatalf("targets %+v", ts)
	}
	if up := promapi.Up(ts, "payment"); !slices.Equal(up, []string{"127.0.0.1:18084", "127.0.0.1:8084"}) {
		t.Errorf("payment up = %v", up)
	}
	if _, err := promapi.Targets(context.Background(), nil, srv.URL+"/nope"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("a 404: err %v", err)
	}
}
