package main

import (
	"flag"
	"strings"

	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/topology"
)

// policyUpstreams are the upstreams whose policy a flag can change.
var policyUpstreams = topology.Callees()

// policyFlag is one --policy-<upstream>: resilience.Policy's text form,
// patched onto a base policy.
type policyFlag struct {
	p   *resilience.Policy
	set bool
}

func (f *policyFlag) String() string {
	if f == nil || f.p == nil {
		return ""
	}
	return f.p.String()
}

func (f *policyFlag) Set(s string) error {
	if err := f.p.UnmarshalText([]byte(s)); err != nil {
		return err
	}
	f.set = true
	return nil
}

// policyFlags registers --policy-<upstream> for every upstream, e.g.
//
//	--policy-payment "attempts=2,attempt-timeout=300ms,breaker-open=3s"
//
// (or FAULTLAB_POLICY_PAYMENT, through envDefaults). The keys patch base;
// the fields still at zero get the per-hop timeouts and then the
// resilience defaults. The returned function gives the policies of the
// flags that were set.
func policyFlags(fs *flag.FlagSet, base resilience.Policy) func() map[string]resilience.Policy {
	flags := map[string]*policyFlag{}
	keys := strings.Join(resilience.PolicyKeys(), ", ")
	for _, up := range policyUpstreams {
		p := base
		f := &policyFlag{p: &p}
		flags[up] = f
		fs.Var(f, "policy-"+up, `resilience policy for calls to `+up+`, "key=value,…" over the default (keys: `+keys+`)`)
	}
	return func() map[string]resilience.Policy {
		out := map[string]resilience.Policy{}
		for up, f := range flags {
			if f.set {
				out[up] = *f.p
			}
		}
		return out
	}
}
