package auth

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/problem"
)

// Header names.
const (
	// GatewayKeyHeader carries the gateway's secret on every call it forwards.
	GatewayKeyHeader = contract.GatewayKey
	// ServiceKeyHeader carries the shared service secret on calls between services.
	ServiceKeyHeader = contract.ServiceKey
)

// Roles.
const (
	RoleCustomer = "customer"
	RoleAdmin    = "admin"
)

// Principal is the authenticated user behind a request.
type Principal struct {
	UserID    string    `json:"sub"`
	Email     string    `json:"email"`
	Roles     []string  `json:"roles"`
	ExpiresAt time.Time `json:"exp"`
	TokenID   string    `json:"jti,omitempty"`
}

// HasRole reports whether p holds role.
func (p Principal) HasRole(role string) bool { return slices.Contains(p.Roles, role) }

// IsAdmin reports whether p holds the admin role.
func (p Principal) IsAdmin() bool { return p.HasRole(RoleAdmin) }

// Errors a Validator returns.
var (
	// ErrInvalidToken means the token is malformed, expired, or badly signed.
	ErrInvalidToken = errors.New("invalid token")
	// ErrUnavailable means the token could not be checked right now.
	ErrUnavailable = errors.New("token validation unavailable")
)

// Validator turns a bearer token into a Principal. Implementations must be
// safe for concurrent use.
type Validator interface {
	Validate(ctx context.Context, token string) (Principal, error)
}

// RouteValidate is where the user service answers who a token belongs to
// (service key only): POST a ValidateRequest, get a Principal (200) or
// 400/401 for a token it refuses. kit.TokenClient is the Validator that
// asks it.
const RouteValidate = "/internal/tokens/validate"

// ValidateRequest is the body of POST RouteValidate.
type ValidateRequest struct {
	Token string `json:"token"`
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(ctx context.Context, token string) (Principal, error)

// Validate calls f.
func (f ValidatorFunc) Validate(ctx context.Context, token string) (Principal, error) {
	return f(ctx, token)
}

// Equal compares two secrets in constant time. An empty expected secret
// never matches, so a misconfigured service fails closed.
func Equal(got, want string) bool {
	if want == "" {
		return false
	}
	// ConstantTimeCompare returns early on length mismatch, which leaks only
	// the length; comparing fixed-size digests would hide even that, but a
	// length leak on a random 32-byte key is harmless.
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

type ctxKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the Principal set by Authenticate.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

// BearerToken returns the token of an "Authorization: Bearer" header.
func BearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(prefix):])
	return tok, tok != ""
}

// Keys are the secrets a service checks on incoming calls.
type Keys struct {
	// Gateway is the secret the gateway sends in X-Gateway-Key.
	Gateway string
	// Service is the secret services send each other in X-Service-Key.
	Service string
}

// RequireCaller accepts requests that carry the gateway key or the service
// key. A missing key is 401, a wrong one 403.
func RequireCaller(keys Keys) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			gk, sk := r.Header.Get(GatewayKeyHeader), r.Header.Get(ServiceKeyHeader)
			switch {
			case gk == "" && sk == "":
				problem.Write(w, r, problem.Unauthorized("this service is internal: call it through the gateway"))
			case gk != "" && Equal(gk, keys.Gateway), sk != "" && Equal(sk, keys.Service):
				next.ServeHTTP(w, r)
			default:
				problem.Write(w, r, problem.Forbidden("caller key rejected"))
			}
		})
	}
}

// RequireService accepts only requests that carry the service key; the
// gateway key is refused, so internal endpoints stay internal.
func RequireService(key string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sk := r.Header.Get(ServiceKeyHeader)
			switch {
			case sk == "" && r.Header.Get(GatewayKeyHeader) != "":
				problem.Write(w, r, problem.Forbidden("internal endpoint: the gateway may not call it"))
			case sk == "":
				problem.Write(w, r, problem.Unauthorized("internal endpoint: X-Service-Key required"))
			case !Equal(sk, key):
				problem.Write(w, r, problem.Forbidden("service key rejected"))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}
}

// Authenticate validates the bearer token with v and puts the Principal in
// the request context. No token or an invalid one is 401; a validator that
// cannot answer is 503 with Retry-After, because the token may well be good.
func Authenticate(v Validator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok, ok := BearerToken(r)
			if !ok {
				w.Header().Set("WWW-Authenticate", `Bearer realm="faultlab"`)
				problem.Write(w, r, problem.Unauthorized("missing bearer token"))
				return
			}
			p, err := v.Validate(r.Context(), tok)
			if err != nil {
				problem.Write(w, r, ValidationProblem(err))
				return
			}
			next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
		})
	}
}

// ValidationProblem maps a Validator error to a problem.
func ValidationProblem(err error) *problem.Error {
	var p *problem.Error
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, ErrInvalidToken):
		return problem.Wrap(http.StatusUnauthorized, "invalid or expired token", err)
	default:
		u := problem.Unavailable("token validation is temporarily unavailable", 5*time.Second)
		u.Dependency = "user"
		return u
	}
}
