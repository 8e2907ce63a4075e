package user_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/services/user"
)

// fuzzKey is a fixed signing key, so that tokens minted with it, and the
// regression seeds in testdata derived from them, are the same every run.
var fuzzKey = ed25519.NewKeyFromSeed([]byte("faultlab-fuzz-signing-key-seed!!"))

func newService(tb testing.TB) (*user.Service, *kittest.Clock) {
	tb.Helper()
	key := fuzzKey
	clock := kittest.NewClock()
	svc := kittest.Build(tb, user.New, user.Config{Base: kit.Base{Keys: kittest.Keys, Now: clock.Now}, SigningKey: key, Argon2: user.Argon2Params{Time: 1, MemoryKiB: 64, Threads: 1}})
	return svc, clock
}

func login(h http.Handler, body []byte) *httptest.ResponseRecorder {
	return kittest.Record(h, http.MethodPost, user.RouteLogin, body, auth.GatewayKeyHeader, kittest.Keys.Gateway)
}

func validate(h http.Handler, tok string) *httptest.ResponseRecorder {
	b, _ := json.Marshal(user.ValidateRequest{Token: tok})
	return kittest.Record(h, http.MethodPost, user.RouteValidate, b, auth.ServiceKeyHeader, kittest.Keys.Service)
}

// strictLogin decodes body as the contract says: one JSON object with only
// the known fields.
func strictLogin(body []byte) (user.LoginRequest, bool) {
	var req user.LoginRequest
	if !kittest.StrictJSON(body, &req) {
		return req, false
	}
	// The shared decoder refuses a key given twice (issue 10).
	if _, dup := problem.DuplicateKey(body); dup {
		return req, false
	}
	return req, true
}

// demoUser returns the id of the demo account that req logs in as, or "".
func demoUser(req user.LoginRequest) string {
	email := strings.ToLower(strings.TrimSpace(req.Email))
	switch {
	case email == user.DemoCustomerEmail && req.Password == user.DemoCustomerPassword:
		return user.DemoCustomerID
	case email == user.DemoAdminEmail && req.Password == user.DemoAdminPassword:
		return user.DemoAdminID
	}
	return ""
}

// FuzzLogin: any login body is answered 200/400/401/413/415/429; 200 only
// for a demo account's credentials, with a token that validates as that
// account; those credentials are never refused as wrong (401).
func FuzzLogin(f *testing.F) {
	for _, s := range []string{
		`{"email":"alice@example.com","password":"alice-password"}`,
		`{"email":" Admin@Example.COM ","password":"admin-password"}`,
		`{"email":"alice@example.com","password":"wrong"}`,
		`{"email":"nobody@example.com","password":"x"}`,
		`{"email":"alice","password":"alice-password"}`,
		`{"email":"alice@example.com","password":""}`,
		`{"email":"alice@example.com","password":"alice-password","extra":1}`,
		`{"email":"alice@example.com","password":"alice-password"} {}`,
		`{"email":1}`, `null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	svc, clock := newService(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		// Lockouts (five failures a minute) come and go as the fuzzer runs.
		clock.Advance(20 * time.Second)
		w := login(svc, body)
		switch w.Code {
		case 200, 400, 401, 413, 415, 429:
		default:
			t.Fatalf("login %q: status %d %s", body, w.Code, w.Body)
		}
		req, ok := strictLogin(body)
		id := ""
		if ok {
			id = demoUser(req)
		}
		if id != "" && w.Code != http.StatusOK && w.Code != http.StatusTooManyRequests {
			t.Fatalf("login %q with right credentials: status %d %s", body, w.Code, w.Body)
		}
		if w.Code != http.StatusOK {
			return
		}
		if id == "" {
			t.Fatalf("login %q without right credentials: 200 %s", body, w.Body)
		}
		var lr user.LoginResponse
		if err := json.Unmarshal(w.Body.Bytes(), &lr); err != nil || lr.AccessToken == "" {
			t.Fatalf("200 body %s: %v", w.Body, err)
		}
		v := validate(svc, lr.AccessToken)
		var p auth.Principal
		if v.Code != http.StatusOK || json.Unmarshal(v.Body.Bytes(), &p) != nil || p.UserID != id {
			t.Fatalf("issued token for %s validates as %d %s", id, v.Code, v.Body)
		}
	})
}

// mint signs claims for sub as the service would (EdDSA with its key and
// kid); with the fixed key and clock the result is the same every run.
func mint(tb testing.TB, sub string) string {
	tb.Helper()
	now := kittest.NewClock().Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims{
		"iss": user.Issuer, "aud": []string{user.Audience}, "sub": sub, "roles": []string{auth.RoleCustomer},
		"exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Unix(), "iat": now.Unix(), "jti": "fuzz",
	})
	tok.Header["kid"] = user.KeyID(fuzzKey.Public().(ed25519.PublicKey))
	s, err := tok.SignedString(fuzzKey)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// flipPadBit returns the base64url digit c with its lowest bit flipped: in
// the last digit of a 64-byte signature that bit encodes nothing.
func flipPadBit(c byte) string {
	const digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	i := strings.IndexByte(digits, c)
	return digits[i^1 : i^1+1]
}

// forged returns tokens the service did not issue, built from a real one.
func forged(tb testing.TB, svc *user.Service, real string) map[string]string {
	tb.Helper()
	parts := strings.Split(real, ".")
	b64 := base64.RawURLEncoding
	claims := jwt.MapClaims{
		"iss": user.Issuer, "aud": user.Audience, "sub": user.DemoAdminID, "roles": []string{auth.RoleAdmin},
		"exp": kittest.NewClock().Now().Add(time.Hour).Unix(), "iat": kittest.NewClock().Now().Unix(),
	}
	sign := func(m jwt.SigningMethod, key any) string {
		tok := jwt.NewWithClaims(m, claims)
		tok.Header["kid"] = svc.KeyID()
		s, err := tok.SignedString(key)
		if err != nil {
			tb.Fatal(err)
		}
		return s
	}
	_, other, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	return map[string]string{
		"alg-none":      sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType),
		"hs256":         sign(jwt.SigningMethodHS256, []byte(svc.KeyID())),
		"other-key":     sign(jwt.SigningMethodEdDSA, other),
		"swapped-claim": parts[0] + "." + b64.EncodeToString(payload) + "." + parts[2],
		"truncated":     real[:len(real)-10],
		"no-signature":  parts[0] + "." + parts[1] + ".",
		"garbage":       "not.a.jwt",
		// The same signature bytes, spelt differently: base64 ignores
		// CR/LF and the unused low bits of the last character.
		"sig-newline":   real[:len(real)-5] + "\n" + real[len(real)-5:],
		"sig-last-bits": real[:len(real)-1] + flipPadBit(real[len(real)-1]),
	}
}

// FuzzValidateToken: the validate endpoint answers 413 for a body over
// MaxValidateBody, 200 only for a token the service issued, 400 for an empty
// one, 401 otherwise; never 5xx.
func FuzzValidateToken(f *testing.F) {
	svc, _ := newService(f)
	// Seeds must be the same in every fuzz worker, so the fuzzed "issued"
	// token is minted with the service's fixed key rather than logged in
	// (login tokens carry a random jti). A login token validates too.
	b, _ := json.Marshal(user.LoginRequest{Email: user.DemoCustomerEmail, Password: user.DemoCustomerPassword})
	var lr user.LoginResponse
	if w := login(svc, b); w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &lr) != nil {
		f.Fatalf("login: %d %s", w.Code, w.Body)
	}
	if w := validate(svc, lr.AccessToken); w.Code != http.StatusOK {
		f.Fatalf("login token: %d %s", w.Code, w.Body)
	}
	real := mint(f, "usr_minted")
	issued := map[string]string{real: "usr_minted"} // token → user id
	f.Add(real)
	for name, tok := range forged(f, svc, real) {
		if w := validate(svc, tok); w.Code != http.StatusUnauthorized {
			f.Fatalf("%s token: %d %s", name, w.Code, w.Body)
		}
		f.Add(tok)
	}
	f.Add("")
	f.Add("Bearer " + real)
	f.Fuzz(func(t *testing.T, tok string) {
		w := validate(svc, tok)
		// The service sees the token after a JSON round trip (invalid UTF-8
		// becomes U+FFFD).
		b, _ := json.Marshal(user.ValidateRequest{Token: tok})
		var seen user.ValidateRequest
		if err := json.Unmarshal(b, &seen); err != nil {
			t.Fatal(err)
		}
		id, ok := issued[seen.Token]
		switch {
		case len(b) > user.MaxValidateBody:
			if w.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("%d-byte body: %d %s", len(b), w.Code, w.Body)
			}
			return
		case ok && w.Code != http.StatusOK:
			t.Fatalf("issued token refused: %d %s", w.Code, w.Body)
		case seen.Token == "" && w.Code != http.StatusBadRequest:
			t.Fatalf("empty token: %d %s", w.Code, w.Body)
		case !ok && seen.Token != "" && w.Code != http.StatusUnauthorized:
			t.Fatalf("token %q not issued by the service: %d %s", seen.Token, w.Code, w.Body)
		}
		if w.Code == http.StatusOK {
			var p auth.Principal
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.UserID != id {
				t.Fatalf("principal %s, want user %s: %v", w.Body, id, err)
			}
		}
	})
}
