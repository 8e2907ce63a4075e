package k8s

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// ruleFile is a Prometheus rule file, decoded strictly so that a key the
// generator does not know fails instead of being dropped.
type ruleFile struct {
	Groups []ruleGroup `yaml:"groups"`
}

type ruleGroup struct {
	Name     string `yaml:"name"`
	Interval string `yaml:"interval,omitempty"`
	Rules    []rule `yaml:"rules"`
}

type rule struct {
	Record        string            `yaml:"record,omitempty"`
	Alert         string            `yaml:"alert,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

// promRule is the PrometheusRule object (monitoring.coreos.com/v1).
type promRule struct {
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name   string            `yaml:"name"`
		Labels map[string]string `yaml:"labels"`
	} `yaml:"metadata"`
	Spec ruleFile `yaml:"spec"`
}

// PrometheusRule reads every *.yml rule file in dir, in name order, and
// returns one PrometheusRule named name holding all their groups, as YAML
// with a header that says where it comes from.
func PrometheusRule(dir, name string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		return nil, fmt.Errorf("rule files: %w", err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("rule files: none in %s", dir)
	}
	slices.Sort(files)
	var out promRule
	out.APIVersion, out.Kind = "monitoring.coreos.com/v1", "PrometheusRule"
	out.Metadata.Name = name
	out.Metadata.Labels = map[string]string{"release": "prometheus"}
	var sources []string
	for _, f := range files {
		groups, err := readRuleFile(f)
		if err != nil {
			return nil, err
		}
		out.Spec.Groups = append(out.Spec.Groups, groups...)
		sources = append(sources, filepath.Base(f))
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Generated from observability/prometheus/rules/{%s}, the rules that\n", strings.Join(sources, ","))
	buf.WriteString("# promtool tests. Do not edit: change the rule files, then\n")
	buf.WriteString("#   go test ./deploy/k8s -run TestPrometheusRuleDrift -update\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("encode PrometheusRule: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode PrometheusRule: %w", err)
	}
	return buf.Bytes(), nil
}

func readRuleFile(path string) ([]ruleGroup, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("rule file: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		return nil, fmt.Errorf("rule file %s: %w", path, err)
	}
	for _, g := range rf.Groups {
		for i, r := range g.Rules {
			if (r.Record == "") == (r.Alert == "") || r.Expr == "" {
				return nil, fmt.Errorf("rule file %s: group %s rule %d: want exactly one of record and alert, and an expr", path, g.Name, i)
			}
		}
	}
	return rf.Groups, nil
}
