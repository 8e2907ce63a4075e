package order

import (
	"testing"

	"github.com/faultlab/faultlab/topology"
)

// TestDefaultsFollowTopology checks order's public prefix against the
// topology (the default upstream URLs are the frame's, from the topology).
func TestDefaultsFollowTopology(t *testing.T) {
	for _, tt := range []struct{ name, got, want string }{
		{"PublicPrefix", PublicPrefix, topology.RouteOrders},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q (topology)", tt.name, tt.got, tt.want)
			}
		})
	}
}
