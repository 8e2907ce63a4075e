package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/faultlab/faultlab/topology"
)

// Contracts are the names docs/CONTRACTS.md fixes for the deployment.
type Contracts struct {
	// Ports is each service's port, e.g. "user" → 8081.
	Ports map[string]int
	// Hops are the Toxiproxy proxies, one per caller → callee hop.
	Hops []Hop
	// InternalHeaders are the names of the "Internal headers" table, in
	// order: the headers only the lab sets.
	InternalHeaders []string
	// Replicas is how many replicas of a service docker-compose.yml runs
	// (the "Replicas" table); a service not in it runs one.
	Replicas map[string]int
}

// Instances returns the Compose service names of name's replicas: name
// itself for one replica, <name>-1 … <name>-<n> (topology.ReplicaName) for
// more.
func (c Contracts) Instances(name string) []string {
	n := c.Replicas[name]
	if n <= 1 {
		return []string{name}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = topology.ReplicaName(name, i+1)
	}
	return out
}

// Hop is one caller → callee edge with its own Toxiproxy proxy.
type Hop struct {
	Name   string // <caller>-to-<callee>
	Caller string
	Callee string
	Port   int // the proxy's listen port
}

// Services are the lab services, in dependency order (topology).
var Services = topology.StartOrder()

var (
	portRowRE = regexp.MustCompile(`^\|\s*(` + namesRE(topology.Names()) + `)\s*\|\s*[0-9.]+:(\d+)\b`)
	hopRowRE  = regexp.MustCompile(`^\|\s*(([a-z]+)-to-([a-z]+))\s*\|\s*[0-9.]+:(\d+)\s*\|\s*([a-z]+)\b`)
	headerRE  = regexp.MustCompile("^\\|\\s*`([A-Za-z0-9-]+)`\\s*\\|")
	replicaRE = regexp.MustCompile(`^\|\s*(` + namesRE(topology.Names()) + `)\s*\|\s*(\d+)\s*\|`)
)

// namesRE is an alternation of the quoted names.
func namesRE(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = regexp.QuoteMeta(n)
	}
	return strings.Join(q, "|")
}

// FromTopology returns the contracts that t implies: each service's port and
// one hop per caller → callee with its proxy port. InternalHeaders stay
// empty (they are not topology).
func FromTopology(t *topology.Topology) Contracts {
	c := Contracts{Ports: map[string]int{}}
	for _, s := range t.Services() {
		c.Ports[s.Name] = s.Port
	}
	for _, h := range t.Hops() {
		c.Hops = append(c.Hops, Hop{Name: h.Name, Caller: h.Caller, Callee: h.Callee, Port: h.Port})
	}
	return c
}

// ParseContracts reads the port, hop and replica tables of
// docs/CONTRACTS.md.
func ParseContracts(path string) (Contracts, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Contracts{}, fmt.Errorf("read contracts: %w", err)
	}
	c := Contracts{Ports: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	section := ""
	for sc.Scan() {
		line := sc.Text()
		if h, ok := strings.CutPrefix(line, "## "); ok {
			section = h
		}
		if m := headerRE.FindStringSubmatch(line); m != nil && section == "Internal headers" {
			c.InternalHeaders = append(c.InternalHeaders, m[1])
		}
		if m := replicaRE.FindStringSubmatch(line); m != nil && strings.HasPrefix(section, "Replicas") {
			if c.Replicas == nil {
				c.Replicas = map[string]int{}
			}
			c.Replicas[m[1]], _ = strconv.Atoi(m[2])
		}
		if m := portRowRE.FindStringSubmatch(line); m != nil {
			c.Ports[m[1]], _ = strconv.Atoi(m[2])
		}
		if m := hopRowRE.FindStringSubmatch(line); m != nil {
			port, _ := strconv.Atoi(m[4])
			if m[3] != m[5] {
				return Contracts{}, fmt.Errorf("contracts: hop %s has upstream %s", m[1], m[5])
			}
			c.Hops = append(c.Hops, Hop{Name: m[1], Caller: m[2], Callee: m[3], Port: port})
		}
	}
	if len(c.Ports) != len(Services) {
		return Contracts{}, fmt.Errorf("contracts: found ports for %d services, want %d", len(c.Ports), len(Services))
	}
	if len(c.Hops) == 0 {
		return Contracts{}, errors.New("contracts: no hop table")
	}
	return c, nil
}

// Proxy is one entry of a Toxiproxy -config file.
type Proxy struct {
	Name     string `json:"name"`
	Listen   string `json:"listen"`
	Upstream string `json:"upstream"`
	Enabled  *bool  `json:"enabled"`
}

// LoadProxies reads a Toxiproxy -config file.
func LoadProxies(path string) ([]Proxy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read toxiproxy config: %w", err)
	}
	var ps []Proxy
	if err := json.Unmarshal(b, &ps); err != nil {
		return nil, fmt.Errorf("parse toxiproxy config %s: %w", path, err)
	}
	return ps, nil
}
