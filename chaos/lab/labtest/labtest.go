package labtest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
)

// Argon2 is the password hashing a test lab uses: the cheapest the user
// service accepts, so that logins cost microseconds.
var Argon2 = user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

// Start starts a lab with cfg for tb and closes it when tb ends. The lab
// is ephemeral, in a fresh temporary data directory unless cfg names one,
// hashes with Argon2, and its default policy is lab.ScenarioPolicy unless
// cfg sets one.
func Start(tb testing.TB, cfg lab.Config) *lab.Lab {
	tb.Helper()
	cfg.Ephemeral = true
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	argon := Argon2
	cfg.Argon2 = &argon
	if cfg.Default == (resilience.Policy{}) {
		cfg.Default = lab.ScenarioPolicy
	}
	l, err := lab.Start(context.Background(), cfg)
	if err != nil {
		tb.Fatalf("start lab: %v", err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	return l
}

// Order places an order of one prd_001 through l's gateway as the user of
// tok, with Idempotency-Key key, and returns the answer's status, the
// order's id ("" when the answer has none) and its Retry-After header.
func Order(tb testing.TB, l *lab.Lab, tok, key string) (status int, id, retryAfter string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, l.GatewayURL()+"/api/v1/orders",
		strings.NewReader(`{"items":[{"product_id":"prd_001","quantity":1}]}`))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := l.HTTPClient().Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var o struct{ ID string }
	_ = json.NewDecoder(resp.Body).Decode(&o) // an error answer has no id
	return resp.StatusCode, o.ID, resp.Header.Get("Retry-After")
}

// Token logs in to l as the demo customer and returns the bearer token.
func Token(tb testing.TB, l *lab.Lab) string {
	tb.Helper()
	tok, err := l.Token(context.Background())
	if err != nil {
		tb.Fatalf("token: %v", err)
	}
	return tok
}
