package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/faultlab/faultlab/internal/problem"
)

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		got, want string
		ok        bool
	}{
		{"s3cret", "s3cret", true},
		{"s3cre", "s3cret", false},   // a prefix is not the key
		{"s3cretX", "s3cret", false}, // nor is a longer string
		{"S3cret", "s3cret", false},
		{"", "", false}, // an unset key never matches: fail closed
		{"anything", "", false},
	} {
		if got := Equal(tc.got, tc.want); got != tc.ok {
			t.Errorf("Equal(%q, %q) = %v, want %v", tc.got, tc.want, got, tc.ok)
		}
	}
}

func TestBearerToken(t *testing.T) {
	for _, tc := range []struct {
		header, tok string
		ok          bool
	}{
		{"Bearer abc.def.ghi", "abc.def.ghi", true},
		{"bearer abc", "abc", true},
		{"BEARER  abc ", "abc", true},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Basic dXNlcjpwYXNz", "", false},
		{"abc.def.ghi", "", false},
		{"", "", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		tok, ok := BearerToken(r)
		if tok != tc.tok || ok != tc.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tc.header, tok, ok, tc.tok, tc.ok)
		}
	}
}

var keys = Keys{Gateway: "gateway-secret", Service: "service-secret"}

// serve runs h behind mw and returns the status and, for errors, the
// problem detail.
func serve(t *testing.T, mw func(http.Handler) http.Handler, header http.Header) (int, string) {
	t.Helper()
	reached := false
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached = true
		w.WriteHeader(http.StatusNoContent)
	}))
	r := httptest.NewRequest(http.MethodGet, "/x", nil)
	for k, v := range header {
		r.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if reached != (rec.Code == http.StatusNoContent) {
		t.Fatalf("handler reached = %v with status %d", reached, rec.Code)
	}
	if rec.Code >= 400 && !strings.HasPrefix(rec.Header().Get("Content-Type"), problem.ContentType) {
		t.Fatalf("error %d is %q, not problem+json", rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Code, rec.Body.String()
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestRequireCaller(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"gateway key", hdr(GatewayKeyHeader, keys.Gateway), 204},
		{"service key", hdr(ServiceKeyHeader, keys.Service), 204},
		{"no key", hdr(), 401},
		{"wrong gateway key", hdr(GatewayKeyHeader, "nope"), 403},
		{"prefix of the gateway key", hdr(GatewayKeyHeader, keys.Gateway[:5]), 403},
		{"service key in the gateway header", hdr(GatewayKeyHeader, keys.Service), 403},
		{"wrong service key", hdr(ServiceKeyHeader, "nope"), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := serve(t, RequireCaller(keys), tc.header); got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, body)
			}
		})
	}
	// A service with no keys configured refuses everyone.
	if got, _ := serve(t, RequireCaller(Keys{}), hdr(GatewayKeyHeader, "")); got != 401 {
		t.Fatalf("unconfigured, no key: %d", got)
	}
	if got, _ := serve(t, RequireCaller(Keys{}), hdr(ServiceKeyHeader, "x")); got != 403 {
		t.Fatalf("unconfigured, some key: %d", got)
	}
}

func TestRequireService(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"service key", hdr(ServiceKeyHeader, keys.Service), 204},
		{"gateway key only", hdr(GatewayKeyHeader, keys.Gateway), 403},
		{"no key", hdr(), 401},
		{"wrong service key", hdr(ServiceKeyHeader, keys.Gateway), 403},
		{"prefix of the service key", hdr(ServiceKeyHeader, keys.Service[:7]), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, body := serve(t, RequireService(keys.Service), tc.header); got != tc.want {
				t.Fatalf("status %d, want %d: %s", got, tc.want, body)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	v := ValidatorFunc(func(_ context.Context, tok string) (Principal, error) {
		switch tok {
		case "good":
			return Principal{UserID: "usr_1", Roles: []string{RoleAdmin}}, nil
		case "down":
			return Principal{}, errors.New("user service: connection refused")
		default:
			return Principal{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
		}
	})
	var seen Principal
	h := Authenticate(v)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen, _ = FromContext(r.Context())
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		name, header string
		want         int
	}{
		{"valid", "Bearer good", 204},
		{"no token", "", 401},
		{"invalid", "Bearer forged", 401},
		{"validator down", "Bearer down", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/x", nil)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
			switch tc.want {
			case 401:
				if strings.Contains(rec.Body.String(), "forged") {
					t.Fatal("the answer echoes the token")
				}
			case 503:
				if rec.Header().Get("Retry-After") == "" {
					t.Fatal("503 without Retry-After: a good token must be retried, not dropped")
				}
			case 204:
				if seen.UserID != "usr_1" || !seen.IsAdmin() {
					t.Fatalf("principal %+v", seen)
				}
			}
		})
	}
}
