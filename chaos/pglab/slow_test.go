package pglab_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/chaos/lab/labtest"
	"github.com/faultlab/faultlab/chaos/toxi"
	"github.com/faultlab/faultlab/internal/store/pgtest"
)

// TestDatabaseSlow puts a Toxiproxy hop between the services and
// PostgreSQL and slows it by 1.5 s a round trip: every order answered
// meanwhile is a 201 or a 503 with Retry-After (never a 500); once the hop
// is fast again the same keys place their orders, charged once each, and
// the stock split is whole.
func TestDatabaseSlow(t *testing.T) {
	ctx := t.Context()
	srv := pgtest.Shared(t)
	tp, err := toxi.Start(ctx, toxi.Config{APIAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	hops, err := tp.CreateHops([]toxi.Hop{{Name: "services-to-postgres", Listen: "127.0.0.1:0", Upstream: fmt.Sprint("127.0.0.1:", srv.Port)}})
	if err != nil {
		t.Fatal(err)
	}
	db, err := srv.NewDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db = strings.Replace(db, fmt.Sprint("127.0.0.1:", srv.Port), hops[0].Listen, 1)
	l := labtest.Start(t, lab.Config{DatabaseURL: db})
	tok := labtest.Token(t, l)
	if status, _, _ := labtest.Order(t, l, tok, "before"); status != http.StatusCreated {
		t.Fatalf("order before the slowdown: %d", status)
	}
	slow := toxi.Toxic{Hop: "services-to-postgres", Kind: toxi.Latency, LatencyMs: 1500}
	if err := toxi.Apply(ctx, tp.Client(), slow); err != nil {
		t.Fatal(err)
	}
	keys := []string{"slow-1", "slow-2", "slow-3"}
	for _, key := range keys {
		status, _, retry := labtest.Order(t, l, tok, key)
		t.Logf("order %s while the database is slow: %d, Retry-After %q", key, status, retry)
		if status != http.StatusCreated && (status != http.StatusServiceUnavailable || retry == "") {
			t.Fatalf("order %s while the database is slow: %d, Retry-After %q; want 201, or 503 with Retry-After", key, status, retry)
		}
	}
	if err := toxi.Remove(ctx, tp.Client(), slow); err != nil {
		t.Fatal(err)
	}
	placeAll(t, l, tok, keys, 60*time.Second, "the slowdown")
	settled(t, l, 4, "the slowdown")
}
