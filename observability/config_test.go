package observability_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/observability/logstore/logstoretest"
)

// loggedFields are the ECS fields the lab's log lines carry: the constants in
// log.go, the keys NewLogger and Middleware write, and the extra fields of
// docs/CONTRACTS.md. TestLoggedFieldsMirrorCode keeps the list honest.
var loggedFields = map[string]bool{
	// NewLogger (replaceAttr and the logger's own attributes).
	"@timestamp": true, "log.level": true, "message": true, "service.name": true, "ecs.version": true,
	// log.go constants.
	observability.FieldEventAction: true, observability.FieldEventOutcome: true,
	observability.FieldEventDuration: true, observability.FieldEventKind: true,
	observability.FieldErrorMessage: true, observability.FieldTraceID: true,
	observability.FieldSpanID: true, observability.FieldUserID: true, observability.FieldUpstream: true,
	// middleware.go access log.
	"http.request.method": true, "http.response.status_code": true, "http.response.body.bytes": true,
	"url.path": true, "http.route": true,
	// docs/CONTRACTS.md, log events.
	"labels.from": true, "labels.to": true, "labels.attempt": true, "labels.reason": true,
	"labels.delay_ms": true, "labels.attempts": true, "labels.fault": true,
	"labels.order_id": true, "labels.payment_id": true, "labels.reservation_id": true,
	"labels.status": true, "labels.version": true, "labels.count": true,
	"labels.email_hash": true, "source.ip": true,
	"labels.endpoint": true, "labels.ejection_ms": true,
}

// TestLoggedFieldsMirrorCode checks that every key the observability package
// logs (slog.String("key", ...) and friends) and every field CONTRACTS.md
// names is in loggedFields.
func TestLoggedFieldsMirrorCode(t *testing.T) {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, ".", func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]string{}
	var calls []*ast.CallExpr
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.ValueSpec:
					for i, name := range n.Names {
						if i < len(n.Values) {
							if lit, ok := n.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[name.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				case *ast.CallExpr:
					calls = append(calls, n)
				}
				return true
			})
		}
	}
	var keys []string
	for name, v := range consts {
		if strings.HasPrefix(name, "Field") {
			keys = append(keys, v)
		}
	}
	for _, c := range calls {
		sel, ok := c.Fun.(*ast.SelectorExpr)
		if !ok || len(c.Args) == 0 {
			continue
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "slog" {
			continue
		}
		switch sel.Sel.Name {
		case "String", "Int", "Int64", "Uint64", "Float64", "Bool", "Time", "Duration", "Any":
		default:
			continue
		}
		switch a := c.Args[0].(type) {
		case *ast.BasicLit:
			k, _ := strconv.Unquote(a.Value)
			keys = append(keys, k)
		case *ast.Ident:
			if v, ok := consts[a.Name]; ok {
				keys = append(keys, v)
			}
		}
	}
	keys = append(keys, contractFields(t)...)
	if len(keys) < 15 {
		t.Fatalf("found only %d logged keys; the parser missed them: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !loggedFields[k] {
			t.Errorf("the lab logs %q but loggedFields (and so the index template and Kibana checks) does not know it", k)
		}
	}
}

// contractFields returns the fields named in CONTRACTS.md's log events
// section: the "Every line" sentence and the "extra fields" column.
func contractFields(tb testing.TB) []string {
	tb.Helper()
	b, err := os.ReadFile("../docs/CONTRACTS.md")
	if err != nil {
		tb.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(b), "## Log events")
	if !ok {
		tb.Fatal("CONTRACTS.md has no '## Log events' section")
	}
	sec, _, _ = strings.Cut(sec, "\n## ")
	code := regexp.MustCompile("`([^`]+)`")
	var fields []string
	for _, line := range strings.Split(sec, "\n") {
		var src string
		switch {
		case strings.HasPrefix(line, "Every line:"):
			src = line
		case strings.HasPrefix(line, "| `"):
			cols := strings.Split(line, "|")
			if len(cols) < 5 {
				continue
			}
			src = cols[3]
		default:
			continue
		}
		for _, m := range code.FindAllStringSubmatch(src, -1) {
			for _, f := range strings.Split(m[1], "/") {
				fields = append(fields, strings.TrimSpace(f))
			}
		}
	}
	if len(fields) == 0 {
		tb.Fatal("no fields found in CONTRACTS.md's log events")
	}
	return fields
}

func TestConfigFilesParse(t *testing.T) {
	for _, f := range []string{
		"prometheus/prometheus.yml", "prometheus/prometheus.local.yml",
		"prometheus/rules/faultlab.rules.yml", "prometheus/tests/slo.yml", "prometheus/tests/alerts.yml",
		"alertmanager/alertmanager.yml",
		"filebeat/filebeat.yml", "filebeat/filebeat.local.yml",
		"logstash/logstash.yml",
	} {
		t.Run(f, func(t *testing.T) {
			var v map[string]any
			readYAML(t, f, &v)
			if len(v) == 0 {
				t.Error("empty")
			}
		})
	}
	t.Run("elasticsearch/index-template.json", func(t *testing.T) { indexTemplate(t) })
	t.Run("kibana/saved-objects.ndjson", func(t *testing.T) {
		if n := len(savedObjects(t)); n < 6 {
			t.Errorf("%d saved objects, want at least 6", n)
		}
	})
}

// lookup finds path in a YAML map whose keys may be nested or dotted
// ("queue.disk" or queue: {disk: ...}), as Beats configs allow both.
func lookup(m map[string]any, p string) (any, bool) {
	if v, ok := m[p]; ok {
		return v, true
	}
	for i := strings.Index(p, "."); i >= 0; {
		if sub, ok := m[p[:i]].(map[string]any); ok {
			if v, ok := lookup(sub, p[i+1:]); ok {
				return v, true
			}
		}
		j := strings.Index(p[i+1:], ".")
		if j < 0 {
			break
		}
		i += j + 1
	}
	return nil, false
}

func TestFilebeatConfigs(t *testing.T) {
	wantNDJSON := map[string]any{"target": "", "overwrite_keys": true, "add_error_key": true, "expand_keys": true}
	tests := []struct {
		file string
		want map[string]any // path -> value (nil: must exist)
		path string         // the input's path glob
	}{
		{"filebeat/filebeat.yml", map[string]any{
			"queue.disk":             nil,
			"output.logstash.hosts":  []any{"logstash:5044"},
			"setup.template.enabled": false,
		}, "/var/log/faultlab/*.log"},
		{"filebeat/filebeat.local.yml", map[string]any{
			"output.elasticsearch.parameters": map[string]any{"_msg_field": "message", "_time_field": "@timestamp", "_stream_fields": "service.name"},
			"output.elasticsearch.hosts":      []any{"${FAULTLAB_VLOGS_URL:http://127.0.0.1:9428}/insert/elasticsearch/"},
			"setup.template.enabled":          false,
			"setup.ilm.enabled":               false,
			"queue.mem.flush.timeout":         "1s",
		}, "${FAULTLAB_LOG_DIR}/*.log"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var cfg map[string]any
			readYAML(t, tt.file, &cfg)
			for p, want := range tt.want {
				got, ok := lookup(cfg, p)
				if !ok {
					t.Errorf("%s is missing", p)
					continue
				}
				if want != nil && fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s = %v, want %v", p, got, want)
				}
			}
			inputs, _ := lookup(cfg, "filebeat.inputs")
			list, _ := inputs.([]any)
			if len(list) != 1 {
				t.Fatalf("want one input, got %v", inputs)
			}
			in := list[0].(map[string]any)
			if in["type"] != "filestream" || in["id"] == nil {
				t.Errorf("input is not a filestream with an id: %v", in)
			}
			if fmt.Sprint(in["paths"]) != fmt.Sprint([]any{tt.path}) {
				t.Errorf("paths = %v, want [%s]", in["paths"], tt.path)
			}
			parsers, _ := in["parsers"].([]any)
			if len(parsers) != 1 {
				t.Fatalf("want one parser, got %v", in["parsers"])
			}
			nd, _ := parsers[0].(map[string]any)["ndjson"].(map[string]any)
			if fmt.Sprint(nd) != fmt.Sprint(wantNDJSON) {
				t.Errorf("ndjson parser = %v, want %v", nd, wantNDJSON)
			}
		})
	}
}

func TestLogstashPipeline(t *testing.T) {
	b, err := os.ReadFile("logstash/pipeline/faultlab.conf")
	if err != nil {
		t.Fatal(err)
	}
	conf := stripComments(string(b))
	for _, re := range []string{
		`(?s)input\s*\{\s*beats\s*\{[^}]*port\s*=>\s*5044`,
		`(?s)output\s*\{.*elasticsearch\s*\{[^}]*hosts\s*=>\s*\["http://elasticsearch:9200"\]`,
		`index\s*=>\s*"faultlab-logs-%\{\+YYYY\.MM\.dd\}"`,
		`manage_template\s*=>\s*false`,
	} {
		if !regexp.MustCompile(re).MatchString(conf) {
			t.Errorf("pipeline does not match %s", re)
		}
	}
	if strings.Count(conf, "{") != strings.Count(conf, "}") {
		t.Error("unbalanced braces")
	}
	// The daily index must be covered by the template and the data view.
	day := "faultlab-logs-2026.01.02"
	for _, p := range indexTemplate(t).IndexPatterns {
		if ok, _ := path.Match(p, day); !ok {
			t.Errorf("template pattern %q does not match the daily index %q", p, day)
		}
	}
	var settings map[string]any
	readYAML(t, "logstash/logstash.yml", &settings)
	if settings["queue.type"] != "persisted" {
		t.Errorf("logstash queue.type = %v, want persisted", settings["queue.type"])
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

type template struct {
	IndexPatterns []string `json:"index_patterns"`
	Template      struct {
		Mappings struct {
			DynamicTemplates []map[string]struct {
				PathMatch string         `json:"path_match"`
				Mapping   map[string]any `json:"mapping"`
			} `json:"dynamic_templates"`
			Properties map[string]any `json:"properties"`
		} `json:"mappings"`
	} `json:"template"`
}

func indexTemplate(tb testing.TB) template {
	tb.Helper()
	b, err := os.ReadFile("elasticsearch/index-template.json")
	if err != nil {
		tb.Fatal(err)
	}
	var tpl template
	if err := json.Unmarshal(b, &tpl); err != nil {
		tb.Fatalf("index template: %v", err)
	}
	return tpl
}

// mappedFields flattens an Elasticsearch properties object to field -> type.
func mappedFields(prefix string, props map[string]any, out map[string]string) {
	for name, v := range props {
		f := name
		if prefix != "" {
			f = prefix + "." + name
		}
		m, _ := v.(map[string]any)
		if sub, ok := m["properties"].(map[string]any); ok {
			mappedFields(f, sub, out)
			continue
		}
		typ, _ := m["type"].(string)
		out[f] = typ
	}
}

func TestIndexTemplateMapsEveryLoggedField(t *testing.T) {
	tpl := indexTemplate(t)
	mapped := map[string]string{}
	mappedFields("", tpl.Template.Mappings.Properties, mapped)
	wantType := map[string]string{
		"@timestamp": "date", "message": "text", "error.message": "text",
		"event.duration": "long", "http.response.status_code": "long", "http.response.body.bytes": "long",
		"source.ip": "ip",
	}
	for f, typ := range mapped {
		if f == "labels" {
			if typ != "object" {
				t.Errorf("labels is mapped as %q, want object", typ)
			}
			continue
		}
		if !loggedFields[f] {
			t.Errorf("template maps %q, which the lab never logs", f)
		}
	}
	for f := range loggedFields {
		if strings.HasPrefix(f, "labels.") {
			continue // the dynamic template below
		}
		typ, ok := mapped[f]
		if !ok {
			t.Errorf("the lab logs %q but the template does not map it", f)
			continue
		}
		want := wantType[f]
		if want == "" {
			want = "keyword"
		}
		if typ != want {
			t.Errorf("%s is mapped as %q, want %q", f, typ, want)
		}
	}
	labels := false
	for _, dt := range tpl.Template.Mappings.DynamicTemplates {
		for _, d := range dt {
			if d.PathMatch == "labels.*" && d.Mapping["type"] == "keyword" {
				labels = true
			}
		}
	}
	if !labels {
		t.Error("no dynamic template maps labels.* as keyword")
	}
	if fmt.Sprint(tpl.IndexPatterns) != "[faultlab-logs-*]" {
		t.Errorf("index_patterns = %v", tpl.IndexPatterns)
	}
}

// savedObject is a Kibana saved object as _import reads it.
type savedObject struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		ID, Name, Type string
	} `json:"references"`
	CoreMigrationVersion string `json:"coreMigrationVersion"`
	TypeMigrationVersion string `json:"typeMigrationVersion"`
}

func savedObjects(tb testing.TB) []savedObject {
	tb.Helper()
	f, err := os.Open("kibana/saved-objects.ndjson")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	objs, err := parseSavedObjects(f)
	if err != nil {
		tb.Fatal(err)
	}
	return objs
}

func parseSavedObjects(r io.Reader) ([]savedObject, error) {
	var objs []savedObject
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			return nil, fmt.Errorf("line %d is empty", n)
		}
		var o savedObject
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		objs = append(objs, o)
	}
	return objs, sc.Err()
}

// checkReferences returns every inconsistency between the saved objects'
// references: a reference to an id that is not in the file, or not of that
// type; a panel or search source that names a reference that is missing;
// and ids that appear twice.
func checkReferences(objs []savedObject) []error {
	var errs []error
	byID := map[string]string{}
	for _, o := range objs {
		if o.ID == "" || o.Type == "" {
			errs = append(errs, fmt.Errorf("object without id or type: %+v", o))
		}
		if _, dup := byID[o.ID]; dup {
			errs = append(errs, fmt.Errorf("id %q appears twice", o.ID))
		}
		byID[o.ID] = o.Type
	}
	for _, o := range objs {
		refs := map[string]string{}
		for _, r := range o.References {
			refs[r.Name] = r.Type
			typ, ok := byID[r.ID]
			switch {
			case !ok:
				errs = append(errs, fmt.Errorf("%s %q: reference %q points to missing id %q", o.Type, o.ID, r.Name, r.ID))
			case typ != r.Type:
				errs = append(errs, fmt.Errorf("%s %q: reference %q says %s but %q is a %s", o.Type, o.ID, r.Name, r.Type, r.ID, typ))
			}
		}
		need := func(name, typ, what string) {
			if got, ok := refs[name]; !ok {
				errs = append(errs, fmt.Errorf("%s %q: %s names reference %q, which is missing", o.Type, o.ID, what, name))
			} else if got != typ {
				errs = append(errs, fmt.Errorf("%s %q: %s reference %q is a %s, want %s", o.Type, o.ID, what, name, got, typ))
			}
		}
		if ss := searchSource(o); ss["indexRefName"] != nil {
			need(fmt.Sprint(ss["indexRefName"]), "index-pattern", "searchSourceJSON")
		} else if o.Type == "search" {
			errs = append(errs, fmt.Errorf("search %q has no indexRefName", o.ID))
		}
		if o.Type == "dashboard" {
			panels, err := dashboardPanels(o)
			if err != nil {
				errs = append(errs, err)
			}
			for _, p := range panels {
				need(p.PanelRefName, p.Type, "panel "+p.PanelIndex)
			}
		}
	}
	return errs
}

func searchSource(o savedObject) map[string]any {
	meta, _ := o.Attributes["kibanaSavedObjectMeta"].(map[string]any)
	s, _ := meta["searchSourceJSON"].(string)
	var ss map[string]any
	_ = json.Unmarshal([]byte(s), &ss)
	return ss
}

type panel struct {
	Type, PanelIndex, PanelRefName string
}

func dashboardPanels(o savedObject) ([]panel, error) {
	s, _ := o.Attributes["panelsJSON"].(string)
	var ps []panel
	if err := json.Unmarshal([]byte(s), &ps); err != nil {
		return nil, fmt.Errorf("dashboard %q: panelsJSON: %w", o.ID, err)
	}
	return ps, nil
}

func TestSavedObjectReferences(t *testing.T) {
	objs := savedObjects(t)
	for _, err := range checkReferences(objs) {
		t.Error(err)
	}

	// The data view, the four searches, and a dashboard that shows them all.
	titles := map[string]savedObject{}
	for _, o := range objs {
		titles[o.Type+":"+fmt.Sprint(o.Attributes["title"])] = o
		if o.CoreMigrationVersion == "" || o.TypeMigrationVersion == "" {
			t.Errorf("%s %q lacks Kibana 8 migration versions", o.Type, o.ID)
		}
	}
	if dv, ok := titles["index-pattern:faultlab-logs-*"]; !ok || dv.Attributes["timeFieldName"] != "@timestamp" {
		t.Errorf("no faultlab-logs-* data view on @timestamp: %v", dv)
	}
	queries := map[string]string{
		"One trace across services":     "trace.id:*",
		"Breaker transitions":           "event.action:breaker.state_change",
		"Errors by service":             "log.level:error",
		"Retries and budget exhaustion": "event.action:(retry.attempt or retry.budget_exhausted)",
	}
	dash, ok := titles["dashboard:Incident overview"]
	if !ok {
		t.Fatal(`no "Incident overview" dashboard`)
	}
	onDash := map[string]bool{}
	for _, r := range dash.References {
		onDash[r.ID] = true
	}
	for title, q := range queries {
		s, ok := titles["search:"+title]
		if !ok {
			t.Errorf("no saved search %q", title)
			continue
		}
		query, _ := searchSource(s)["query"].(map[string]any)
		if query["query"] != q || query["language"] != "kuery" {
			t.Errorf("search %q: query %v, want KQL %q", title, query, q)
		}
		if !onDash[s.ID] {
			t.Errorf("search %q is not on the dashboard", title)
		}
	}
}

func TestSavedObjectReferencesCatchMistakes(t *testing.T) {
	b, err := os.ReadFile("kibana/saved-objects.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to string
	}{
		{"dangling dashboard reference", `"id":"faultlab-retries","name":"panel_3"`, `"id":"faultlab-nothing","name":"panel_3"`},
		{"wrong reference type", `"id":"faultlab-retries","name":"panel_3","type":"search"`, `"id":"faultlab-retries","name":"panel_3","type":"visualization"`},
		{"panel without its reference", `"name":"panel_3"`, `"name":"panel_9"`},
		{"dangling data view", `{"id":"faultlab-logs","name":"kibanaSavedObjectMeta.searchSourceJSON.index"`, `{"id":"faultlab-gone","name":"kibanaSavedObjectMeta.searchSourceJSON.index"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(b, []byte(tt.from)) {
				t.Fatalf("saved objects no longer contain %s: update the test", tt.from)
			}
			objs, err := parseSavedObjects(bytes.NewReader(bytes.Replace(b, []byte(tt.from), []byte(tt.to), 1)))
			if err != nil {
				t.Fatal(err)
			}
			if errs := checkReferences(objs); len(errs) == 0 {
				t.Error("checkReferences found nothing wrong")
			}
		})
	}
}

var kqlField = regexp.MustCompile(`([A-Za-z@_][A-Za-z0-9@_.]*)\s*:`)

func TestSavedObjectsUseLoggedFields(t *testing.T) {
	check := func(where, f string) {
		if !loggedFields[f] {
			t.Errorf("%s uses field %q, which the lab never logs", where, f)
		}
	}
	for _, o := range savedObjects(t) {
		where := o.Type + " " + o.ID
		if tf, ok := o.Attributes["timeFieldName"].(string); ok {
			check(where, tf)
		}
		cols, _ := o.Attributes["columns"].([]any)
		for _, c := range cols {
			check(where, fmt.Sprint(c))
		}
		sorts, _ := o.Attributes["sort"].([]any)
		for _, s := range sorts {
			if pair, ok := s.([]any); ok && len(pair) > 0 {
				check(where, fmt.Sprint(pair[0]))
			}
		}
		if q, ok := searchSource(o)["query"].(map[string]any); ok {
			for _, m := range kqlField.FindAllStringSubmatch(fmt.Sprint(q["query"]), -1) {
				check(where, m[1])
			}
		}
	}
}

func TestAlertmanagerRoutes(t *testing.T) {
	var cfg struct {
		Route struct {
			Receiver string
			Routes   []struct {
				Receiver string
				Matchers []string
			}
		}
		Receivers []struct {
			Name           string
			WebhookConfigs []map[string]any `yaml:"webhook_configs"`
		}
	}
	readYAML(t, "alertmanager/alertmanager.yml", &cfg)
	receivers := map[string]bool{}
	for _, r := range cfg.Receivers {
		if len(r.WebhookConfigs) == 0 {
			t.Errorf("receiver %s has no webhook", r.Name)
		}
		receivers[r.Name] = true
	}
	route := map[string]string{}
	for _, r := range cfg.Route.Routes {
		for _, m := range r.Matchers {
			route[strings.ReplaceAll(m, " ", "")] = r.Receiver
		}
		if !receivers[r.Receiver] {
			t.Errorf("route to unknown receiver %s", r.Receiver)
		}
	}
	if route[`severity="critical"`] != "page" || route[`severity="warning"`] != "ticket" {
		t.Errorf("routes by severity: %v, want critical->page, warning->ticket", route)
	}

	// amtool validates the file as Alertmanager does, and resolves routes.
	amtool := logstoretest.Tool(t, "amtool")
	if out, err := exec.CommandContext(t.Context(), amtool, "check-config", "alertmanager/alertmanager.yml").CombinedOutput(); err != nil {
		t.Fatalf("amtool check-config: %v\n%s", err, out)
	}
	for _, tt := range []struct{ labels, receiver string }{
		{"severity=critical alertname=ServiceDown", "page"},
		{"severity=warning alertname=CircuitBreakerOpen", "ticket"},
		{"alertname=Unlabelled", "ticket"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=alertmanager/alertmanager.yml", "--verify.receivers=" + tt.receiver}, strings.Fields(tt.labels)...)
		if out, err := exec.CommandContext(t.Context(), amtool, args...).CombinedOutput(); err != nil {
			t.Errorf("%s does not route to %s: %v\n%s", tt.labels, tt.receiver, err, out)
		}
	}
}

// TestSetupScript runs setup.sh against a fake Elasticsearch and Kibana and
// checks that it installs the template and imports the saved objects.
func TestSetupScript(t *testing.T) {
	sh := logstoretest.Tool(t, "sh")
	logstoretest.Tool(t, "curl")
	tplWant, _ := os.ReadFile("elasticsearch/index-template.json")
	objsWant, _ := os.ReadFile("kibana/saved-objects.ndjson")
	var mu sync.Mutex
	got := map[string][]byte{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/_cluster/health":
			io.WriteString(w, `{"status":"yellow"}`)
		case r.URL.Path == "/api/status":
			io.WriteString(w, `{"status":{"overall":{"level":"available"}}}`)
		case r.Method == http.MethodPut && r.URL.Path == "/_index_template/faultlab-logs":
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got["template"] = b
			mu.Unlock()
			io.WriteString(w, `{"acknowledged":true}`)
		case r.Method == http.MethodPost && r.URL.Path == "/api/saved_objects/_import":
			if r.URL.Query().Get("overwrite") != "true" || r.Header.Get("kbn-xsrf") == "" {
				http.Error(w, "missing overwrite or kbn-xsrf", http.StatusBadRequest)
				return
			}
			_, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			part, err := multipart.NewReader(r.Body, params["boundary"]).NextPart()
			if err != nil || part.FormName() != "file" {
				http.Error(w, "no file part", http.StatusBadRequest)
				return
			}
			b, _ := io.ReadAll(part)
			mu.Lock()
			got["objects"] = b
			mu.Unlock()
			io.WriteString(w, `{"success":true,"successCount":6}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)

	cmd := exec.CommandContext(t.Context(), sh, "setup/setup.sh")
	cmd.Env = append(os.Environ(), "ES_URL="+srv.URL, "KIBANA_URL="+srv.URL, "WAIT_SECONDS=10")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("setup.sh: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(got["template"], tplWant) {
		t.Errorf("template sent:\n%s", got["template"])
	}
	if !bytes.Equal(got["objects"], objsWant) {
		t.Errorf("saved objects sent:\n%s", got["objects"])
	}
}
