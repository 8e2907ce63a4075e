package topology

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Replicas of a service (`faultlab up --replicas product=2,order=2,payment=3`).
// Replica n (from 1) of a service listens on its port + ReplicaPortStep ×
// (n-1), e.g. payment-3 on 28084; each caller reaches it through its own
// proxy, <caller>-to-<callee>-<n>, on the hop's port + ReplicaPortStep ×
// (n-1), e.g. order-to-payment-3 on 41008. With one replica nothing
// changes: the service and its proxies keep their names and ports.
const (
	// ReplicaPortStep separates the ports of a service's replicas.
	ReplicaPortStep = 10000
	// MaxReplicas bounds the replicas of one service (ports stay < 65536).
	MaxReplicas = 5
)

// ReplicaPort is the port of replica n (from 1) of a service or a hop that
// listens on port with one replica.
func ReplicaPort(port, n int) int { return port + ReplicaPortStep*(n-1) }

// ReplicaName names replica n of service, e.g. payment-2.
func ReplicaName(service string, n int) string { return service + "-" + strconv.Itoa(n) }

// ReplicaHopName is the proxy name of caller's hop to replica n of callee,
// which runs of replicas: <caller>-to-<callee>-<n>, or HopName when of is 1.
func ReplicaHopName(caller, callee string, n, of int) string {
	if of <= 1 {
		return HopName(caller, callee)
	}
	return ReplicaName(HopName(caller, callee), n)
}

// Replicable returns the services that may run replicated: those some other
// service calls (Callees), so that a client balances over them. The
// gateway, the one public address, has no caller to balance it.
func Replicable() []string { return Callees() }

// ParseReplica splits a replica name such as payment-2 into its service and
// number, checking both against Default.
func ParseReplica(name string) (string, int, error) {
	i := strings.LastIndexByte(name, '-')
	if i <= 0 {
		return "", 0, fmt.Errorf("replica %q: want <service>-<n>, e.g. payment-2", name)
	}
	svc, num := name[:i], name[i+1:]
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > MaxReplicas {
		return "", 0, fmt.Errorf("replica %q: number %q must be 1 to %d", name, num, MaxReplicas)
	}
	if !slices.Contains(Replicable(), svc) {
		return "", 0, fmt.Errorf("replica %q: service %q is not one of %s", name, svc, strings.Join(Replicable(), ", "))
	}
	return svc, n, nil
}

// ParseReplicas parses a replica count list such as
// "product=2,order=2,payment=3" (empty: none). Services are those of
// Replicable, counts 1 to MaxReplicas.
func ParseReplicas(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, item := range strings.Split(s, ",") {
		svc, num, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			return nil, fmt.Errorf("replicas %q: want service=count, e.g. payment=3", item)
		}
		if !slices.Contains(Replicable(), svc) {
			return nil, fmt.Errorf("replicas %q: service %q is not one of %s", item, svc, strings.Join(Replicable(), ", "))
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 1 || n > MaxReplicas {
			return nil, fmt.Errorf("replicas %q: count %q must be 1 to %d", item, num, MaxReplicas)
		}
		if _, dup := out[svc]; dup {
			return nil, fmt.Errorf("replicas %q: service %q given twice", item, svc)
		}
		out[svc] = n
	}
	return out, nil
}
