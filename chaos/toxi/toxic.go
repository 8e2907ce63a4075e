package toxi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"
)

// Kind names a network fault.
type Kind string

// The kinds of Toxic. Down is not a Toxiproxy toxic: it disables the proxy,
// so new connections are refused and open ones are dropped.
const (
	Latency   Kind = "latency"    // add LatencyMs ± JitterMs to the stream
	Timeout   Kind = "timeout"    // stop all data; close after TimeoutMs (0 = never)
	Down      Kind = "down"       // disable the proxy: connection refused
	ResetPeer Kind = "reset_peer" // TCP RST after TimeoutMs (0 = at once)
	Slicer    Kind = "slicer"     // cut data into AverageSize±SizeVariation byte pieces, DelayUs apart
	Bandwidth Kind = "bandwidth"  // limit to RateKBps KB/s
	SlowClose Kind = "slow_close" // delay the close of the connection by DelayMs
)

func (k Kind) String() string { return string(k) }

// Streams.
const (
	Downstream = "downstream" // upstream → caller (responses); the default
	Upstream   = "upstream"   // caller → upstream (requests)
)

// ErrToxic is wrapped by every validation error of a Toxic.
var ErrToxic = errors.New("invalid toxic")

// Toxic is one network fault on one hop. It is a plain value, safe to copy
// and to share.
//
// The zero Toxicity means 1 (always), so an omitted "toxicity" means 1; an
// explicit 0 in JSON is an error (remove the toxic instead).
type Toxic struct {
	// Name identifies the toxic on its hop; empty means "<kind>_<stream>".
	Name string `json:"name,omitempty"`
	// Hop is the proxy name, e.g. "order-to-payment".
	Hop string `json:"hop"`
	// Kind is the fault.
	Kind Kind `json:"kind"`
	// Stream is Downstream (default) or Upstream.
	Stream string `json:"stream,omitempty"`
	// Toxicity is the probability in (0, 1] that a connection gets the toxic.
	// Ignored by Down.
	Toxicity float64 `json:"toxicity,omitempty" file:"toxicity,nonzero"`

	LatencyMs     int `json:"latency_ms,omitempty"`     // Latency
	JitterMs      int `json:"jitter_ms,omitempty"`      // Latency
	TimeoutMs     int `json:"timeout_ms,omitempty"`     // Timeout, ResetPeer
	AverageSize   int `json:"average_size,omitempty"`   // Slicer, bytes
	SizeVariation int `json:"size_variation,omitempty"` // Slicer, bytes
	DelayUs       int `json:"delay_us,omitempty"`       // Slicer, µs between pieces
	RateKBps      int `json:"rate_kbps,omitempty"`      // Bandwidth, KB/s
	DelayMs       int `json:"delay_ms,omitempty"`       // SlowClose
}

// UnmarshalJSON decodes strictly: unknown fields and an explicit toxicity
// of 0 are errors.
func (t *Toxic) UnmarshalJSON(b []byte) error {
	type plain Toxic
	var aux struct {
		plain
		Toxicity *float64 `json:"toxicity,omitempty"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&aux); err != nil {
		return err
	}
	*t = Toxic(aux.plain)
	t.Toxicity = 0 // omitted: the zero value, which means 1
	if aux.Toxicity != nil {
		if *aux.Toxicity <= 0 || *aux.Toxicity > 1 {
			return fmt.Errorf("%w: toxicity must be in (0, 1], got %g (omit it for 1)", ErrToxic, *aux.Toxicity)
		}
		t.Toxicity = *aux.Toxicity
	}
	return nil
}

// ToxicName is the name the toxic has on its hop.
func (t Toxic) ToxicName() string {
	if t.Name != "" {
		return t.Name
	}
	return string(t.Kind) + "_" + t.stream()
}

func (t Toxic) stream() string {
	if t.Stream == "" {
		return Downstream
	}
	return t.Stream
}

func (t Toxic) toxicity() float32 {
	if t.Toxicity == 0 {
		return 1
	}
	return float32(t.Toxicity)
}

// String describes the toxic for logs and reports.
func (t Toxic) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s on %s", t.Kind, t.Hop)
	switch t.Kind {
	case Latency:
		fmt.Fprintf(&b, " %dms±%dms", t.LatencyMs, t.JitterMs)
	case Timeout, ResetPeer:
		fmt.Fprintf(&b, " after %dms", t.TimeoutMs)
	case Slicer:
		fmt.Fprintf(&b, " %d±%dB every %dµs", t.AverageSize, t.SizeVariation, t.DelayUs)
	case Bandwidth:
		fmt.Fprintf(&b, " %dKB/s", t.RateKBps)
	case SlowClose:
		fmt.Fprintf(&b, " %dms", t.DelayMs)
	}
	if t.Kind != Down && t.toxicity() < 1 {
		fmt.Fprintf(&b, " toxicity %.2g", t.Toxicity)
	}
	if t.Kind != Down && t.stream() != Downstream {
		b.WriteString(" " + t.stream())
	}
	return b.String()
}

// Validate reports the first problem with t.
func (t Toxic) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrToxic, fmt.Sprintf(format, args...))
	}
	if t.Hop == "" {
		return bad("hop is required")
	}
	if s := t.stream(); s != Downstream && s != Upstream {
		return bad("stream must be %q or %q, got %q", Downstream, Upstream, t.Stream)
	}
	if t.Toxicity < 0 || t.Toxicity > 1 {
		return bad("toxicity must be in (0, 1], got %g", t.Toxicity)
	}
	for name, v := range map[string]int{
		"latency_ms": t.LatencyMs, "jitter_ms": t.JitterMs, "timeout_ms": t.TimeoutMs,
		"average_size": t.AverageSize, "size_variation": t.SizeVariation, "delay_us": t.DelayUs,
		"rate_kbps": t.RateKBps, "delay_ms": t.DelayMs,
	} {
		if v < 0 {
			return bad("%s must not be negative, got %d", name, v)
		}
	}
	switch t.Kind {
	case Latency:
		if t.LatencyMs == 0 {
			return bad("latency needs latency_ms > 0")
		}
	case Timeout, ResetPeer, SlowClose, Down:
	case Slicer:
		if t.AverageSize == 0 {
			return bad("slicer needs average_size > 0")
		}
		if t.SizeVariation >= t.AverageSize {
			return bad("slicer needs size_variation < average_size")
		}
	case Bandwidth:
		if t.RateKBps == 0 {
			return bad("bandwidth needs rate_kbps > 0")
		}
	case "":
		return bad("kind is required")
	default:
		return bad("unknown kind %q (want latency, timeout, down, reset_peer, slicer, bandwidth or slow_close)", t.Kind)
	}
	return nil
}

func (t Toxic) attributes() toxiclient.Attributes {
	switch t.Kind {
	case Latency:
		return toxiclient.Attributes{"latency": t.LatencyMs, "jitter": t.JitterMs}
	case Timeout, ResetPeer:
		return toxiclient.Attributes{"timeout": t.TimeoutMs}
	case Slicer:
		return toxiclient.Attributes{"average_size": t.AverageSize, "size_variation": t.SizeVariation, "delay": t.DelayUs}
	case Bandwidth:
		return toxiclient.Attributes{"rate": t.RateKBps}
	case SlowClose:
		return toxiclient.Attributes{"delay": t.DelayMs}
	}
	return nil
}

// Apply puts t on its hop. The Toxiproxy client takes no context, so ctx is
// only checked before the call.
func Apply(ctx context.Context, c *toxiclient.Client, t Toxic) error {
	if err := t.Validate(); err != nil {
		return err
	}
	return onProxy(ctx, c, t, "apply", (*toxiclient.Proxy).Disable, func(p *toxiclient.Proxy) error {
		_, err := p.AddToxic(t.ToxicName(), string(t.Kind), t.stream(), t.toxicity(), t.attributes())
		return err
	})
}

// Remove takes t off its hop (for Down: enables the proxy again).
func Remove(ctx context.Context, c *toxiclient.Client, t Toxic) error {
	if t.Hop == "" {
		return fmt.Errorf("%w: hop is required", ErrToxic)
	}
	return onProxy(ctx, c, t, "remove", (*toxiclient.Proxy).Enable, func(p *toxiclient.Proxy) error {
		return p.RemoveToxic(t.ToxicName())
	})
}

// onProxy runs down (a Down toxic) or toxic (any other) on t's proxy,
// after checking ctx; an error says verb and t.
func onProxy(ctx context.Context, c *toxiclient.Client, t Toxic, verb string, down, toxic func(*toxiclient.Proxy) error) error {
	err := ctx.Err()
	if err == nil {
		var p *toxiclient.Proxy
		if p, err = c.Proxy(t.Hop); err == nil {
			if t.Kind == Down {
				err = down(p)
			} else {
				err = toxic(p)
			}
		}
	}
	if err != nil {
		return fmt.Errorf("toxi: %s %s: %w", verb, t, err)
	}
	return nil
}

// Reset removes every toxic from every proxy and enables every proxy.
func Reset(ctx context.Context, c *toxiclient.Client) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("toxi: reset: %w", err)
	}
	if err := c.ResetState(); err != nil {
		return fmt.Errorf("toxi: reset: %w", err)
	}
	return nil
}

// Reset removes every toxic and enables every proxy of s.
func (s *Server) Reset(ctx context.Context) error { return Reset(ctx, s.client) }
