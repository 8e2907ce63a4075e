package gateway

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/faultlab/faultlab/api/apitest"
	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/order"
	"github.com/faultlab/faultlab/services/payment"
	"github.com/faultlab/faultlab/services/product"
	"github.com/faultlab/faultlab/services/user"
)

const (
	bobEmail    = "bob@example.com"
	bobPassword = "bob-password"
)

// lab is the five services in-process with real HTTP between them.
type lab struct {
	clock                           *kittest.Clock
	gw                              *Service
	gwURL, userURL, prodURL, payURL string
	prodSwitch, paySwitch           *kittest.Switch
	payments                        *payment.Client
	products                        *product.Client
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{clock: kittest.NewClock()}
	keys := kittest.Keys
	orderURL := l.startShop(t, nil)
	var err error
	l.gw, err = New(Config{Base: kit.Base{Keys: auth.Keys{Gateway: keys.Gateway}, Now: l.clock.Now}, UserURL: l.userURL, ProductURL: l.prodURL, OrderURL: orderURL, PaymentURL: l.payURL})
	if err != nil {
		t.Fatal(err)
	}
	// Every request and answer through the gateway is checked against
	// api/openapi.yaml; an undocumented one fails the test.
	l.gwURL = kittest.Serve(t, apitest.Wrap(t, l.gw)).URL
	l.payments = payment.NewClient(l.payURL, nil, keys.Service)
	l.products = product.NewClient(l.prodURL, nil, keys.Service)
	return l
}

// startShop starts user (with bob's account; signing with key unless it
// is nil), product, payment and order in process, with real HTTP between
// them, product and payment behind switches. It fills in l's URLs and
// returns order's.
func (l *lab) startShop(t testing.TB, key ed25519.PrivateKey) (orderURL string) {
	t.Helper()
	keys := kittest.Keys
	argon := user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}
	ust, err := user.OpenStore(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	h, err := user.HashPassword(bobPassword, argon)
	if err != nil {
		t.Fatal(err)
	}
	us := kittest.Build(t, user.New, user.Config{Base: kit.Base{Keys: keys, Now: l.clock.Now}, Argon2: argon, Store: ust, SigningKey: key})
	// After New, which seeds only an empty store.
	if err := ust.CreateUser(context.Background(), user.User{ID: "usr_bob", Email: bobEmail, PasswordHash: h, Roles: []string{auth.RoleCustomer}}); err != nil {
		t.Fatal(err)
	}
	l.userURL = kittest.Serve(t, us).URL
	validator := auth.ValidatorFunc(user.NewClient(l.userURL, nil, keys.Service).ValidateToken)
	base := kit.Base{Keys: keys, Now: l.clock.Now}

	ps := kittest.Build(t, product.New, product.Config{Base: base, Tokens: kit.Tokens{Validator: validator, UserURL: l.userURL}})
	l.prodSwitch = &kittest.Switch{H: ps}
	l.prodURL = kittest.Serve(t, l.prodSwitch).URL
	pay := kittest.Build(t, payment.New, payment.Config{Base: base, Tokens: kit.Tokens{Validator: validator, UserURL: l.userURL}})
	l.paySwitch = &kittest.Switch{H: pay}
	l.payURL = kittest.Serve(t, l.paySwitch).URL
	os := kittest.Build(t, order.New, order.Config{Base: base, Tokens: kit.Tokens{Validator: validator, UserURL: l.userURL}, ProductURL: l.prodURL, PaymentURL: l.payURL})
	return kittest.Serve(t, os).URL
}

func (l *lab) login(t testing.TB, email, pw string) string {
	t.Helper()
	r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/login", user.LoginRequest{Email: email, Password: pw})
	if r.Status != http.StatusOK {
		t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	var lr user.LoginResponse
	r.JSON(t, &lr)
	return lr.AccessToken
}

func bearer(tok string) []string { return []string{"Authorization", "Bearer " + tok} }

func TestEndToEnd(t *testing.T) {
	l := newLab(t)
	alice := l.login(t, user.DemoCustomerEmail, user.DemoCustomerPassword)

	r := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/products?limit=2", nil)
	if r.Status != http.StatusOK || !strings.Contains(r.Header.Get("Link"), "http://127.0.0.1:8080/api/v1/products?limit=2&offset=2") {
		t.Fatalf("products: %d Link=%q %s", r.Status, r.Header.Get("Link"), r.Body)
	}
	var page product.Page
	r.JSON(t, &page)
	pid := page.Items[0].ID

	body := order.CreateRequest{Items: []product.Item{{ProductID: pid, Quantity: 2}}}
	first := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/orders", body, append(bearer(alice), kit.IdempotencyKeyHeader, "e2e-1")...)
	if first.Status != http.StatusCreated {
		t.Fatalf("order: %d %s", first.Status, first.Body)
	}
	var o order.Order
	first.JSON(t, &o)
	if o.Status != order.StatusConfirmed || first.Header.Get("Location") != "http://127.0.0.1:8080/api/v1/orders/"+o.ID {
		t.Fatalf("order %+v at %q", o, first.Header.Get("Location"))
	}

	got := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/orders/"+o.ID, nil, bearer(alice)...)
	if got.Status != http.StatusOK || !strings.Contains(string(got.Body), `"status":"confirmed"`) {
		t.Fatalf("read order: %d %s", got.Status, got.Body)
	}
	pay := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/payments/"+o.PaymentID, nil, bearer(alice)...)
	if pay.Status != http.StatusOK || !strings.Contains(string(pay.Body), fmt.Sprintf(`"amount":%d`, o.TotalCents)) {
		t.Fatalf("read payment: %d %s", pay.Status, pay.Body)
	}

	replay := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/orders", body, append(bearer(alice), kit.IdempotencyKeyHeader, "e2e-1")...)
	if replay.Status != first.Status || string(replay.Body) != string(first.Body) {
		t.Fatalf("replay: %d %s", replay.Status, replay.Body)
	}
	sum, err := l.payments.Summary(context.Background())
	if err != nil || sum.TotalCharges != 1 || len(sum.DuplicateOrders) != 0 {
		t.Fatalf("charges: %+v %v", sum, err)
	}
	other := order.CreateRequest{Items: []product.Item{{ProductID: pid, Quantity: 3}}}
	if r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/orders", other, append(bearer(alice), kit.IdempotencyKeyHeader, "e2e-1")...); r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s", r.Status, r.Body)
	}

	bob := l.login(t, bobEmail, bobPassword)
	for _, p := range []string{"/api/v1/orders/" + o.ID, "/api/v1/payments/" + o.PaymentID} {
		r := kittest.Call(t, http.MethodGet, l.gwURL+p, nil, bearer(bob)...)
		if r.Status != http.StatusNotFound {
			t.Fatalf("bob reads %s: %d", p, r.Status)
		}
		// The problem names the public path the client used, not the
		// upstream's internal route.
		var pb problem.Error
		r.JSON(t, &pb)
		if pb.Instance != p || pb.TraceID == "" || pb.Detail == "" {
			t.Fatalf("bob reads %s: problem %+v", p, pb)
		}
	}
	admin := l.login(t, user.DemoAdminEmail, user.DemoAdminPassword)
	if r := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/orders/"+o.ID, nil, bearer(admin)...); r.Status != http.StatusOK {
		t.Fatalf("admin reads the order: %d", r.Status)
	}
	np := product.CreateRequest{Name: "Game Day Cap", PriceCents: 1500, Stock: 3}
	if r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/products", np, bearer(alice)...); r.Status != http.StatusForbidden {
		t.Fatalf("customer creates product: %d", r.Status)
	}
	if r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/products", np, bearer(admin)...); r.Status != http.StatusCreated ||
		!strings.HasPrefix(r.Header.Get("Location"), "http://127.0.0.1:8080/api/v1/products/prd_") {
		t.Fatalf("admin creates product: %d %s", r.Status, r.Body)
	}
	st, err := l.products.Stock(context.Background())
	if err != nil || !st.Consistent || st.Sold != 2 || st.Reserved != 0 {
		t.Fatalf("stock: %+v %v", st, err)
	}

	t.Run("expired token", func(t *testing.T) {
		l.clock.Advance(15*time.Minute + time.Second)
		if r := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/orders", nil, bearer(alice)...); r.Status != http.StatusUnauthorized {
			t.Fatalf("expired: %d %s", r.Status, r.Body)
		}
	})
}

func TestGatewaySecurity(t *testing.T) {
	l := newLab(t)
	t.Run("brute force", func(t *testing.T) {
		for i := range 5 {
			r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/login", user.LoginRequest{Email: bobEmail, Password: "guess"})
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.Status)
			}
		}
		r := kittest.Call(t, http.MethodPost, l.gwURL+"/users/api/login", user.LoginRequest{Email: bobEmail, Password: bobPassword})
		if r.Status != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("locked: %d %q", r.Status, r.Header.Get("Retry-After"))
		}
	})
	t.Run("oversized body", func(t *testing.T) {
		big := `{"email":"` + strings.Repeat("a", DefaultMaxBody) + `"}`
		if r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/login", big); r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", r.Status)
		}
	})
	t.Run("direct calls to services", func(t *testing.T) {
		for _, tc := range []struct {
			url  string
			hdr  []string
			want int
		}{
			{l.prodURL + "/products", nil, http.StatusUnauthorized},
			{l.prodURL + "/products", []string{auth.GatewayKeyHeader, "wrong"}, http.StatusForbidden},
			{l.prodURL + "/products", []string{auth.GatewayKeyHeader, kittest.Keys.Gateway[:8]}, http.StatusForbidden},
			{l.prodURL + "/internal/stock", []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}, http.StatusForbidden},
			{l.payURL + "/internal/charges/summary", []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}, http.StatusForbidden},
		} {
			if r := kittest.Call(t, http.MethodGet, tc.url, nil, tc.hdr...); r.Status != tc.want {
				t.Fatalf("%s %v: %d, want %d", tc.url, tc.hdr, r.Status, tc.want)
			}
		}
	})
	t.Run("client keys are not forwarded", func(t *testing.T) {
		// With a service key smuggled in, the gateway still sends only its own key,
		// so product treats the call as the gateway's: no internal access anyway,
		// and the login is rate limited by the client's address.
		r := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/products", nil, auth.ServiceKeyHeader, kittest.Keys.Service, auth.GatewayKeyHeader, "forged")
		if r.Status != http.StatusOK {
			t.Fatalf("status %d %s", r.Status, r.Body)
		}
	})
	t.Run("path tricks", func(t *testing.T) {
		for _, p := range []string{
			"/internal/stock",
			"/api/v1/../internal/stock",
			"/api/v1/products/../../internal/stock",
			"/api/v1/products/..%2f..%2finternal%2fstock",
			"/api/v1/products/%2e%2e/%2e%2e/internal/stock",
			"/api/v1/products/%252e%252e/x",
			"/api/v1/products%2fprd_001",
			"//api/v1/products",
			"/api/v1/./products",
			"/api/v1/products/prd_001%00",
			"/api/v1/products/internal",
			"/api/v1/INTERNAL/stock",
			"/api/v1/products\\..\\internal",
		} {
			t.Run(p, func(t *testing.T) {
				if code := rawGet(t, l.gwURL, p); code != http.StatusNotFound {
					t.Fatalf("%s: %d", p, code)
				}
			})
		}
		if code := rawGet(t, l.gwURL, "/api/v1/products/prd_001"); code != http.StatusOK {
			t.Fatalf("control: %d", code)
		}
	})
}

// rawGet sends path byte for byte, as no well-behaved client would.
func rawGet(t testing.TB, base, path string) int {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n", path)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestStaleCatalogueAndUnavailablePayment(t *testing.T) {
	l := newLab(t)
	fresh := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/products?limit=3", nil)
	if fresh.Status != http.StatusOK || fresh.Header.Get(CacheStatusHeader) != "" {
		t.Fatalf("fresh: %d", fresh.Status)
	}
	l.prodSwitch.Down.Store(true)
	stale := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/products?limit=3", nil)
	if stale.Status != http.StatusOK || stale.Header.Get(CacheStatusHeader) != "stale" || string(stale.Body) != string(fresh.Body) {
		t.Fatalf("stale: %d %q", stale.Status, stale.Header.Get(CacheStatusHeader))
	}
	m := kittest.Call(t, http.MethodGet, l.gwURL+"/metrics", nil)
	if !strings.Contains(string(m.Body), `faultlab_fallback_total{kind="stale",name="catalogue"} 1`) {
		t.Fatalf("fallback counter missing from /metrics")
	}
	if r := kittest.Call(t, http.MethodGet, l.gwURL+"/api/v1/products?limit=4", nil); r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("uncached while down: %d", r.Status)
	}
	l.prodSwitch.Down.Store(false)

	alice := l.login(t, user.DemoCustomerEmail, user.DemoCustomerPassword)
	l.paySwitch.Down.Store(true)
	body := order.CreateRequest{Items: []product.Item{{ProductID: "prd_001", Quantity: 1}}}
	r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/orders", body, append(bearer(alice), kit.IdempotencyKeyHeader, "down-1")...)
	// payment took the request and died without answering: the charge may
	// have landed, so the order stays pending (stock held), never failed
	// with the money kept.
	if r.Status != http.StatusServiceUnavailable || r.Header.Get("Retry-After") == "" {
		t.Fatalf("payment down: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Body)
	}
	st, _ := l.products.Stock(context.Background())
	if !st.Consistent {
		t.Fatalf("stock inconsistent: %+v", st)
	}
	l.paySwitch.Down.Store(false)
	if r := kittest.Call(t, http.MethodPost, l.gwURL+"/api/v1/orders", body, append(bearer(alice), kit.IdempotencyKeyHeader, "down-1")...); r.Status != http.StatusCreated {
		t.Fatalf("retry: %d %s", r.Status, r.Body)
	}
	if st, _ := l.products.Stock(context.Background()); !st.Consistent || st.Reserved != 0 {
		t.Fatalf("stock after the retry: %+v", st)
	}
}
