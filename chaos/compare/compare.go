package compare

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// ErrVariant is wrapped by every error of ParseVariant.
var ErrVariant = errors.New("invalid variant")

// DefaultName is the name of the variant that changes no policy.
const DefaultName = "default"

// Variant is one set of policies to compare.
type Variant struct {
	// Name labels the variant in reports: DefaultName or its spec.
	Name string
	// Policies are the changed policies by upstream; empty: the lab's own.
	Policies map[string]resilience.Policy
}

// ParseVariant reads "upstream:key=value,…", several upstreams separated
// by ";" (e.g. "payment:breaker=off;product:attempts=1"). Each upstream's
// text patches base (resilience.Policy's text form); upstreams lists the
// ones a variant may name.
func ParseVariant(spec string, base resilience.Policy, upstreams []string) (Variant, error) {
	v := Variant{Name: spec, Policies: map[string]resilience.Policy{}}
	for part := range strings.SplitSeq(spec, ";") {
		up, text, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || up == "" || text == "" {
			return Variant{}, fmt.Errorf("%w %q: want upstream:key=value,… (e.g. payment:breaker=off)", ErrVariant, spec)
		}
		if !slices.Contains(upstreams, up) {
			return Variant{}, fmt.Errorf("%w %q: unknown upstream %q (want one of %s)", ErrVariant, spec, up, strings.Join(upstreams, ", "))
		}
		if _, dup := v.Policies[up]; dup {
			return Variant{}, fmt.Errorf("%w %q: %s named twice", ErrVariant, spec, up)
		}
		p := base
		if err := p.UnmarshalText([]byte(text)); err != nil {
			return Variant{}, fmt.Errorf("%w %q: %w", ErrVariant, spec, err)
		}
		v.Policies[up] = p
	}
	return v, nil
}

// Lab is a running lab that a variant's run uses once.
type Lab interface {
	chaos.Env
	Close() error
}

// Config configures Compare.
type Config struct {
	// Scenario is run once per variant.
	Scenario chaos.Scenario
	// Variants are run in order after the default one, which Compare adds.
	Variants []Variant
	// Start starts a fresh lab with policies (by upstream; empty for the
	// default variant).
	Start func(ctx context.Context, policies map[string]resilience.Policy) (Lab, error)
	// Options are passed to every chaos.Run.
	Options chaos.Options
	// Progress receives one line per variant; nil: none.
	Progress io.Writer
}

// Run is one variant's run.
type Run struct {
	Variant Variant       `json:"variant"`
	Result  *chaos.Result `json:"result"`
	Summary Summary       `json:"summary"`
}

// Comparison is the runs of one scenario under every variant.
type Comparison struct {
	Scenario chaos.Scenario `json:"scenario"`
	Started  time.Time      `json:"started"`
	// Upstreams are the ones the variants change: amplification and time
	// to detect are measured on them.
	Upstreams []string `json:"upstreams"`
	Runs      []Run    `json:"runs"`
}

// Compare runs cfg.Scenario under the default policies, then under each
// variant, against a fresh lab each. It stops at the first run that cannot
// start or fails outright (not at failing verdicts: those are the point).
func Compare(ctx context.Context, cfg Config) (*Comparison, error) {
	if cfg.Start == nil {
		return nil, errors.New("compare: Config.Start is required")
	}
	if err := cfg.Scenario.Validate(); err != nil {
		return nil, fmt.Errorf("compare: %w", err)
	}
	variants := append([]Variant{{Name: DefaultName}}, cfg.Variants...)
	cmp := &Comparison{Scenario: cfg.Scenario, Started: time.Now(), Upstreams: focus(cfg.Variants)}
	for i, v := range variants {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "compare: %s under %s (%d of %d)\n", cfg.Scenario.Name, v.Name, i+1, len(variants))
		}
		run, err := runOne(ctx, cfg, v, cmp.Upstreams)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %w", v.Name, err)
		}
		cmp.Runs = append(cmp.Runs, run)
	}
	return cmp, nil
}

func runOne(ctx context.Context, cfg Config, v Variant, upstreams []string) (_ Run, err error) {
	l, err := cfg.Start(ctx, v.Policies)
	if err != nil {
		return Run{}, fmt.Errorf("start lab: %w", err)
	}
	defer func() {
		if cerr := l.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stop lab: %w", cerr)
		}
	}()
	before := snapshot(ctx, l, upstreams)
	res, err := chaos.Run(ctx, l, cfg.Scenario, cfg.Options)
	if err != nil {
		return Run{}, err
	}
	after := snapshot(ctx, l, upstreams)
	return Run{Variant: v, Result: res, Summary: summarize(res, upstreams, before, after)}, nil
}

// focus is the upstreams the variants change, sorted; every upstream when
// they change none.
func focus(vs []Variant) []string {
	var ups []string
	for _, v := range vs {
		for up := range v.Policies {
			if !slices.Contains(ups, up) {
				ups = append(ups, up)
			}
		}
	}
	if len(ups) == 0 {
		ups = topology.Callees()
	}
	slices.Sort(ups)
	return ups
}

// calls counts the attempts and logical calls to one upstream.
type calls struct{ attempts, requests float64 }

// snapshot reads each caller's client counters for upstreams; a caller
// whose metrics cannot be read is left out.
func snapshot(ctx context.Context, env chaos.Env, upstreams []string) map[string]calls {
	out := map[string]calls{}
	for _, h := range topology.Hops() {
		if !slices.Contains(upstreams, h.Callee) {
			continue
		}
		m, err := env.Metrics(ctx, h.Caller)
		if err != nil {
			continue
		}
		labels := map[string]string{"name": h.Callee}
		out[h.Caller+"→"+h.Callee] = calls{
			attempts: m.CounterSum("faultlab_client_attempts_total", labels),
			requests: m.CounterSum("faultlab_client_requests_total", labels),
		}
	}
	return out
}
