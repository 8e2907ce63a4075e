package chaos

import (
	"slices"
	"testing"

	"github.com/faultlab/faultlab/topology"
)

// TestHopsFollowTopology checks that every hop and service the catalogue
// names is one of the topology's, so a renamed or removed hop fails here.
func TestHopsFollowTopology(t *testing.T) {
	var hops []string
	for _, h := range topology.Hops() {
		hops = append(hops, h.Name)
	}
	for _, name := range []string{HopGatewayToUser, HopGatewayToProduct, HopGatewayToOrder, HopGatewayToPayment,
		HopProductToUser, HopOrderToUser, HopOrderToProduct, HopOrderToPayment, HopPaymentToUser} {
		if !slices.Contains(hops, name) {
			t.Errorf("hop constant %q is not a topology hop (%v)", name, hops)
		}
	}
	scenarios := append(Catalogue(), CompoundFaults())
	for _, sc := range scenarios {
		for _, st := range sc.Faults {
			f := st.Fault
			if hop := f.ToxicFault().Hop; hop != "" && !slices.Contains(hops, hop) {
				t.Errorf("scenario %s step %s: hop %q is not a topology hop", sc.Name, st.Name, hop)
			}
			if f.Service != "" && topology.Port(f.Service) == 0 {
				t.Errorf("scenario %s step %s: service %q is not a topology service", sc.Name, st.Name, f.Service)
			}
		}
	}
}
