package deploy

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// Project is the part of a Compose project the checks read.
type Project struct {
	Services map[string]Service `yaml:"services"`
	Networks map[string]Network `yaml:"networks"`
}

// Service is one Compose service. Fields accept both the short and the long
// Compose syntaxes, so the files and `docker-compose config` output both load.
type Service struct {
	Image       string       `yaml:"image"`
	Command     StringList   `yaml:"command"`
	Environment Env          `yaml:"environment"`
	Ports       []Port       `yaml:"ports"`
	Networks    NetworkRefs  `yaml:"networks"`
	Healthcheck *Healthcheck `yaml:"healthcheck"`
	DependsOn   DependsOn    `yaml:"depends_on"`
	Profiles    []string     `yaml:"profiles"`
	Volumes     []Mount      `yaml:"volumes"`
}

// Mount is one volume of a service: a named volume or a host path (Source)
// mounted at Target.
type Mount struct {
	Source string
	Target string
}

// UnmarshalYAML implements yaml.Unmarshaler for the short ("src:dst:ro") and
// the long ({source, target}) syntaxes.
func (m *Mount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		if len(parts) == 1 {
			*m = Mount{Target: parts[0]}
		} else {
			*m = Mount{Source: parts[0], Target: parts[1]}
		}
		return nil
	}
	var l struct {
		Source string `yaml:"source"`
		Target string `yaml:"target"`
	}
	if err := n.Decode(&l); err != nil {
		return fmt.Errorf("volumes: %w", err)
	}
	*m = Mount{Source: l.Source, Target: l.Target}
	return nil
}

// Network is a Compose network.
type Network struct {
	Internal bool `yaml:"internal"`
}

// Healthcheck is a service's healthcheck.
type Healthcheck struct {
	Test    StringList `yaml:"test"`
	Disable bool       `yaml:"disable"`
}

// StringList is a command or test: a YAML list, or a string (split on spaces).
type StringList []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (s *StringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = strings.Fields(n.Value)
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return fmt.Errorf("command: %w", err)
	}
	*s = l
	return nil
}

// Env is a service's environment: a map, or a list of KEY=VALUE.
type Env map[string]string

// UnmarshalYAML implements yaml.Unmarshaler.
func (e *Env) UnmarshalYAML(n *yaml.Node) error {
	out, err := listOrMap(n, "environment", func(kv string) (string, string) {
		k, v, _ := strings.Cut(kv, "=")
		return k, v
	}, func(v *string) string {
		if v == nil {
			return ""
		}
		return *v
	})
	if err != nil {
		return err
	}
	*e = out
	return nil
}

// listOrMap decodes n, which Compose allows to be a list or a map, into a
// map: a list item through item, a map entry's value through value. An
// error names what.
func listOrMap[V any](n *yaml.Node, what string, item func(string) (k, v string), value func(V) string) (map[string]string, error) {
	out := map[string]string{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		for _, s := range l {
			k, v := item(s)
			out[k] = v
		}
		return out, nil
	}
	var m map[string]V
	if err := n.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	for k, v := range m {
		out[k] = value(v)
	}
	return out, nil
}

// NetworkRefs are the networks a service joins: a list, or a map by name.
type NetworkRefs []string

// UnmarshalYAML implements yaml.Unmarshaler.
func (r *NetworkRefs) UnmarshalYAML(n *yaml.Node) error {
	m, err := listOrMap(n, "networks", func(s string) (string, string) { return s, "" }, func(any) string { return "" })
	if err != nil {
		return err
	}
	*r = slices.Sorted(maps.Keys(m))
	return nil
}

// DependsOn maps each dependency to its condition (service_started when a
// list is used, as in Compose).
type DependsOn map[string]string

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *DependsOn) UnmarshalYAML(n *yaml.Node) error {
	const started = "service_started"
	out, err := listOrMap(n, "depends_on", func(s string) (string, string) { return s, started }, func(v struct {
		Condition string `yaml:"condition"`
	}) string {
		return cmp.Or(v.Condition, started)
	})
	if err != nil {
		return err
	}
	*d = out
	return nil
}

// Port is one published port. HostIP is empty when it binds every interface.
type Port struct {
	HostIP    string
	Published string
	Target    string
}

// String renders the short syntax, e.g. 127.0.0.1:8080:8080.
func (p Port) String() string {
	if p.HostIP == "" {
		return p.Published + ":" + p.Target
	}
	return p.HostIP + ":" + p.Published + ":" + p.Target
}

// UnmarshalYAML implements yaml.Unmarshaler for the short ("127.0.0.1:80:80/tcp")
// and the long ({host_ip, published, target}) syntaxes.
func (p *Port) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s, _, _ := strings.Cut(n.Value, "/")
		parts := strings.Split(s, ":")
		switch len(parts) {
		case 1:
			*p = Port{Target: parts[0]}
		case 2:
			*p = Port{Published: parts[0], Target: parts[1]}
		default:
			*p = Port{
				HostIP:    strings.Join(parts[:len(parts)-2], ":"),
				Published: parts[len(parts)-2],
				Target:    parts[len(parts)-1],
			}
		}
		return nil
	}
	var l struct {
		HostIP    string `yaml:"host_ip"`
		Published string `yaml:"published"`
		Target    string `yaml:"target"`
	}
	if err := n.Decode(&l); err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	*p = Port{HostIP: l.HostIP, Published: l.Published, Target: l.Target}
	return nil
}

// Load reads Compose files the way `docker-compose -f a -f b` does: each is
// interpolated with env (unset variables take their ${VAR:-default}), then
// later files are merged over earlier ones.
func Load(env map[string]string, paths ...string) (*Project, error) {
	var p *Project
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("load compose file: %w", err)
		}
		q, err := Parse(Interpolate(b, env))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if p == nil {
			p = q
		} else {
			p.merge(q)
		}
	}
	if p == nil {
		return nil, errors.New("load compose: no files")
	}
	return p, nil
}

// Parse decodes one Compose document that needs no interpolation, such as
// the output of `docker-compose config`.
func Parse(b []byte) (*Project, error) {
	var p Project
	if err := yaml.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("parse compose: %w", err)
	}
	if len(p.Services) == 0 {
		return nil, errors.New("parse compose: no services")
	}
	if p.Networks == nil {
		p.Networks = map[string]Network{}
	}
	return &p, nil
}

var varRE = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}`)

// Interpolate substitutes ${VAR}, ${VAR:-default} and ${VAR-default} from
// env, and $$ with $, as Compose does.
func Interpolate(b []byte, env map[string]string) []byte {
	return varRE.ReplaceAllFunc(b, func(m []byte) []byte {
		if string(m) == "$$" {
			return []byte("$")
		}
		sm := varRE.FindSubmatch(m)
		name, op, def := string(sm[1]), string(sm[2]), string(sm[3])
		v, set := env[name]
		switch {
		case op == ":-" && v == "", op == "-" && !set:
			return []byte(def)
		}
		return []byte(v)
	})
}

// merge applies an overlay as Compose does: scalars and lists that replace,
// maps, ports and volumes (by target) that merge.
func (p *Project) merge(o *Project) {
	for name, n := range o.Networks {
		p.Networks[name] = n
	}
	for name, s := range o.Services {
		b, ok := p.Services[name]
		if !ok {
			p.Services[name] = s
			continue
		}
		if s.Image != "" {
			b.Image = s.Image
		}
		if s.Command != nil {
			b.Command = s.Command
		}
		if s.Healthcheck != nil {
			b.Healthcheck = s.Healthcheck
		}
		if s.Profiles != nil {
			b.Profiles = s.Profiles
		}
		if s.Environment != nil {
			b.Environment = mergeMap(b.Environment, s.Environment)
		}
		if s.DependsOn != nil {
			b.DependsOn = mergeMap(b.DependsOn, s.DependsOn)
		}
		for _, n := range s.Networks {
			if !slices.Contains(b.Networks, n) {
				b.Networks = append(b.Networks, n)
			}
		}
		slices.Sort(b.Networks)
		for _, m := range s.Volumes {
			i := slices.IndexFunc(b.Volumes, func(v Mount) bool { return v.Target == m.Target })
			if i >= 0 {
				b.Volumes[i] = m
			} else {
				b.Volumes = append(b.Volumes, m)
			}
		}
		for _, port := range s.Ports {
			if !slices.Contains(b.Ports, port) {
				b.Ports = append(b.Ports, port)
			}
		}
		p.Services[name] = b
	}
}

func mergeMap[M ~map[string]string](a, b M) M {
	out := M{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
