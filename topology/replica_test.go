package topology_test

import (
	"strings"
	"testing"

	"github.com/faultlab/faultlab/topology"
)

func TestReplicaNames(t *testing.T) {
	if got := topology.ReplicaHopName("order", "payment", 1, 1); got != "order-to-payment" {
		t.Errorf("one replica: %q, want order-to-payment", got)
	}
	if got := topology.ReplicaHopName("order", "payment", 3, 3); got != "order-to-payment-3" {
		t.Errorf("third of three: %q, want order-to-payment-3", got)
	}
	h, _ := topology.HopOf("order", "payment")
	if got := topology.ReplicaPort(h.Port, 3); got != h.Port+20000 {
		t.Errorf("ReplicaPort(%d, 3) = %d", h.Port, got)
	}
	svc, n, err := topology.ParseReplica("payment-2")
	if err != nil || svc != "payment" || n != 2 {
		t.Errorf("ParseReplica(payment-2) = %q %d %v", svc, n, err)
	}
}

func TestParseReplicas(t *testing.T) {
	got, err := topology.ParseReplicas("product=2, order=2,payment=3")
	if err != nil || got["product"] != 2 || got["order"] != 2 || got["payment"] != 3 || len(got) != 3 {
		t.Fatalf("ParseReplicas = %v, %v", got, err)
	}
	if got, err := topology.ParseReplicas(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v, %v", got, err)
	}
	for in, want := range map[string]string{
		"payment":         "want service=count",
		"gateway=2":       "not one of",
		"payment=0":       "must be 1 to",
		"payment=x":       "must be 1 to",
		"payment=9":       "must be 1 to",
		"order=2,order=3": "given twice",
	} {
		if _, err := topology.ParseReplicas(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseReplicas(%q) = %v, want an error with %q", in, err, want)
		}
	}
	for _, in := range []string{"payment", "payment-0", "gateway-1", "payment-x"} {
		if _, _, err := topology.ParseReplica(in); err == nil {
			t.Errorf("ParseReplica(%q): no error", in)
		}
	}
}
