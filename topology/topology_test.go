package topology_test

import (
	"slices"
	"testing"

	"github.com/faultlab/faultlab/topology"
)

func TestDefault(t *testing.T) {
	wantPorts := map[string]int{"gateway": 8080, "user": 8081, "product": 8082, "order": 8083, "payment": 8084}
	for name, port := range wantPorts {
		if got := topology.Port(name); got != port {
			t.Errorf("Port(%s) = %d, want %d", name, got, port)
		}
	}
	if got := topology.Names(); len(got) != len(wantPorts) {
		t.Errorf("Names() = %v, want %d services", got, len(wantPorts))
	}
	if got, want := topology.StartOrder(), []string{"user", "product", "payment", "order", "gateway"}; !slices.Equal(got, want) {
		t.Errorf("StartOrder() = %v, want %v", got, want)
	}
	if got, want := topology.DefaultURL("order"), "http://127.0.0.1:8083"; got != want {
		t.Errorf("DefaultURL(order) = %q, want %q", got, want)
	}
	if got := topology.DefaultURL("nope"); got != "" {
		t.Errorf("DefaultURL(nope) = %q, want empty", got)
	}
	if got, want := topology.Callees(), []string{"user", "product", "order", "payment"}; !slices.Equal(got, want) {
		t.Errorf("Callees() = %v, want %v", got, want)
	}
	if got, want := topology.ToxiproxyAddr(), "127.0.0.1:8474"; got != want {
		t.Errorf("ToxiproxyAddr() = %q, want %q", got, want)
	}
}

// TestHops pins today's nine hops and their proxy ports (docs/CONTRACTS.md).
func TestHops(t *testing.T) {
	want := []topology.Hop{
		{"gateway-to-user", "gateway", "user", 21001},
		{"gateway-to-product", "gateway", "product", 21002},
		{"gateway-to-order", "gateway", "order", 21003},
		{"gateway-to-payment", "gateway", "payment", 21004},
		{"product-to-user", "product", "user", 21005},
		{"order-to-user", "order", "user", 21006},
		{"order-to-product", "order", "product", 21007},
		{"order-to-payment", "order", "payment", 21008},
		{"payment-to-user", "payment", "user", 21009},
	}
	if got := topology.Hops(); !slices.Equal(got, want) {
		t.Errorf("Hops() =\n%v\nwant\n%v", got, want)
	}
	if h, ok := topology.HopOf("order", "payment"); !ok || h.Name != "order-to-payment" {
		t.Errorf("HopOf(order, payment) = %v, %v", h, ok)
	}
	if _, ok := topology.HopOf("user", "order"); ok {
		t.Error("HopOf(user, order) found a hop user does not make")
	}
}

// TestSixthService adds a throwaway service to a copy of the topology and
// shows that its hops, proxy ports, start position and default URL follow
// from that one entry, while the existing hops keep their ports.
func TestSixthService(t *testing.T) {
	six, err := topology.Default.With(topology.Service{
		Name: "review", Port: 8085, Upstreams: []string{"user", "product"}, Routes: []string{"/api/v1/reviews"},
	})
	if err != nil {
		t.Fatal(err)
	}
	before := topology.Hops()
	after := six.Hops()
	if !slices.Equal(after[:len(before)], before) {
		t.Errorf("existing hops moved:\n%v\nwant prefix\n%v", after, before)
	}
	wantNew := []topology.Hop{
		{"review-to-user", "review", "user", 21010},
		{"review-to-product", "review", "product", 21011},
	}
	if got := after[len(before):]; !slices.Equal(got, wantNew) {
		t.Errorf("new hops = %v, want %v", got, wantNew)
	}
	if got, want := six.StartOrder(), []string{"user", "product", "payment", "order", "gateway", "review"}; !slices.Equal(got, want) {
		t.Errorf("StartOrder() = %v, want %v", got, want)
	}
	if got, want := six.DefaultURL("review"), "http://127.0.0.1:8085"; got != want {
		t.Errorf("DefaultURL(review) = %q, want %q", got, want)
	}
	if len(topology.Names()) != 5 {
		t.Error("With changed the default topology")
	}
	// A gateway that also calls review gets one more hop, numbered after.
	svcs := six.Services()
	svcs[0].Upstreams = append(svcs[0].Upstreams, "review")
	wired, err := topology.New(svcs)
	if err != nil {
		t.Fatal(err)
	}
	// It takes the gateway's next proxy port and shifts the ones after it
	// (doc.go: the deploy tests then name the files to update).
	if h, ok := wired.Hop("gateway", "review"); !ok || h.Name != "gateway-to-review" || h.Port != 21005 {
		t.Errorf("Hop(gateway, review) = %v, %v; want gateway-to-review on 21005", h, ok)
	}
	if h, _ := wired.Hop("product", "user"); h.Port != 21006 {
		t.Errorf("Hop(product, user).Port = %d, want 21006 (shifted)", h.Port)
	}
	if got, want := wired.StartOrder(), []string{"user", "product", "payment", "order", "review", "gateway"}; !slices.Equal(got, want) {
		t.Errorf("StartOrder() with gateway → review = %v, want %v", got, want)
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name string
		add  topology.Service
	}{
		{"repeated name", topology.Service{Name: "user", Port: 9000}},
		{"taken port", topology.Service{Name: "x", Port: 8081}},
		{"unknown upstream", topology.Service{Name: "x", Port: 9000, Upstreams: []string{"nope"}}},
		{"self call", topology.Service{Name: "x", Port: 9000, Upstreams: []string{"x"}}},
		{"no port", topology.Service{Name: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := topology.Default.With(tt.add); err == nil {
				t.Errorf("With(%+v) = nil error", tt.add)
			}
		})
	}
	t.Run("cycle", func(t *testing.T) {
		_, err := topology.New([]topology.Service{
			{Name: "a", Port: 1, Upstreams: []string{"b"}},
			{Name: "b", Port: 2, Upstreams: []string{"a"}},
		})
		if err == nil {
			t.Error("New accepted a cycle")
		}
	})
}
