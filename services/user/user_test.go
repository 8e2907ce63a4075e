package user

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit/kittest"
)

var fastArgon = Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}

type fixture struct {
	svc   *Service
	url   string
	clock *kittest.Clock
	key   ed25519.PrivateKey
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	clock := kittest.NewClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	cfg.Keys = kittest.Keys
	cfg.Argon2 = fastArgon
	if cfg.SigningKey == nil && cfg.DataDir == "" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cfg.SigningKey = k
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	srv := kittest.Serve(t, svc)
	return &fixture{svc: svc, url: srv.URL, clock: clock, key: cfg.SigningKey}
}

func (f *fixture) login(t testing.TB, email, pw string, headers ...string) kittest.Response {
	t.Helper()
	h := append([]string{auth.GatewayKeyHeader, kittest.Keys.Gateway}, headers...)
	return kittest.Call(t, http.MethodPost, f.url+RouteLogin, LoginRequest{Email: email, Password: pw}, h...)
}

func (f *fixture) token(t testing.TB) string {
	t.Helper()
	r := f.login(t, DemoCustomerEmail, DemoCustomerPassword)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var lr LoginResponse
	r.JSON(t, &lr)
	return lr.AccessToken
}

func (f *fixture) validate(t testing.TB, tok string) kittest.Response {
	t.Helper()
	return kittest.Call(t, http.MethodPost, f.url+RouteValidate, ValidateRequest{Token: tok},
		auth.ServiceKeyHeader, kittest.Keys.Service)
}

func TestLoginAndValidate(t *testing.T) {
	f := newFixture(t, Config{})
	r := f.login(t, "Alice@Example.com ", DemoCustomerPassword)
	if r.Status != http.StatusOK {
		t.Fatalf("login: %d %s", r.Status, r.Body)
	}
	var lr LoginResponse
	r.JSON(t, &lr)
	if lr.TokenType != "Bearer" || lr.ExpiresIn != 900 || lr.AccessToken == "" {
		t.Fatalf("login answer: %+v", lr)
	}
	tok, _, err := jwt.NewParser().ParseUnverified(lr.AccessToken, &claims{})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Header["kid"] != f.svc.KeyID() || tok.Header["alg"] != "EdDSA" {
		t.Fatalf("header: %v", tok.Header)
	}
	c := tok.Claims.(*claims)
	if c.Issuer != Issuer || len(c.Audience) != 1 || c.Audience[0] != Audience || c.ID == "" ||
		c.NotBefore == nil || c.IssuedAt == nil || !c.ExpiresAt.Time.Equal(f.clock.Now().Add(15*time.Minute).Truncate(time.Second)) {
		t.Fatalf("claims: %+v", c)
	}

	v := f.validate(t, lr.AccessToken)
	if v.Status != http.StatusOK {
		t.Fatalf("validate: %d %s", v.Status, v.Body)
	}
	var p auth.Principal
	v.JSON(t, &p)
	if p.UserID != DemoCustomerID || p.Email != DemoCustomerEmail || !p.HasRole(auth.RoleCustomer) || p.IsAdmin() || p.TokenID != c.ID {
		t.Fatalf("principal: %+v", p)
	}
}

func TestCallerKeys(t *testing.T) {
	f := newFixture(t, Config{})
	body := LoginRequest{Email: DemoCustomerEmail, Password: DemoCustomerPassword}
	for _, tc := range []struct {
		name    string
		route   string
		headers []string
		want    int
	}{
		{"login without key", RouteLogin, nil, http.StatusUnauthorized},
		{"login with wrong key", RouteLogin, []string{auth.GatewayKeyHeader, "nope"}, http.StatusForbidden},
		{"login with key prefix", RouteLogin, []string{auth.GatewayKeyHeader, kittest.Keys.Gateway[:10]}, http.StatusForbidden},
		{"login with key plus suffix", RouteLogin, []string{auth.GatewayKeyHeader, kittest.Keys.Gateway + "x"}, http.StatusForbidden},
		{"login with service key", RouteLogin, []string{auth.ServiceKeyHeader, kittest.Keys.Service}, http.StatusOK},
		{"validate with gateway key", RouteValidate, []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}, http.StatusForbidden},
		{"validate without key", RouteValidate, nil, http.StatusUnauthorized},
		{"validate with wrong service key", RouteValidate, []string{auth.ServiceKeyHeader, "x"}, http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kittest.Call(t, http.MethodPost, f.url+tc.route, body, tc.headers...)
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if r.Status >= 400 && r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("content type %q", r.Header.Get("Content-Type"))
			}
		})
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := kittest.Call(t, http.MethodGet, f.url+p, nil); r.Status != http.StatusOK {
			t.Fatalf("%s: %d", p, r.Status)
		}
	}
}

func TestBadCredentialsAndInput(t *testing.T) {
	f := newFixture(t, Config{LoginLimit: 100})
	gw := []string{auth.GatewayKeyHeader, kittest.Keys.Gateway}
	for _, tc := range []struct {
		name string
		body any
		hdr  []string
		want int
	}{
		{"wrong password", LoginRequest{DemoCustomerEmail, "wrong"}, nil, http.StatusUnauthorized},
		{"unknown email", LoginRequest{"bob@example.com", "whatever"}, nil, http.StatusUnauthorized},
		{"empty password", LoginRequest{DemoCustomerEmail, ""}, nil, http.StatusBadRequest},
		{"not an email", LoginRequest{"alice", "x"}, nil, http.StatusBadRequest},
		{"malformed JSON", `{"email":`, nil, http.StatusBadRequest},
		{"unknown field", `{"email":"a@b","password":"x","admin":true}`, nil, http.StatusBadRequest},
		{"wrong type", `{"email":1,"password":"x"}`, nil, http.StatusBadRequest},
		{"empty body", "", nil, http.StatusBadRequest},
		{"oversized body", `{"email":"a@b","password":"` + strings.Repeat("x", 10<<10) + `"}`, nil, http.StatusRequestEntityTooLarge},
		{"wrong content type", `{}`, []string{"Content-Type", "text/plain"}, http.StatusUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kittest.Call(t, http.MethodPost, f.url+RouteLogin, tc.body, append(gw, tc.hdr...)...)
			if r.Status != tc.want || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d (%s), want %d: %s", r.Status, r.Header.Get("Content-Type"), tc.want, r.Body)
			}
			if strings.Contains(string(r.Body), "alice-password") {
				t.Fatal("answer echoes the password")
			}
		})
	}
}

func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, mutate func(*claims)) string {
	t.Helper()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &claims{
		Email: "mallory@example.com", Roles: []string{auth.RoleAdmin},
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: Issuer, Subject: "usr_mallory", Audience: jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(10 * time.Minute)),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
			IssuedAt:  jwt.NewNumericDate(now.Add(-time.Minute)), ID: "j1",
		},
	}
	if mutate != nil {
		mutate(c)
	}
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenAttacks(t *testing.T) {
	f := newFixture(t, Config{})
	kid := f.svc.KeyID()
	pub := f.key.Public().(ed25519.PublicKey)
	_, other, _ := ed25519.GenerateKey(rand.Reader)
	good := f.token(t)

	if r := f.validate(t, sign(t, jwt.SigningMethodEdDSA, f.key, kid, nil)); r.Status != http.StatusOK {
		t.Fatalf("control token rejected: %d %s", r.Status, r.Body)
	}
	parts := strings.Split(good, ".")
	sig := []byte(parts[2])
	sig[5] ^= 1
	if sig[5] == '.' {
		sig[5] = 'A'
	}
	tampered := parts[0] + "." + parts[1] + "." + string(sig)
	// Swap the payload of a valid token for one granting admin.
	forged := strings.Split(sign(t, jwt.SigningMethodEdDSA, other, kid, nil), ".")[1]
	spliced := parts[0] + "." + forged + "." + parts[2]

	for _, tc := range []struct {
		name string
		tok  string
	}{
		{"tampered signature", tampered},
		{"spliced payload", spliced},
		{"alg none", sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, nil)},
		{"other Ed25519 key", sign(t, jwt.SigningMethodEdDSA, other, kid, nil)},
		{"HS256 with the public key", sign(t, jwt.SigningMethodHS256, []byte(pub), kid, nil)},
		{"HS256 with the PEM-less public key bytes", sign(t, jwt.SigningMethodHS256, []byte(string(pub)), "", nil)},
		{"unknown kid", sign(t, jwt.SigningMethodEdDSA, f.key, "deadbeefdeadbeef", nil)},
		{"no kid", sign(t, jwt.SigningMethodEdDSA, f.key, "", nil)},
		{"expired", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) {
			c.ExpiresAt = jwt.NewNumericDate(f.clock.Now().Add(-time.Second))
		})},
		{"no exp", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) { c.ExpiresAt = nil })},
		{"nbf in the future", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) {
			c.NotBefore = jwt.NewNumericDate(f.clock.Now().Add(time.Minute))
		})},
		{"wrong aud", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) { c.Audience = jwt.ClaimStrings{"other"} })},
		{"wrong iss", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) { c.Issuer = "evil" })},
		{"no subject", sign(t, jwt.SigningMethodEdDSA, f.key, kid, func(c *claims) { c.Subject = "" })},
		{"garbage", "not.a.token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.validate(t, tc.tok)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", r.Status, r.Body)
			}
		})
	}

	t.Run("expires with the clock", func(t *testing.T) {
		f.clock.Advance(15*time.Minute + time.Second)
		if r := f.validate(t, good); r.Status != http.StatusUnauthorized {
			t.Fatalf("expired token: %d", r.Status)
		}
	})
}

func TestBruteForceLimit(t *testing.T) {
	f := newFixture(t, Config{})
	t.Run("per account", func(t *testing.T) {
		for i := range 5 {
			if r := f.login(t, DemoCustomerEmail, "wrong", "X-Forwarded-For", "10.0.0."+strconv.Itoa(i+1)); r.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.Status)
			}
		}
		r := f.login(t, DemoCustomerEmail, DemoCustomerPassword, "X-Forwarded-For", "10.0.1.1")
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("6th attempt: %d %s", r.Status, r.Body)
		}
		ra, err := strconv.Atoi(r.Header.Get("Retry-After"))
		if err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
		}
		// Another account is not affected.
		if r := f.login(t, DemoAdminEmail, DemoAdminPassword, "X-Forwarded-For", "10.0.1.2"); r.Status != http.StatusOK {
			t.Fatalf("admin login: %d", r.Status)
		}
		f.clock.Advance(time.Minute + time.Second)
		if r := f.login(t, DemoCustomerEmail, DemoCustomerPassword, "X-Forwarded-For", "10.0.1.1"); r.Status != http.StatusOK {
			t.Fatalf("after the window: %d %s", r.Status, r.Body)
		}
	})
	t.Run("per client IP behind the gateway", func(t *testing.T) {
		for i := range 5 {
			email := "nobody" + strconv.Itoa(i) + "@example.com"
			if r := f.login(t, email, "wrong", "X-Forwarded-For", "192.0.2.7"); r.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.Status)
			}
		}
		if r := f.login(t, DemoAdminEmail, DemoAdminPassword, "X-Forwarded-For", "192.0.2.7"); r.Status != http.StatusTooManyRequests {
			t.Fatalf("same IP: %d", r.Status)
		}
		if r := f.login(t, DemoAdminEmail, DemoAdminPassword, "X-Forwarded-For", "192.0.2.8"); r.Status != http.StatusOK {
			t.Fatalf("other IP: %d", r.Status)
		}
	})
	t.Run("X-Forwarded-For is ignored without the gateway key", func(t *testing.T) {
		f := newFixture(t, Config{})
		for i := range 5 {
			r := kittest.Call(t, http.MethodPost, f.url+RouteLogin, LoginRequest{"x" + strconv.Itoa(i) + "@example.com", "bad"},
				auth.ServiceKeyHeader, kittest.Keys.Service, "X-Forwarded-For", "198.51.100."+strconv.Itoa(i))
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.Status)
			}
		}
		// All five came from 127.0.0.1 despite the spoofed header.
		r := kittest.Call(t, http.MethodPost, f.url+RouteLogin, LoginRequest{DemoAdminEmail, DemoAdminPassword},
			auth.ServiceKeyHeader, kittest.Keys.Service)
		if r.Status != http.StatusTooManyRequests {
			t.Fatalf("status %d", r.Status)
		}
	})
}

func TestRestartKeepsUsersAndKey(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, Config{DataDir: dir})
	tok := f.token(t)
	if err := f.svc.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	g := newFixture(t, Config{DataDir: dir})
	if r := g.validate(t, tok); r.Status != http.StatusOK {
		t.Fatalf("token from before the restart: %d %s", r.Status, r.Body)
	}
	if g.token(t) == "" {
		t.Fatal("no token after restart")
	}
}

func TestClient(t *testing.T) {
	f := newFixture(t, Config{})
	c := NewClient(f.url, nil, kittest.Keys.Service)
	ctx := context.Background()
	p, err := c.ValidateToken(ctx, f.token(t))
	if err != nil || p.UserID != DemoCustomerID {
		t.Fatalf("valid token: %+v %v", p, err)
	}
	if _, err := c.ValidateToken(ctx, "x.y.z"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("invalid token: %v", err)
	}
	bad := NewClient(f.url, nil, "wrong")
	if _, err := bad.ValidateToken(ctx, "x.y.z"); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("wrong key: %v", err)
	}
	down := NewClient("http://127.0.0.1:1", nil, kittest.Keys.Service)
	_, err = down.ValidateToken(ctx, "x.y.z")
	if !errors.Is(err, auth.ErrUnavailable) || errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("down: %v", err)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("s3cret", fastArgon)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("hash %q", h)
	}
	for _, tc := range []struct {
		pw, hash string
		ok       bool
		err      bool
	}{
		{"s3cret", h, true, false},
		{"s3cret!", h, false, false},
		{"s3cret", strings.Replace(h, "m=64", "m=99999999", 1), false, true},
		{"s3cret", "$argon2i$v=19$m=64,t=1,p=1$abc$def", false, true},
		{"s3cret", "plain", false, true},
	} {
		ok, err := verifyPassword(tc.pw, tc.hash)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("verify(%q, %q) = %v, %v", tc.pw, tc.hash, ok, err)
		}
	}
}
