package chaos_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/history"
)

// TestWorkload: the one workload builder orders the most stocked product,
// or with Spread every product in stock in turn; it sends the token and
// the Idempotency-Key that Key makes, and records orders when it has a
// Recorder. A call it does not know, or a login without Credentials, is an
// error.
func TestWorkload(t *testing.T) {
	var mu sync.Mutex
	ordered := map[string]int{}
	var keys []string
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == chaos.DefaultRoutes.Products:
			_, _ = io.WriteString(w, `{"items":[{"id":"a","stock":5},{"id":"b","stock":50},{"id":"c","stock":0},{"id":"d","stock":7}]}`)
		case r.Method == http.MethodPost && r.URL.Path == chaos.DefaultRoutes.Orders:
			var body struct {
				Items []struct {
					ProductID string `json:"product_id"`
				} `json:"items"`
			}
			_ = json.NewDecoder(r.Body).Decode(&body)
			mu.Lock()
			ordered[body.Items[0].ProductID]++
			keys = append(keys, r.Header.Get("Idempotency-Key"))
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"id":"o1","status":"confirmed"}`)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(gw.Close)
	ctx := context.Background()

	for _, tt := range []struct {
		spread bool
		want   map[string]int
	}{
		{false, map[string]int{"b": 6}},
		{true, map[string]int{"a": 2, "b": 2, "d": 2}},
	} {
		clear(ordered)
		keys = nil
		rec := &history.Recorder{}
		n := 0
		w := &chaos.Workload{Gateway: gw.URL + "/", Token: "tok", Spread: tt.spread, Recorder: rec,
			Key: func() string { n++; return "k" + strings.Repeat("x", n) }}
		if err := w.Setup(ctx, gw.Client(), false); err != nil {
			t.Fatal(err)
		}
		calls, err := w.Calls([]chaos.MixEntry{{Call: chaos.CallCreateOrder, Weight: 1}})
		if err != nil {
			t.Fatal(err)
		}
		for range 6 {
			req, err := calls[0].Build(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if status, err := calls[0].Do(ctx, gw.Client(), req); err != nil || status != http.StatusCreated {
				t.Fatalf("create_order: %d %v", status, err)
			}
		}
		if len(ordered) != len(tt.want) || len(rec.Ops()) != 6 || keys[0] != "kx" || keys[5] != "kxxxxxx" {
			t.Errorf("spread %v: ordered %v, want %v; %d ops recorded, keys %v", tt.spread, ordered, tt.want, len(rec.Ops()), keys)
		}
		for id, c := range tt.want {
			if ordered[id] != c {
				t.Errorf("spread %v: ordered %v, want %v", tt.spread, ordered, tt.want)
			}
		}
	}

	w := &chaos.Workload{Gateway: gw.URL, Token: "tok"}
	for _, m := range []chaos.MixEntry{{Call: "dance", Weight: 1}, {Call: chaos.CallLogin, Weight: 1}} {
		if _, err := w.Calls([]chaos.MixEntry{m}); !errors.Is(err, chaos.ErrScenario) {
			t.Errorf("%s: err %v, want ErrScenario", m.Call, err)
		}
	}
}
