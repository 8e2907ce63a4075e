package shop_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/services/user"
	"github.com/faultlab/faultlab/shop"
)

// TestBuild builds every service of the topology in memory: each answers
// its health route, has a resilience client for each of its upstreams and
// a fault injector, and closes. An unknown name is ErrUnknownService.
func TestBuild(t *testing.T) {
	for _, name := range shop.Services {
		t.Run(name, func(t *testing.T) {
			u, err := shop.Build(name, shop.Options{Argon2: &user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := u.Close(); err != nil {
					t.Error(err)
				}
			})
			rec := httptest.NewRecorder()
			u.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, kit.RouteHealthz, nil))
			if rec.Code != http.StatusOK {
				t.Errorf("%s: %d, want 200", kit.RouteHealthz, rec.Code)
			}
			ups := shop.Upstreams[name]
			if len(u.Transports) != len(ups) || u.Faults == nil || u.Registry == nil {
				t.Errorf("transports %v for upstreams %v; faults %v", u.Transports, ups, u.Faults)
			}
		})
	}
	if _, err := shop.Build("review", shop.Options{}); !errors.Is(err, shop.ErrUnknownService) {
		t.Errorf("unknown service: err %v, want ErrUnknownService", err)
	}
}
