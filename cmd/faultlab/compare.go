package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/chaos/compare"
	"github.com/faultlab/faultlab/chaos/lab"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/user"
)

// variantFlags collects repeated --variant flags.
type variantFlags []string

func (v *variantFlags) String() string     { return strings.Join(*v, " ") }
func (v *variantFlags) Set(s string) error { *v = append(*v, s); return nil }

// compareArgon2 lowers the password hashing cost of the comparison's labs
// (tests); nil keeps the lab's default.
var compareArgon2 *user.Argon2Params

func runChaosCompare(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("chaos compare", stderr)
	var specs variantFlags
	fs.Var(&specs, "variant", `a policy variant, "upstream:key=value,…" (several upstreams: ";"); repeat for more, e.g. --variant payment:breaker=off`)
	out := fs.String("out", "./reports", "directory for the Markdown and HTML report")
	steady := fs.Duration("steady", 2*time.Second, "length of the steady-state probes before and after; 0: none")
	recovery := fs.Duration("recovery", 0, "pause between the end of the faults' load and the after probe")
	rest, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("chaos compare: want one scenario name or experiment file, then --variant flags")
	}
	sc, err := scenarioArg("chaos compare", "", rest[0], false)
	if err != nil {
		return err
	}
	if len(specs) == 0 {
		return usagef("chaos compare: give at least one --variant, e.g. --variant payment:breaker=off")
	}
	var variants []compare.Variant
	for _, s := range specs {
		v, err := compare.ParseVariant(s, lab.ScenarioPolicy, policyUpstreams)
		if err != nil {
			return usagef("chaos compare: %v", err)
		}
		variants = append(variants, v)
	}
	if *steady <= 0 {
		*steady = -1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("chaos compare: %w", err)
	}
	cmp, err := compare.Compare(ctx, compare.Config{Scenario: sc, Variants: variants, Start: startCompareLab,
		Options: chaos.Options{Progress: stderr, SteadyState: *steady, Recovery: *recovery}, Progress: stderr})
	if err != nil {
		return err
	}
	return writeComparison(stdout, *out, cmp)
}

// compareLab is an in-process lab on ephemeral ports with its own data
// directory, removed when it closes.
type compareLab struct {
	*lab.Lab
	dir string
}

func (l compareLab) Close() error {
	err := l.Lab.Close()
	if rerr := os.RemoveAll(l.dir); err == nil {
		err = rerr
	}
	return err
}

func startCompareLab(ctx context.Context, policies map[string]resilience.Policy) (compare.Lab, error) {
	dir, err := os.MkdirTemp("", "faultlab-compare-")
	if err != nil {
		return nil, err
	}
	l, err := lab.Start(ctx, lab.Config{Ephemeral: true, DataDir: dir, Policies: policies, Default: lab.ScenarioPolicy, Argon2: compareArgon2})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return compareLab{l, dir}, nil
}

func writeComparison(stdout io.Writer, dir string, cmp *compare.Comparison) error {
	base := filepath.Join(dir, fmt.Sprintf("%s-compare-%s", cmp.Scenario.Name, cmp.Started.UTC().Format("20060102T150405Z")))
	md, html := base+".md", base+".html"
	if err := writeFile(md, func(w io.Writer) error { return compare.WriteMarkdown(w, cmp) }); err != nil {
		return err
	}
	if err := writeFile(html, func(w io.Writer) error { return compare.WriteHTML(w, cmp) }); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprint(tw, "VARIANT\tCHECKS\tSUCCESS\tP99\tAMPLIFICATION\tDETECT\tRECOVER\n")
	for _, r := range cmp.Runs {
		s := r.Summary
		fmt.Fprintf(tw, "%s\t%d/%d\t%.1f%%\t%s\t%.2f\t%s\t%s\n", r.Variant.Name, s.Passed, s.Passed+s.Failed, 100*s.SuccessRate,
			s.P99.Round(time.Millisecond), s.Amplification, durationWord(s.TimeToDetect), durationWord(s.TimeToRecover))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(stdout, "report: %s\nreport: %s\n", md, html)
	return err
}

func durationWord(d time.Duration) string {
	if d == compare.Never {
		return "never"
	}
	return d.Round(10 * time.Millisecond).String()
}
