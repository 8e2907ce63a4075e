package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/services/user"
)

// contractSeed fixes the random part of TestContractFuzz.
const contractSeed = 20261201

// contractRandom bounds the random part: requests with two to four
// mutations at once, on operations picked at random.
const contractRandom = 150

// fuzzCase is one generated request.
type fuzzCase struct {
	name   string
	method string
	path   string // with the query
	body   []byte // nil: no body
	ct     string
	header http.Header
}

// TestContractFuzz generates requests from api/openapi.yaml's schemas,
// valid and deliberately invalid (wrong types, missing members, values at
// and past every limit, bad headers and query parameters, broken JSON,
// methods and paths the document does not have),
// sends them through the real gateway to the real services, and checks
// that every one gets an answer the document describes and never a 5xx.
// Seeded and bounded: the deterministic mutations of each operation, then
// contractRandom random combinations.
func TestContractFuzz(t *testing.T) {
	l := newLab(t) // every answer is checked by apitest.Wrap
	doc, err := apitest.LoadDoc()
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{
		"customer": l.login(t, user.DemoCustomerEmail, user.DemoCustomerPassword),
		"admin":    l.login(t, user.DemoAdminEmail, user.DemoAdminPassword),
	}
	rng := rand.New(rand.NewPCG(contractSeed, contractSeed))
	g := &generator{rng: rng, tokens: tokens}

	var ops []opRef
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops = append(ops, opRef{method: method, path: path, op: op})
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].method+ops[i].path < ops[j].method+ops[j].path })

	var cases []fuzzCase
	for _, o := range ops {
		cases = append(cases, g.deterministic(o)...)
	}
	// Methods and paths the document does not have: 405 and 404 problems.
	for _, o := range ops {
		for _, m := range []string{http.MethodDelete, http.MethodPatch, http.MethodPut, http.MethodOptions, http.MethodHead} {
			c := g.valid(o)
			c.method, c.name = m, o.op.OperationID+" as "+m
			cases = append(cases, c)
		}
	}
	for _, p := range []string{"/", "/api", "/api/v2/orders", "/api/v1/orders/x/y", "/internal/stock", "/api/v1/users"} {
		cases = append(cases, fuzzCase{name: "unknown path " + p, method: http.MethodGet, path: p, header: http.Header{}})
	}
	for i := range contractRandom {
		o := ops[rng.IntN(len(ops))]
		c := g.random(o, 2+rng.IntN(3))
		c.name = fmt.Sprintf("random %d: %s", i, c.name)
		cases = append(cases, c)
	}

	statuses := map[int]int{}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, l.gwURL+c.path, bytesOrNil(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req.Header = c.header
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		statuses[resp.StatusCode]++
		if resp.StatusCode >= 500 {
			t.Errorf("%s %s (%s): %d %s", c.method, c.path, c.name, resp.StatusCode, b)
		}
	}
	t.Logf("%d requests (seed %d): statuses %v", len(cases), contractSeed, statuses)
	if statuses[200]+statuses[201] == 0 || len(statuses) < 5 {
		t.Errorf("the generator reached too few answers: %v", statuses)
	}
}

func bytesOrNil(b []byte) io.Reader {
	if b == nil {
		return nil
	}
	return bytes.NewReader(b)
}

type opRef struct {
	method, path string
	op           *openapi3.Operation
}

type generator struct {
	rng    *rand.Rand
	tokens map[string]string
	n      int
}

// valid builds a request the document accepts: the body from the media
// type's first example (or generated from its schema), parameters from
// their schemas, a token when the operation needs one.
func (g *generator) valid(o opRef) fuzzCase {
	g.n++
	c := fuzzCase{name: "valid", method: o.method, header: http.Header{}}
	path := o.path
	q := url.Values{}
	for _, pr := range o.op.Parameters {
		p := pr.Value
		switch p.In {
		case "path":
			path = strings.ReplaceAll(path, "{"+p.Name+"}", g.pathID(o.path))
		case "query":
			if g.rng.IntN(2) == 0 {
				q.Set(p.Name, fmt.Sprint(g.gen(p.Schema.Value)))
			}
		case "header":
			switch p.Name {
			case "Idempotency-Key":
				c.header.Set(p.Name, fmt.Sprintf("contract-%d-%d", contractSeed, g.n))
			case "Request-Timeout":
				// optional; the gateway's floor applies
			}
		}
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	c.path = path
	if o.op.Security != nil && len(*o.op.Security) > 0 {
		role := "customer"
		if o.op.OperationID == "createProduct" {
			role = "admin"
		}
		c.header.Set("Authorization", "Bearer "+g.tokens[role])
	}
	if rb := o.op.RequestBody; rb != nil {
		mt := rb.Value.Content.Get("application/json")
		var v any
		for _, name := range sortedKeys(mt.Examples) {
			v = mt.Examples[name].Value.Value
			break
		}
		if v == nil {
			v = g.gen(mt.Schema.Value)
		}
		c.body, _ = json.Marshal(v)
		c.ct = "application/json"
	}
	return c
}

// pathID is an id that exists for the catalogue, or a made-up one.
func (g *generator) pathID(path string) string {
	if strings.Contains(path, "products") && g.rng.IntN(2) == 0 {
		return fmt.Sprintf("prd_%03d", 1+g.rng.IntN(8))
	}
	return fmt.Sprintf("x_%d", g.rng.Int64())
}

// deterministic is the valid request, then one request per mutation.
func (g *generator) deterministic(o opRef) []fuzzCase {
	base := g.valid(o)
	base.name = o.op.OperationID + " valid"
	out := []fuzzCase{base}
	for _, m := range g.mutations(o) {
		c := g.valid(o)
		m.apply(&c)
		c.name = o.op.OperationID + " " + m.name
		out = append(out, c)
	}
	return out
}

func (g *generator) random(o opRef, k int) fuzzCase {
	ms := g.mutations(o)
	c := g.valid(o)
	var names []string
	for range k {
		if len(ms) == 0 {
			break
		}
		m := ms[g.rng.IntN(len(ms))]
		m.apply(&c)
		names = append(names, m.name)
	}
	c.name = o.op.OperationID + " " + strings.Join(names, " + ")
	return c
}

type mutation struct {
	name  string
	apply func(*fuzzCase)
}

// mutations lists the invalid variants of an operation's request.
func (g *generator) mutations(o opRef) []mutation {
	var ms []mutation
	for _, pr := range o.op.Parameters {
		p := pr.Value
		if p.Name == "Request-Timeout" {
			continue // h17-login's: how the gateway treats a bad value is its to settle
		}
		for _, v := range g.edgeValues(p.Schema.Value) {
			switch p.In {
			case "query":
				ms = append(ms, mutation{fmt.Sprintf("query %s=%q", p.Name, v), func(c *fuzzCase) {
					u, _ := url.Parse(c.path)
					q := u.Query()
					q.Set(p.Name, v)
					u.RawQuery = q.Encode()
					c.path = u.String()
				}})
			case "header":
				ms = append(ms, mutation{fmt.Sprintf("header %s=%.20q", p.Name, v), func(c *fuzzCase) { c.header.Set(p.Name, v) }})
			case "path":
				ms = append(ms, mutation{fmt.Sprintf("path %s=%.20q", p.Name, v), func(c *fuzzCase) {
					i := strings.LastIndexByte(c.path, '/')
					c.path = c.path[:i+1] + url.PathEscape(v)
				}})
			}
		}
		if p.Required && p.In == "header" {
			ms = append(ms, mutation{"no " + p.Name, func(c *fuzzCase) { c.header.Del(p.Name) }},
				mutation{"two " + p.Name, func(c *fuzzCase) { c.header.Add(p.Name, "second-key") }})
		}
	}
	if o.path == "/api/v1/orders" && o.method == http.MethodGet {
		ms = append(ms, mutation{"offset paging", func(c *fuzzCase) { c.path += sep(c.path) + "offset=20" }})
	}
	if o.op.Security != nil && len(*o.op.Security) > 0 {
		ms = append(ms,
			mutation{"no token", func(c *fuzzCase) { c.header.Del("Authorization") }},
			mutation{"garbage token", func(c *fuzzCase) { c.header.Set("Authorization", "Bearer not.a.token") }},
			mutation{"basic auth", func(c *fuzzCase) { c.header.Set("Authorization", "Basic YTpi") }})
		if o.op.OperationID == "createProduct" {
			ms = append(ms, mutation{"customer token", func(c *fuzzCase) { c.header.Set("Authorization", "Bearer "+g.tokens["customer"]) }})
		}
	}
	rb := o.op.RequestBody
	if rb == nil {
		return ms
	}
	schema := rb.Value.Content.Get("application/json").Schema.Value
	ms = append(ms,
		mutation{"no body", func(c *fuzzCase) { c.body = nil }},
		mutation{"empty body", func(c *fuzzCase) { c.body = []byte{} }},
		mutation{"truncated JSON", func(c *fuzzCase) { c.body = c.body[:len(c.body)/2] }},
		mutation{"not JSON", func(c *fuzzCase) { c.body = []byte("items=1") }},
		mutation{"array body", func(c *fuzzCase) { c.body = []byte("[]") }},
		mutation{"two objects", func(c *fuzzCase) { c.body = append(append([]byte{}, c.body...), c.body...) }},
		mutation{"text/plain", func(c *fuzzCase) { c.ct = "text/plain" }},
		mutation{"no content type", func(c *fuzzCase) { c.ct = "" }},
		mutation{"past 64 KiB", func(c *fuzzCase) { c.body = append([]byte(`{"pad":"`+strings.Repeat("x", DefaultMaxBody)+`"`), '}') }},
	)
	for _, bm := range bodyMutations("", schema) {
		ms = append(ms, mutation{"body " + bm.name, func(c *fuzzCase) {
			var v any
			if err := json.Unmarshal(c.body, &v); err != nil {
				return // an earlier mutation broke the JSON
			}
			c.body, _ = json.Marshal(bm.apply(v))
		}})
	}
	return ms
}

func sep(path string) string {
	if strings.Contains(path, "?") {
		return "&"
	}
	return "?"
}

// edgeValues are values at and past a parameter schema's limits, and of
// the wrong type.
func (g *generator) edgeValues(s *openapi3.Schema) []string {
	var vs []string
	switch {
	case s.Type.Permits("integer"):
		vs = append(vs, "x", "1.5", "-0", "99999999999999999999")
		if s.Min != nil {
			vs = append(vs, fmt.Sprint(int64(*s.Min)), fmt.Sprint(int64(*s.Min)-1))
		}
		if s.Max != nil {
			vs = append(vs, fmt.Sprint(int64(*s.Max)), fmt.Sprint(int64(*s.Max)+1))
		}
	case s.Type.Permits("string"):
		vs = append(vs, "", "a b", "é", "../x", strings.Repeat("z", 65))
		if s.MaxLength != nil {
			vs = append(vs, strings.Repeat("k", int(*s.MaxLength)), strings.Repeat("k", int(*s.MaxLength)+1))
		}
	}
	return vs
}

// bodyMutation changes a decoded JSON body.
type bodyMutation struct {
	name  string
	apply func(any) any
}

// bodyMutations walks schema and lists, for each member at path, the
// request bodies with that member of a wrong type, missing, at and past
// its limits; and an unknown member on each object.
func bodyMutations(path string, s *openapi3.Schema) []bodyMutation {
	at := func(name string, f func(any) any) bodyMutation {
		return bodyMutation{name: path + " " + name, apply: f}
	}
	var out []bodyMutation
	wrongType := any("a string")
	if s.Type.Permits("string") {
		wrongType = 12
	}
	out = append(out, at("wrong type", func(any) any { return wrongType }), at("null", func(any) any { return nil }))
	switch {
	case s.Type.Permits("object"):
		out = append(out, at("unknown member", func(v any) any {
			if m, ok := v.(map[string]any); ok {
				m["unexpected"] = true
			}
			return v
		}))
		for _, name := range sortedKeys(s.Properties) {
			ps := s.Properties[name].Value
			for _, sub := range bodyMutations(path+"."+name, ps) {
				out = append(out, bodyMutation{name: sub.name, apply: func(v any) any {
					if m, ok := v.(map[string]any); ok {
						m[name] = sub.apply(m[name])
					}
					return v
				}})
			}
			out = append(out, bodyMutation{name: path + "." + name + " missing", apply: func(v any) any {
				if m, ok := v.(map[string]any); ok {
					delete(m, name)
				}
				return v
			}})
		}
	case s.Type.Permits("array"):
		first := func(v any) any {
			if a, ok := v.([]any); ok && len(a) > 0 {
				return a[0]
			}
			return nil
		}
		repeat := func(n int) func(any) any {
			return func(v any) any {
				a := make([]any, n)
				for i := range a {
					a[i] = cloneJSON(first(v))
				}
				return a
			}
		}
		out = append(out, at("empty", func(any) any { return []any{} }))
		if s.MaxItems != nil {
			out = append(out, at(fmt.Sprintf("%d items", *s.MaxItems), repeat(int(*s.MaxItems))),
				at(fmt.Sprintf("%d items", *s.MaxItems+1), repeat(int(*s.MaxItems)+1)))
		}
		if s.Items != nil {
			for _, sub := range bodyMutations(path+"[0]", s.Items.Value) {
				out = append(out, bodyMutation{name: sub.name, apply: func(v any) any {
					if a, ok := v.([]any); ok && len(a) > 0 {
						a[0] = sub.apply(a[0])
					}
					return v
				}})
			}
		}
	case s.Type.Permits("integer"):
		if s.Min != nil {
			lo := int64(*s.Min)
			out = append(out, at(fmt.Sprintf("= %d", lo), func(any) any { return lo }), at(fmt.Sprintf("= %d", lo-1), func(any) any { return lo - 1 }))
		}
		if s.Max != nil {
			hi := int64(*s.Max)
			out = append(out, at(fmt.Sprintf("= %d", hi), func(any) any { return hi }), at(fmt.Sprintf("= %d", hi+1), func(any) any { return hi + 1 }))
		}
		out = append(out, at("fraction", func(any) any { return 1.5 }), at("huge", func(any) any { return 1e300 }))
	case s.Type.Permits("string"):
		out = append(out, at("empty", func(any) any { return "" }), at("invalid UTF-8", func(any) any { return "\xff\xfe" }))
		if s.MaxLength != nil {
			n := int(*s.MaxLength)
			out = append(out, at(fmt.Sprintf("%d chars", n), func(any) any { return strings.Repeat("é", n) }),
				at(fmt.Sprintf("%d chars", n+1), func(any) any { return strings.Repeat("é", n+1) }))
		}
	}
	return out
}

// gen makes a value that s accepts (for the simple schemas of query
// parameters and request bodies).
func (g *generator) gen(s *openapi3.Schema) any {
	switch {
	case len(s.Enum) > 0:
		return s.Enum[g.rng.IntN(len(s.Enum))]
	case s.Type.Permits("integer"):
		lo, hi := int64(0), int64(1000)
		if s.Min != nil {
			lo = int64(*s.Min)
		}
		if s.Max != nil {
			hi = int64(*s.Max)
		}
		return lo + g.rng.Int64N(hi-lo+1)
	case s.Type.Permits("string"):
		n := max(int(s.MinLength), 1+g.rng.IntN(12))
		if s.MaxLength != nil {
			n = min(n, int(*s.MaxLength))
		}
		const letters = "abcdefghijklmnopqrstuvwxyz0123456789_-"
		b := make([]byte, n)
		for i := range b {
			b[i] = letters[g.rng.IntN(len(letters))]
		}
		return string(b)
	case s.Type.Permits("array"):
		n := max(int(s.MinItems), 1)
		a := make([]any, n)
		for i := range a {
			a[i] = g.gen(s.Items.Value)
		}
		return a
	case s.Type.Permits("object"):
		m := map[string]any{}
		for _, name := range s.Required {
			m[name] = g.gen(s.Properties[name].Value)
		}
		return m
	}
	return nil
}

func cloneJSON(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
