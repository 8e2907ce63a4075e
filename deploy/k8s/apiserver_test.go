package k8s

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"

	"github.com/faultlab/faultlab/internal/proctest"
)

// The CRDs come from these modules, read from the module cache
// (go mod download), at pinned versions.
const (
	chaosMeshModule     = "github.com/chaos-mesh/chaos-mesh@v0.9.1-0.20260902003049-47411975a8cb"
	chaosMeshCRDs       = "manifests/crd.yaml"
	promOperatorModule  = "github.com/prometheus-operator/prometheus-operator@v0.85.0"
	promOperatorCRDs    = "example/prometheus-operator-crd"
	apiserverReadyAfter = 60 * time.Second
)

// cluster is a real etcd and kube-apiserver on loopback, and a client.
type cluster struct {
	dyn    dynamic.Interface
	mapper meta.ResettableRESTMapper

	mu       sync.Mutex
	warnings []string
}

// HandleWarningHeader records the API server's warnings (PodSecurity
// violations, deprecated fields, duplicate entries): the manifests have none.
func (c *cluster) HandleWarningHeader(_ int, _ string, text string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.warnings = append(c.warnings, text)
}

func (c *cluster) takeWarnings() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.warnings
	c.warnings = nil
	return w
}

// tool finds a binary built by scripts/tools.sh, or on PATH. Without it the
// test fails in CI and is skipped elsewhere.
func tool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("FAULTLAB_TOOLS")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "faultlab", "tools")
	}
	if p := filepath.Join(dir, "bin", name); isExec(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found in %s/bin or on PATH: run bash scripts/tools.sh etcd kube-apiserver", name, dir)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// startCluster starts etcd, then kube-apiserver on it, on free loopback
// ports in temporary directories. t.Cleanup runs last-in first-out, so the
// API server stops before etcd.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	etcd, apiserver := tool(t, "etcd"), tool(t, "kube-apiserver")
	dir := t.TempDir()
	ports := proctest.FreePorts(t, 3)
	etcdURL := "http://127.0.0.1:" + ports[0]
	peerURL := "http://127.0.0.1:" + ports[1]
	proctest.Start(t, "etcd", exec.Command(etcd, "--name=faultlab", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=faultlab="+peerURL, "--log-level=warn"), os.Interrupt)
	proctest.Eventually(t, "etcd", 20*time.Second, 100*time.Millisecond, func() error { return get(http.DefaultClient, etcdURL+"/health", "") })

	token := writeAuth(t, dir)
	port := ports[2]
	proctest.Start(t, "kube-apiserver", exec.Command(apiserver,
		"--bind-address=127.0.0.1", "--secure-port="+port, "--cert-dir="+filepath.Join(dir, "certs"),
		"--etcd-servers="+etcdURL, "--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+filepath.Join(dir, "sa.pub"),
		"--service-account-signing-key-file="+filepath.Join(dir, "sa.key"),
		"--token-auth-file="+filepath.Join(dir, "tokens.csv"), "--authorization-mode=RBAC",
		"--service-cluster-ip-range=10.96.0.0/16", "--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount"), os.Interrupt)
	host := "https://127.0.0.1:" + port
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	proctest.Eventually(t, "kube-apiserver", apiserverReadyAfter, 100*time.Millisecond, func() error { return get(insecure, host+"/readyz", token) })

	c := &cluster{}
	cfg := &rest.Config{Host: host, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS: 200, Burst: 400}
	cfg.WarningHandler = c
	var err error
	if c.dyn, err = dynamic.NewForConfig(cfg); err != nil {
		t.Fatal(err)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	return c
}

// writeAuth writes the service-account key pair and a token file with one
// cluster-admin token, and returns the token.
func writeAuth(t *testing.T, dir string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	token := rand.Text()
	for name, body := range map[string][]byte{
		"sa.key":     pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}),
		"sa.pub":     pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}),
		"tokens.csv": []byte(token + ",faultlab-test,faultlab-test,system:masters\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return token
}

func get(c *http.Client, url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return nil
}

// moduleFile returns the path of file in module@version, downloaded into
// the module cache if need be. It runs outside the lab's module so that
// go.mod is never touched.
func moduleFile(t *testing.T, module, file string) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", module)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s: %v\n%s", module, err, out)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		t.Fatalf("go mod download %s: no Dir (%v %s)", module, err, info.Error)
	}
	return filepath.Join(info.Dir, file)
}

// readObjects splits YAML files (one or many documents) into objects.
func readObjects(t *testing.T, paths ...string) []Object {
	t.Helper()
	var out []Object
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var o Object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if len(o) > 0 {
				out = append(out, o)
			}
		}
	}
	return out
}

func (c *cluster) resource(o Object) (dynamic.ResourceInterface, error) {
	u := &unstructured.Unstructured{Object: o}
	gvk := u.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", o, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(u.GetNamespace()), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// create sends o to the server with strict field validation; dryRun keeps
// it from being stored.
func (c *cluster) create(ctx context.Context, o Object, dryRun bool) error {
	r, err := c.resource(o)
	if err != nil {
		return err
	}
	opts := metav1.CreateOptions{FieldValidation: metav1.FieldValidationStrict}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	_, err = r.Create(ctx, &unstructured.Unstructured{Object: o}, opts)
	if err != nil {
		return fmt.Errorf("%s: %w", o, err)
	}
	if w := c.takeWarnings(); len(w) > 0 {
		return fmt.Errorf("%s: the server warned: %s", o, strings.Join(w, "; "))
	}
	return nil
}

// installCRDs creates the CRDs and waits until the server serves them.
func (c *cluster) installCRDs(t *testing.T, ctx context.Context, crds []Object) {
	t.Helper()
	crdRes := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, o := range crds {
		if _, err := c.dyn.Resource(crdRes).Create(ctx, &unstructured.Unstructured{Object: o}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("install %s: %v", o, err)
		}
	}
	c.takeWarnings()
	for _, o := range crds {
		proctest.Eventually(t, "CRD "+o.Name(), 30*time.Second, 100*time.Millisecond, func() error {
			u, err := c.dyn.Resource(crdRes).Get(ctx, o.Name(), metav1.GetOptions{})
			if err != nil {
				return err
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return nil
				}
			}
			return errors.New("not established")
		})
	}
	c.mapper.Reset()
}

// TestServerSideDryRun applies both overlays and every Chaos Mesh
// experiment to a real kube-apiserver with DryRun=All and strict field
// validation: anything the server rejects, or warns about, fails.
func TestServerSideDryRun(t *testing.T) {
	c := startCluster(t)
	ctx := t.Context()
	crds := readObjects(t, moduleFile(t, chaosMeshModule, chaosMeshCRDs))
	promDir := moduleFile(t, promOperatorModule, promOperatorCRDs)
	for _, kind := range []string{"servicemonitors", "prometheusrules", "podmonitors"} {
		crds = append(crds, readObjects(t, filepath.Join(promDir, "monitoring.coreos.com_"+kind+".yaml"))...)
	}
	c.installCRDs(t, ctx, crds)
	t.Logf("installed %d CRDs", len(crds))

	experiments, err := filepath.Glob("chaos-mesh/*.yaml")
	if err != nil || len(experiments) == 0 {
		t.Fatalf("no experiments in chaos-mesh/: %v", err)
	}
	for _, dir := range overlays {
		objs := build(t, dir)
		t.Run(dir, func(t *testing.T) {
			for _, o := range objs {
				// The namespace is created for real (strictly validated too):
				// namespaced objects cannot be dry-run into a missing one.
				if err := c.create(ctx, o, o.Kind() != "Namespace"); err != nil && !(o.Kind() == "Namespace" && apierrors.IsAlreadyExists(errors.Unwrap(err))) {
					t.Error(err)
				}
			}
			t.Logf("%d objects accepted", len(objs))
		})
	}
	t.Run("chaos-mesh", func(t *testing.T) {
		for _, o := range readObjects(t, experiments...) {
			if err := c.create(ctx, o, true); err != nil {
				t.Error(err)
			}
		}
	})
	t.Run("rejects", func(t *testing.T) { testRejects(t, c) })
}

// testRejects shows that the dry run can fail: each broken copy of a good
// manifest is refused, with the reason the server gives.
func testRejects(t *testing.T, c *cluster) {
	ctx := t.Context()
	deploy := find(t, build(t, "overlays/lab"), "Deployment", "payment")
	exp := readObjects(t, filepath.Join("chaos-mesh", "replica-kill.yaml"))[0]
	wf := readObjects(t, filepath.Join("chaos-mesh", "payment-down.yaml"))[0]
	for _, tc := range []struct {
		name  string
		base  Object
		path  []string
		value any
		want  string
	}{
		{"PodChaos bad action", exp, []string{"spec", "action"}, "pod-teleport", "Unsupported value"},
		{"PodChaos unknown field", exp, []string{"spec", "blastRadius"}, "all", "unknown field"},
		{"PodChaos no selector", exp, []string{"spec", "selector"}, nil, "selector"},
		{"Workflow unknown field", wf, []string{"spec", "entryPoint"}, "x", "unknown field"},
		{"Deployment unknown field", deploy, []string{"spec", "replicaz"}, int64(2), "unknown field"},
		{"Deployment bad enum", deploy, []string{"spec", "strategy", "type"}, "Sometimes", "Unsupported value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Object(deepCopy(t, tc.base))
			if tc.value == nil {
				unstructured.RemoveNestedField(o, tc.path...)
			} else if err := unstructured.SetNestedField(o, tc.value, tc.path...); err != nil {
				t.Fatal(err)
			}
			err := c.create(ctx, o, true)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			t.Logf("rejected: %v", err)
		})
	}
}

// deepCopy copies o through JSON (kustomize's maps may hold plain ints,
// which unstructured's DeepCopy refuses).
func deepCopy(t *testing.T, o Object) map[string]any {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
