package k8s

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/faultlab/faultlab/chaos"
	"github.com/faultlab/faultlab/topology"
)

var overlays = []string{"overlays/lab", "overlays/chaos"}

func build(t testing.TB, dir string) []Object {
	t.Helper()
	objs, err := Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

// Every built object of a built-in kind decodes into its k8s.io/api type
// with no unknown field (the CRD kinds are checked by the API server).
func TestOverlaysDecodeStrictly(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			for _, o := range build(t, dir) {
				gvk := schema.FromAPIVersionAndKind(str(o, "apiVersion"), o.Kind())
				typed, err := scheme.Scheme.New(gvk)
				if err != nil {
					continue // a CRD kind: the dry run checks it
				}
				if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o, typed, true); err != nil {
					t.Errorf("%s: %v", o, err)
				}
			}
		})
	}
}

// The manifests follow the topology: one Deployment and one headless
// Service per service, on its port, serving it, probed on /healthz and
// /readyz, non-root with a read-only root.
func TestOverlaysMatchTopology(t *testing.T) {
	for _, dir := range overlays {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			for _, s := range topology.Services() {
				var d appsv1.Deployment
				decode(t, find(t, objs, "Deployment", s.Name), &d)
				checkDeployment(t, d, s)
				var svc corev1.Service
				decode(t, find(t, objs, "Service", s.Name), &svc)
				if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != int32(s.Port) {
					t.Errorf("Service/%s: want headless on port %d, got clusterIP %q ports %+v", s.Name, s.Port, svc.Spec.ClusterIP, svc.Spec.Ports)
				}
				find(t, objs, "PodDisruptionBudget", s.Name)
			}
			var cm corev1.ConfigMap
			decode(t, find(t, objs, "ConfigMap", "faultlab"), &cm)
			for _, callee := range topology.Callees() {
				key, want := urlEnv(callee), fmt.Sprintf("dns+http://%s:%d", callee, topology.Port(callee))
				if cm.Data[key] != want {
					t.Errorf("ConfigMap/faultlab %s = %q, want %q", key, cm.Data[key], want)
				}
			}
		})
	}
}

func checkDeployment(t *testing.T, d appsv1.Deployment, s topology.Service) {
	t.Helper()
	if len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("Deployment/%s: want one container", s.Name)
	}
	c := d.Spec.Template.Spec.Containers[0]
	port := strconv.Itoa(s.Port)
	switch {
	case !slices.Equal(c.Args, []string{"serve", s.Name}):
		t.Errorf("Deployment/%s: args %v", s.Name, c.Args)
	case len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(s.Port):
		t.Errorf("Deployment/%s: ports %+v, want %d", s.Name, c.Ports, s.Port)
	case env(c, "FAULTLAB_LISTEN") != "0.0.0.0:"+port:
		t.Errorf("Deployment/%s: FAULTLAB_LISTEN %q", s.Name, env(c, "FAULTLAB_LISTEN"))
	case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz":
		t.Errorf("Deployment/%s: liveness probe is not GET /healthz", s.Name)
	case c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
		t.Errorf("Deployment/%s: readiness probe is not GET /readyz", s.Name)
	case c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero():
		t.Errorf("Deployment/%s: no resources", s.Name)
	case c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem:
		t.Errorf("Deployment/%s: root filesystem is writable", s.Name)
	case d.Spec.Template.Spec.SecurityContext == nil || d.Spec.Template.Spec.SecurityContext.RunAsNonRoot == nil || !*d.Spec.Template.Spec.SecurityContext.RunAsNonRoot:
		t.Errorf("Deployment/%s: may run as root", s.Name)
	}
	for _, key := range []string{"FAULTLAB_GATEWAY_KEY", "FAULTLAB_SERVICE_KEY"} {
		if e := envVar(c, key); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
			t.Errorf("Deployment/%s: %s does not come from a Secret", s.Name, key)
		}
	}
}

// In the chaos overlay every caller reaches every upstream through that
// hop's Toxiproxy port, and Toxiproxy's Service exposes each of them.
func TestChaosOverlayRoutesHopsThroughToxiproxy(t *testing.T) {
	objs := build(t, "overlays/chaos")
	var svc corev1.Service
	decode(t, find(t, objs, "Service", "toxiproxy"), &svc)
	exposed := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		exposed[p.Port] = true
	}
	for _, h := range topology.Hops() {
		var d appsv1.Deployment
		decode(t, find(t, objs, "Deployment", h.Caller), &d)
		want := fmt.Sprintf("http://toxiproxy:%d", h.Port)
		if got := env(d.Spec.Template.Spec.Containers[0], urlEnv(h.Callee)); got != want {
			t.Errorf("%s: %s = %q, want %q", h.Name, urlEnv(h.Callee), got, want)
		}
		if !exposed[int32(h.Port)] {
			t.Errorf("%s: Service/toxiproxy does not expose %d", h.Name, h.Port)
		}
	}
	for _, o := range build(t, "overlays/lab") {
		if o.Name() == "toxiproxy" {
			t.Errorf("the lab overlay has %s", o)
		}
	}
}

// Only the gateway takes traffic from anywhere: every other ingress rule
// names its peers.
func TestNetworkPoliciesOnlyGatewayIsOpen(t *testing.T) {
	open := 0
	for _, o := range build(t, "overlays/lab") {
		if o.Kind() != "NetworkPolicy" {
			continue
		}
		var np networkingv1.NetworkPolicy
		decode(t, o, &np)
		for _, rule := range np.Spec.Ingress {
			if len(rule.From) > 0 {
				continue
			}
			open++
			if np.Spec.PodSelector.MatchLabels["app.kubernetes.io/name"] != topology.Gateway {
				t.Errorf("NetworkPolicy/%s admits anyone to %v", np.Name, np.Spec.PodSelector.MatchLabels)
			}
		}
	}
	if open != 1 {
		t.Errorf("%d open ingress rules, want 1 (the gateway's)", open)
	}
}

// Each scenario either has an experiment whose Workflow keeps the
// scenario's fault schedule, or is listed as having none.
func TestExperimentsFollowTheCatalogue(t *testing.T) {
	noFaults := map[string]bool{"login-abuse": true} // its "faults" are load
	for _, sc := range chaos.Catalogue() {
		path := filepath.Join("chaos-mesh", sc.Name+".yaml")
		if noFaults[sc.Name] {
			if _, err := os.Stat(path); err == nil {
				t.Errorf("%s: has %s but is listed as having no faults to inject", sc.Name, path)
			}
			continue
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: no experiment: %v", sc.Name, err)
			continue
		}
		var wf workflow
		if err := yaml.UnmarshalStrict(b, &wf); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		want := map[string]bool{}
		for _, f := range sc.Faults {
			want[window(f.At, f.Until-f.At)] = true
		}
		got := wf.windows(t, path)
		if !equalSets(got, want) {
			t.Errorf("%s: experiment windows %v, scenario's %v", path, keys(got), keys(want))
		}
	}
}

// workflow is the part of a Chaos Mesh Workflow the schedule check reads.
type workflow struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   map[string]any `json:"metadata"`
	Spec       struct {
		Entry     string `json:"entry"`
		Templates []struct {
			Name         string         `json:"name"`
			TemplateType string         `json:"templateType"`
			Deadline     string         `json:"deadline"`
			Children     []string       `json:"children"`
			NetworkChaos map[string]any `json:"networkChaos"`
			HTTPChaos    map[string]any `json:"httpChaos"`
		} `json:"templates"`
	} `json:"spec"`
}

// windows returns "start+length" of every Serial [Suspend, chaos] pair.
func (wf workflow) windows(t *testing.T, path string) map[string]bool {
	deadline := map[string]time.Duration{}
	for _, tp := range wf.Spec.Templates {
		if tp.Deadline != "" {
			d, err := time.ParseDuration(tp.Deadline)
			if err != nil {
				t.Errorf("%s: template %s: %v", path, tp.Name, err)
			}
			deadline[tp.Name] = d
		}
	}
	out := map[string]bool{}
	for _, tp := range wf.Spec.Templates {
		if tp.TemplateType == "Serial" && len(tp.Children) == 2 && strings.HasPrefix(tp.Children[0], "wait-") {
			out[window(deadline[tp.Children[0]], deadline[tp.Children[1]])] = true
		}
	}
	return out
}

func window(at, length time.Duration) string { return at.String() + "+" + length.String() }

func equalSets(a, b map[string]bool) bool {
	return len(a) == len(b) && !slices.ContainsFunc(keys(a), func(k string) bool { return !b[k] })
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func urlEnv(service string) string { return "FAULTLAB_" + strings.ToUpper(service) + "_URL" }

func str(o Object, key string) string { s, _ := o[key].(string); return s }

func find(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	for _, o := range objs {
		if o.Kind() == kind && o.Name() == name {
			return o
		}
	}
	t.Fatalf("no %s/%s", kind, name)
	return nil
}

func decode(t *testing.T, o Object, into any) {
	t.Helper()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o, into, true); err != nil {
		t.Fatalf("%s: %v", o, err)
	}
}

// env returns the value the container gets for key: the last env entry
// wins, as in the kubelet.
func env(c corev1.Container, key string) string {
	if e := envVar(c, key); e != nil {
		return e.Value
	}
	return ""
}

func envVar(c corev1.Container, key string) *corev1.EnvVar {
	for i := len(c.Env) - 1; i >= 0; i-- {
		if c.Env[i].Name == key {
			return &c.Env[i]
		}
	}
	return nil
}
