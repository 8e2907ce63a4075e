package gateway

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/hop"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/server"
	"github.com/faultlab/faultlab/resilience"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
)

// attackLab is newLab with a signing key the test knows (to forge tokens
// that differ from real ones in one claim only) and the gateway served by
// server.New on a real listener (so header limits are the production ones).
type attackLab struct {
	*lab
	key     ed25519.PrivateKey
	srv     *http.Server
	reached atomic.Int64 // requests that reached the gateway's handler
	// transports are the gateway's resilience clients, by upstream.
	transports map[string]*resilience.Transport
}

func newAttackLab(t *testing.T) *attackLab {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	a := &attackLab{lab: &lab{clock: kittest.NewClock()}, key: key}
	l, keys := a.lab, kittest.Keys
	orderURL := l.startShop(t, key)
	// The gateway as `faultlab up` builds it: a real resilience client per
	// upstream with the lab's policy (hop.New), and the deadline middleware
	// in Wrap. Before issue 17 this lab used plain clients, and so missed
	// that the resilience client turned user's 429 into "user is
	// temporarily unavailable" and counted it against its breaker.
	metrics := resilience.NewMetrics(nil)
	clients := map[string]*http.Client{}
	a.transports = map[string]*resilience.Transport{}
	for _, up := range []string{"user", "product", "order", "payment"} {
		tr, err := hop.New("gateway", up, hop.ScenarioPolicy, nil, metrics)
		if err != nil {
			t.Fatal(err)
		}
		a.transports[up] = tr
		clients[up] = tr.Client()
	}
	l.gw, err = New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: keys.Gateway}, Now: l.clock.Now, Wrap: resilience.Deadline(30 * time.Second)},
		UserURL: l.userURL, ProductURL: l.prodURL, OrderURL: orderURL, PaymentURL: l.payURL,
		UserClient: clients["user"], ProductClient: clients["product"], OrderClient: clients["order"], PaymentClient: clients["payment"]})
	if err != nil {
		t.Fatal(err)
	}
	checked := apitest.Wrap(t, l.gw) // every answer against api/openapi.yaml
	counted := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.reached.Add(1)
		checked.ServeHTTP(w, r)
	})
	a.srv = server.New(counted, nil)
	// Short enough for a test; the default (5s) is checked in internal/server.
	a.srv.ReadHeaderTimeout = 300 * time.Millisecond
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, a.srv, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	l.gwURL = "http://" + ln.Addr().String()
	l.payments = payment.NewClient(l.payURL, nil, keys.Service)
	l.products = product.NewClient(l.prodURL, nil, keys.Service)
	return a
}

// forge signs an admin token for mallory, valid in every way unless
// mutate changes it.
func (a *attackLab) forge(t testing.TB, method jwt.SigningMethod, key any, mutate func(h, c map[string]any)) string {
	t.Helper()
	now := a.clock.Now()
	c := jwt.MapClaims{
		"iss": user.Issuer, "aud": []string{user.Audience}, "sub": "usr_mallory",
		"email": "mallory@example.com", "roles": []string{auth.RoleAdmin}, "jti": "forged",
		"exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Add(-time.Minute).Unix(),
	}
	tok := jwt.NewWithClaims(method, c)
	tok.Header["kid"] = user.KeyID(a.key.Public().(ed25519.PublicKey))
	if mutate != nil {
		mutate(tok.Header, c)
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// effects is everything an attack could change.
type effects struct {
	Products, Initial, Reserved, Sold, Charges, AliceOrders int
}

func (a *attackLab) effects(t testing.TB, alice string) effects {
	t.Helper()
	ctx := context.Background()
	st, err := a.products.Stock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum, err := a.payments.Summary(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var page product.Page
	kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/products?limit=1", nil).JSON(t, &page)
	var list order.List
	kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/orders", nil, bearer(alice)...).JSON(t, &list)
	return effects{Products: page.Total, Initial: int(st.Initial), Reserved: int(st.Reserved), Sold: int(st.Sold),
		Charges: sum.TotalCharges, AliceOrders: len(list.Items)}
}

// raw sends a request byte for byte from the loopback address from
// (e.g. "127.0.0.5"; "" for any) and reads the answer.
func raw(t testing.TB, base, from, req string) kittest.Response {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req[:min(len(req), 60)], err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return kittest.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

func post(path, from string, body any, hdr ...string) func(*testing.T, *attackLab) kittest.Response {
	return func(t *testing.T, a *attackLab) kittest.Response {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		fmt.Fprintf(&sb, "POST %s HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", path, len(b))
		for i := 0; i+1 < len(hdr); i += 2 {
			fmt.Fprintf(&sb, "%s: %s\r\n", hdr[i], hdr[i+1])
		}
		sb.WriteString("\r\n")
		sb.Write(b)
		return raw(t, a.gwURL, from, sb.String())
	}
}

// TestAttacks runs every attack of issue 7 against the real gateway and
// services: each must get a 4xx problem+json and change nothing.
// docs/SECURITY.md maps each case to its defence.
func TestAttacks(t *testing.T) {
	a := newAttackLab(t)
	alice := a.login(t, user.DemoCustomerEmail, user.DemoCustomerPassword)
	bob := a.login(t, bobEmail, bobPassword)
	admin := a.login(t, user.DemoAdminEmail, user.DemoAdminPassword)
	// Alice's order, for bob to try to read.
	mine := kittest.Call(t, http.MethodPost, a.gwURL+"/api/v1/orders",
		order.CreateRequest{Items: []product.Item{{ProductID: "prd_001", Quantity: 1}}},
		append(bearer(alice), kit.IdempotencyKeyHeader, "attacks-1")...)
	if mine.Status != http.StatusCreated {
		t.Fatalf("alice's order: %d %s", mine.Status, mine.Body)
	}
	var aliceOrder order.Order
	mine.JSON(t, &aliceOrder)

	np := product.CreateRequest{Name: "Forged Cap", PriceCents: 1500, Currency: "EUR", Stock: 7}
	gw, ks := kittest.Keys.Gateway, kittest.Keys.Service
	other := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	pubBytes := []byte(a.key.Public().(ed25519.PublicKey))
	reserve := product.ReserveRequest{ID: "res_attack", Items: []product.Item{{ProductID: "prd_001", Quantity: 5}}}
	charge := payment.ChargeRequest{OrderID: "ord_attack", AmountCents: 100, Currency: "EUR"}
	asAdmin := func(tok string) []string { return []string{"Authorization", "Bearer " + tok} }
	direct := func(base func() string, method, path string, body any, hdr ...string) func(*testing.T, *attackLab) kittest.Response {
		return func(t *testing.T, a *attackLab) kittest.Response {
			return kittest.Call(t, method, base()+path, body, hdr...)
		}
	}
	prod := func() string { return a.prodURL }
	pay := func() string { return a.payURL }
	adminTok := a.forge(t, jwt.SigningMethodEdDSA, a.key, nil) // control: accepted
	brute := func(from, email string) func(*testing.T, *attackLab) kittest.Response {
		return post("/api/v1/login", from, user.LoginRequest{Email: email, Password: "guess"})
	}

	cases := []struct {
		name string
		do   func(*testing.T, *attackLab) kittest.Response
		want int
		// raw: net/http answers before any handler, in text/plain.
		plain bool
	}{
		{"jwt/alg none", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil))...), 401, false},
		{"jwt/HS256 signed with the public key", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodHS256, pubBytes, nil))...), 401, false},
		{"jwt/signed by another key", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, other, nil))...), 401, false},
		{"jwt/expired", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, a.key, func(_, c map[string]any) {
			c["exp"] = a.clock.Now().Add(-time.Second).Unix()
		}))...), 401, false},
		{"jwt/nbf in the future", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, a.key, func(_, c map[string]any) {
			c["nbf"] = a.clock.Now().Add(5 * time.Minute).Unix()
		}))...), 401, false},
		{"jwt/wrong aud", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, a.key, func(_, c map[string]any) { c["aud"] = []string{"other"} }))...), 401, false},
		{"jwt/wrong iss", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, a.key, func(_, c map[string]any) { c["iss"] = "evil" }))...), 401, false},
		{"jwt/unknown kid", post("/api/v1/products", "", np, asAdmin(a.forge(t, jwt.SigningMethodEdDSA, a.key, func(h, _ map[string]any) { h["kid"] = "deadbeefdeadbeef" }))...), 401, false},

		{"key/gateway key missing", direct(prod, http.MethodPost, "/products", np, asAdmin(adminTok)...), 401, false},
		{"key/gateway key wrong", direct(prod, http.MethodPost, "/products", np, append(asAdmin(adminTok), auth.GatewayKeyHeader, "wrong")...), 403, false},
		{"key/gateway key prefix", direct(prod, http.MethodPost, "/products", np, append(asAdmin(adminTok), auth.GatewayKeyHeader, gw[:8])...), 403, false},
		{"key/gateway key extended", direct(prod, http.MethodPost, "/products", np, append(asAdmin(adminTok), auth.GatewayKeyHeader, gw+"x")...), 403, false},
		{"key/service key missing", direct(prod, http.MethodPost, product.RouteReservations, reserve), 401, false},
		{"key/service key wrong", direct(prod, http.MethodPost, product.RouteReservations, reserve, auth.ServiceKeyHeader, "wrong"), 403, false},
		{"key/service key prefix", direct(prod, http.MethodPost, product.RouteReservations, reserve, auth.ServiceKeyHeader, ks[:8]), 403, false},
		{"key/service key extended", direct(prod, http.MethodPost, product.RouteReservations, reserve, auth.ServiceKeyHeader, ks+"x"), 403, false},
		{"key/gateway key on an internal route", direct(prod, http.MethodPost, product.RouteReservations, reserve, auth.GatewayKeyHeader, gw), 403, false},
		{"key/charge with a wrong service key", direct(pay, http.MethodPost, payment.RoutePayments, charge, auth.ServiceKeyHeader, ks[:len(ks)-1], kit.IdempotencyKeyHeader, "attack-charge"), 403, false},

		{"path/internal", post("/internal/reservations", "", reserve), 404, false},
		{"path/dot-dot", post("/api/v1/../internal/reservations", "", reserve), 404, false},
		{"path/dot-dot past products", post("/api/v1/products/../../internal/reservations", "", reserve), 404, false},
		{"path/encoded slashes", post("/api/v1/products/..%2f..%2finternal%2freservations", "", reserve), 404, false},
		{"path/encoded dots", post("/api/v1/products/%2e%2e/%2e%2e/internal/reservations", "", reserve), 404, false},
		{"path/double encoding", post("/api/v1/products/%252e%252e%252f%252e%252e%252finternal%252freservations", "", reserve), 404, false},
		{"path/upper case internal", post("/api/v1/INTERNAL/reservations", "", reserve), 404, false},
		{"path/charges summary", post("/internal/charges/summary", "", nil), 404, false},
		{"path/encoded product id", post("/api/v1/products%2f..%2fproducts", "", np, asAdmin(admin)...), 404, false},

		{"size/oversized body", post("/api/v1/products", "", product.CreateRequest{Name: "Big", Description: strings.Repeat("x", DefaultMaxBody), PriceCents: 1, Currency: "EUR", Stock: 7}, asAdmin(admin)...), 413, false},
		{"size/oversized headers", post("/api/v1/products", "", np, append(asAdmin(admin), "X-Padding", strings.Repeat("p", 2*server.DefaultMaxHeaderBytes))...), 431, true},

		{"role/customer creates a product", post("/api/v1/products", "", np, asAdmin(alice)...), 403, false},
		{"role/customer reads another user's order", func(t *testing.T, a *attackLab) kittest.Response {
			return kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/orders/"+aliceOrder.ID, nil, bearer(bob)...)
		}, 404, false},
		{"role/customer reads another user's payment", func(t *testing.T, a *attackLab) kittest.Response {
			return kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/payments/"+aliceOrder.PaymentID, nil, bearer(bob)...)
		}, 404, false},

		// Bob's account from five addresses, then his right password from a sixth.
		{"brute/per account", func(t *testing.T, a *attackLab) kittest.Response {
			for i := range user.DefaultLoginLimit {
				if r := brute(fmt.Sprintf("127.0.1.%d", i+1), bobEmail)(t, a); r.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %d", i, r.Status)
				}
			}
			return post("/api/v1/login", "127.0.1.100", user.LoginRequest{Email: bobEmail, Password: bobPassword})(t, a)
		}, 429, false},
		// Five accounts from one address (a forged X-Forwarded-For does not
		// help), then alice's right password from it.
		{"brute/per client", func(t *testing.T, a *attackLab) kittest.Response {
			for i := range user.DefaultLoginLimit {
				r := post("/api/v1/login", "127.0.2.1", user.LoginRequest{Email: fmt.Sprintf("victim%d@example.com", i), Password: "guess"},
					"X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))(t, a)
				if r.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %d", i, r.Status)
				}
			}
			return post("/api/v1/login", "127.0.2.1", user.LoginRequest{Email: user.DemoCustomerEmail, Password: user.DemoCustomerPassword})(t, a)
		}, 429, false},
	}

	// Controls: the same requests, done right, do get through, so each
	// case fails only for the one thing it changes.
	if r := post("/api/v1/products", "", np, asAdmin(adminTok)...)(t, a); r.Status != http.StatusCreated {
		t.Fatalf("control: an unforged admin token: %d %s", r.Status, r.Body)
	}
	if r := direct(prod, http.MethodPost, "/products", np, append(asAdmin(adminTok), auth.GatewayKeyHeader, gw)...)(t, a); r.Status != http.StatusCreated {
		t.Fatalf("control: the right gateway key: %d %s", r.Status, r.Body)
	}
	if r := post("/api/v1/login", "127.0.3.1", user.LoginRequest{Email: bobEmail, Password: bobPassword})(t, a); r.Status != http.StatusOK {
		t.Fatalf("control login: %d %s", r.Status, r.Body)
	}
	if r := direct(prod, http.MethodPost, product.RouteReservations, product.ReserveRequest{ID: "res_control", Items: reserve.Items}, auth.ServiceKeyHeader, ks)(t, a); r.Status >= 300 {
		t.Fatalf("control reservation: %d %s", r.Status, r.Body)
	}
	if _, err := a.products.Release(context.Background(), "res_control"); err != nil {
		t.Fatalf("control release: %v", err)
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.effects(t, alice)
			r := tc.do(t, a)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			ct := r.Header.Get("Content-Type")
			if !tc.plain && ct != "application/problem+json" {
				t.Fatalf("Content-Type %q, want application/problem+json: %s", ct, r.Body)
			}
			if tc.want == http.StatusTooManyRequests && r.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
			if strings.Contains(string(r.Body), "access_token") {
				t.Fatalf("answer carries a token: %s", r.Body)
			}
			if after := a.effects(t, alice); after != before {
				t.Fatalf("attack had an effect: before %+v, after %+v", before, after)
			}
		})
	}

	// Dozens of refused logins must not make user look unavailable.
	t.Run("brute/breaker on user stays closed", func(t *testing.T) {
		for i := range 20 {
			r := brute("127.0.2.1", fmt.Sprintf("spray%d@example.com", i))(t, a)
			if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
				t.Fatalf("attempt %d: %d %s, want 429 with Retry-After", i, r.Status, r.Body)
			}
		}
		if st := a.transports["user"].State(); st != "closed" {
			t.Fatalf("gateway's breaker on user is %s", st)
		}
		if r := post("/api/v1/login", "127.0.4.1", user.LoginRequest{Email: user.DemoAdminEmail, Password: user.DemoAdminPassword})(t, a); r.Status != http.StatusOK {
			t.Fatalf("admin from another address: %d %s", r.Status, r.Body)
		}
	})

	t.Run("role/another user's order looks missing", func(t *testing.T) {
		theirs := kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/orders/"+aliceOrder.ID, nil, bearer(bob)...)
		missing := kittest.Call(t, http.MethodGet, a.gwURL+"/api/v1/orders/ord_doesnotexist", nil, bearer(bob)...)
		if theirs.Status != missing.Status || theirs.Header.Get("Content-Type") != missing.Header.Get("Content-Type") {
			t.Fatalf("theirs %d %q, missing %d %q", theirs.Status, theirs.Header.Get("Content-Type"), missing.Status, missing.Header.Get("Content-Type"))
		}
		if s, m := shape(t, theirs.Body), shape(t, missing.Body); s != m {
			t.Fatalf("bodies differ:\ntheirs  %s\nmissing %s", s, m)
		}
		// instance echoes the path the client sent; nothing else may
		// tell that the order exists.
		if s := shape(t, theirs.Body); strings.Contains(s, aliceOrder.ID) || strings.Contains(s, "usr_") {
			t.Fatalf("answer tells about the order: %s", theirs.Body)
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		n := a.reached.Load()
		c, err := net.Dial("tcp", strings.TrimPrefix(a.gwURL, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := io.WriteString(c, "GET /api/v1/products HTTP/1.1\r\nHost: gateway\r\n"); err != nil {
			t.Fatal(err)
		}
		// Dribble a header byte at a time, well past ReadHeaderTimeout, and
		// expect the server to hang up.
		closed := false
		deadline := time.Now().Add(10 * a.srv.ReadHeaderTimeout)
		for time.Now().Before(deadline) {
			_ = c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := io.WriteString(c, "X"); err != nil {
				closed = true
				break
			}
			_ = c.SetReadDeadline(time.Now().Add(a.srv.ReadHeaderTimeout / 4))
			if _, err := c.Read(make([]byte, 512)); err != nil && !isTimeout(err) {
				closed = true
				break
			}
		}
		if !closed {
			t.Fatalf("connection still open after %v of slow headers", 10*a.srv.ReadHeaderTimeout)
		}
		if got := a.reached.Load(); got != n {
			t.Fatalf("%d requests reached the handler", got-n)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// shape is a problem body without its per-request fields.
func shape(t testing.TB, b []byte) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %s", b)
	}
	delete(m, "instance")
	delete(m, "trace_id")
	out, _ := json.Marshal(m)
	return string(out)
}
