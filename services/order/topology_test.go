package order

import (
	"testing"

	"github.com/faultlab/faultlab/topology"
)

// TestDefaultsFollowTopology checks order's default upstream URLs and its
// public prefix against the topology (they stay constants in order.go).
func TestDefaultsFollowTopology(t *testing.T) {
	for _, tt := range []struct{ name, got, want string }{
		{"DefaultUserURL", DefaultUserURL, topology.DefaultURL(topology.User)},
		{"DefaultProductURL", DefaultProductURL, topology.DefaultURL(topology.Product)},
		{"DefaultPaymentURL", DefaultPaymentURL, topology.DefaultURL(topology.Payment)},
		{"PublicPrefix", PublicPrefix, topology.RouteOrders},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q (topology)", tt.name, tt.got, tt.want)
			}
		})
	}
}
