package chaos_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/chaos"
)

// The typed kinds keep the wire strings of the untyped ones: scenario and
// experiment JSON written before them reads the same and is written the same.
func TestKindsKeepTheirWireStrings(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"check kind", chaos.Check{Kind: chaos.CheckBreakerOpens}, `{"kind":"breaker_opens"`},
		{"history check", chaos.Check{Kind: chaos.CheckHistory}, `{"kind":"history"`},
		{"toxic fault", chaos.FaultSpec{Kind: chaos.FaultToxic, Hop: "order-to-payment"}, `{"kind":"toxic","hop":"order-to-payment"`},
		{"http fault", chaos.FaultSpec{Kind: chaos.FaultHTTP, Service: "payment"}, `{"kind":"http","service":"payment"`},
		{"abuse fault", chaos.FaultSpec{Kind: chaos.FaultAbuse}, `{"kind":"abuse"`},
		{"breaker sample", chaos.BreakerSample{At: time.Second, Breaker: "order→payment", State: chaos.BreakerHalfOpen}, `{"at":1000000000,"breaker":"order→payment","state":"half_open"}`},
		{"timeline point", chaos.Point{Breakers: map[string]chaos.BreakerState{"order→payment": chaos.BreakerOpen}}, `"breakers":{"order→payment":"open"}`},
		{"verdict", chaos.Verdict{Kind: chaos.CheckAlertFires}, `"kind":"alert_fires"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Fatalf("JSON %s, want it to contain %s", b, tt.want)
			}
		})
	}

	var got struct {
		C chaos.Check         `json:"c"`
		F chaos.FaultSpec     `json:"f"`
		B chaos.BreakerSample `json:"b"`
	}
	in := `{"c":{"kind":"status_seen"},"f":{"kind":"http"},"b":{"state":"unknown"}}`
	if err := json.Unmarshal([]byte(in), &got); err != nil {
		t.Fatal(err)
	}
	if got.C.Kind != chaos.CheckStatusSeen || got.F.Kind != chaos.FaultHTTP || got.B.State != chaos.BreakerUnknown {
		t.Fatalf("decoded %+v", got)
	}
	if s := chaos.CheckLatency.String() + " " + chaos.FaultToxic.String() + " " + chaos.BreakerClosed.String(); s != "latency toxic closed" {
		t.Fatalf("String() = %q", s)
	}
}
