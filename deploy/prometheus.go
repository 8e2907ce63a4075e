package deploy

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"

	"gopkg.in/yaml.v3"
)

// promConfig is the part of a Prometheus config the checks read.
type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		StaticConfigs []struct {
			Targets []string `yaml:"targets"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// CheckPrometheus checks the scrape jobs of the Prometheus config at path
// against the contracts: one job per service, named after it, scraping
// exactly host(replica):port for each of its replicas (Contracts.Instances,
// in order). Jobs for anything else are left alone.
func CheckPrometheus(path string, c Contracts, host func(service string) string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read prometheus config: %w", err)
	}
	var cfg promConfig
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("parse prometheus config %s: %w", path, err)
	}
	jobs := map[string][]string{}
	var errs []error
	for _, sc := range cfg.ScrapeConfigs {
		if _, dup := jobs[sc.JobName]; dup {
			errs = append(errs, fmt.Errorf("%s: job %s declared twice", path, sc.JobName))
		}
		jobs[sc.JobName] = []string{}
		for _, st := range sc.StaticConfigs {
			jobs[sc.JobName] = append(jobs[sc.JobName], st.Targets...)
		}
	}
	for _, name := range sortedKeys(c.Ports) {
		targets, ok := jobs[name]
		var want []string
		for _, inst := range c.Instances(name) {
			want = append(want, host(inst)+":"+strconv.Itoa(c.Ports[name]))
		}
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: no scrape job for service %s", path, name))
		case !slices.Equal(targets, want):
			errs = append(errs, fmt.Errorf("%s: job %s scrapes %v, want %v", path, name, targets, want))
		}
	}
	return errors.Join(errs...)
}
