package chaos

import "github.com/faultlab/faultlab/topology"

// The lab's hops, named <caller>-to-<callee> after the topology's
// services (topology.Hops lists them with their proxy ports).
const (
	HopGatewayToUser    = topology.Gateway + "-to-" + topology.User
	HopGatewayToProduct = topology.Gateway + "-to-" + topology.Product
	HopGatewayToOrder   = topology.Gateway + "-to-" + topology.Order
	HopGatewayToPayment = topology.Gateway + "-to-" + topology.Payment
	HopProductToUser    = topology.Product + "-to-" + topology.User
	HopOrderToUser      = topology.Order + "-to-" + topology.User
	HopOrderToProduct   = topology.Order + "-to-" + topology.Product
	HopOrderToPayment   = topology.Order + "-to-" + topology.Payment
	HopPaymentToUser    = topology.Payment + "-to-" + topology.User
)

// Catalogue returns the lab's scenarios, the embedded files
// chaos/experiments/*.yaml in name order, each a fresh copy.
func Catalogue() []Scenario { return loadCatalogue() }

// CompoundFaults is issue 10's combination of faults on three hops at
// once (chaos/experiments/compound-faults.yaml).
func CompoundFaults() Scenario {
	sc, _ := Lookup("compound-faults")
	return sc
}

// Lookup returns the catalogue scenario called name (the file
// chaos/experiments/<name>.yaml).
func Lookup(name string) (Scenario, bool) {
	b, ok := ExperimentFile(name)
	if !ok {
		return Scenario{}, false
	}
	sc, err := DecodeExperiment(name+".yaml", b)
	return sc, err == nil && sc.Name == name
}
