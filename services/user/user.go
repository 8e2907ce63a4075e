package user

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/contract"
	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/store"
	"github.com/faultlab/faultlab/observability"
	"github.com/faultlab/faultlab/topology"
)

// Routes.
const (
	RouteLogin    = "/users/api/login"
	RouteValidate = auth.RouteValidate
)

// Defaults for Config.
const (
	DefaultLoginLimit  = 5
	DefaultLoginWindow = time.Minute
	maxLoginBody       = 8 << 10
	// MaxValidateBody bounds the body of POST /internal/tokens/validate;
	// a larger one is refused with 413.
	MaxValidateBody = 16 << 10
	maxPasswordLen  = 1024
)

// Demo accounts seeded into an empty store.
const (
	DemoCustomerEmail    = "alice@example.com"
	DemoCustomerPassword = "alice-password"
	DemoCustomerID       = "usr_alice"
	DemoAdminEmail       = "admin@example.com"
	DemoAdminPassword    = "admin-password"
	DemoAdminID          = "usr_admin"
)

// Config configures the user service. The zero value works: an in-memory
// store with the demo users, an in-memory signing key, and no accepted
// caller keys (so only /healthz, /readyz and /metrics answer 2xx).
type Config struct {
	// Base is the logger, registry, public URL, keys, clock, Wrap and Mount.
	kit.Base
	// DataDir holds user.db and the signing key; empty keeps both in memory.
	DataDir string
	// Store overrides the SQLite store in DataDir (New takes ownership).
	Store Store
	// SigningKey overrides the key in DataDir (tests).
	SigningKey ed25519.PrivateKey
	// TokenTTL is the access token lifetime; default DefaultTokenTTL.
	TokenTTL time.Duration
	// Argon2 are the cost parameters of new password hashes.
	Argon2 Argon2Params
	// LoginLimit is how many failed logins per account and per client IP
	// lock it for the rest of LoginWindow; defaults 5 and one minute.
	LoginLimit  int
	LoginWindow time.Duration
	// MaxConcurrentHashes bounds the password hashes computed at once, so
	// that a flood of logins takes at most that many cores from the rest
	// of the shop; default half the cores (at least one): with every core
	// hashing, argon2id's CPU and 19 MiB per hash starved the catalogue
	// of a 2-core lab (p99 ≈ 0.5 s with 2 slots, ≈ 0.13 s with 1).
	MaxConcurrentHashes int
	// TrustedHashes are extra hashing slots for client addresses that
	// logged in successfully within TrustWindow, so that a spray from
	// addresses that never succeed cannot shed every returning user;
	// default 1, negative none. TrustWindow defaults to 15 minutes.
	TrustedHashes int
	TrustWindow   time.Duration
	// HashQueue is how many logins may wait for a hashing slot (while
	// their request's deadline allows); past it a login is shed at once
	// with 503, Retry-After and X-Load-Shed. Default MaxConcurrentHashes;
	// negative means no queue.
	HashQueue int
	// NoSeed skips seeding the demo users into an empty store.
	NoSeed bool
}

// ShedRetryAfter is the Retry-After of a login shed by the hashing bound:
// a slot frees within a few hash times.
const ShedRetryAfter = time.Second

// Service is the user service. It is an http.Handler, safe for concurrent use.
type Service struct {
	*kit.Frame // ServeHTTP, Registry, Close
	cfg        Config
	log        *slog.Logger
	store      Store
	tokens     *tokens
	limiter    *limiter
	dummy      string  // hash verified for unknown emails, so timing does not tell
	gate       *gate   // bounds concurrent password hashes
	good       *recent // client addresses that logged in successfully
	// shedLogged is when a shed was last logged at warn (UnixNano).
	shedLogged atomic.Int64
	verify     func(password, encoded string) (bool, error)
	valid      *prometheus.CounterVec
	refused    *prometheus.CounterVec // logins refused before hashing, by reason
}

// withDefaults fills in the zero fields of c (Base is the frame's).
func (c Config) withDefaults() Config {
	c.TokenTTL = kit.Positive(c.TokenTTL, DefaultTokenTTL)
	c.LoginLimit = kit.Positive(c.LoginLimit, DefaultLoginLimit)
	c.LoginWindow = kit.Positive(c.LoginWindow, DefaultLoginWindow)
	c.MaxConcurrentHashes = kit.Positive(c.MaxConcurrentHashes, max(1, runtime.NumCPU()/2))
	switch {
	case c.TrustedHashes == 0:
		c.TrustedHashes = 1
	case c.TrustedHashes < 0:
		c.TrustedHashes = 0
	}
	c.TrustWindow = kit.Positive(c.TrustWindow, 15*time.Minute)
	switch {
	case c.HashQueue == 0:
		c.HashQueue = c.MaxConcurrentHashes
	case c.HashQueue < 0:
		c.HashQueue = 0
	}
	c.Argon2 = c.Argon2.withDefaults()
	return c
}

// New builds the service, opening its store and seeding it if empty.
func New(cfg Config) (*Service, error) {
	cfg = cfg.withDefaults()
	f, st, err := kit.OpenFrame(kit.Spec{Name: topology.User, Base: &cfg.Base}, cfg.Store, OpenStore, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s, err := newService(cfg, f, st)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("user: %w", err)
	}
	r := f.Router()
	r.Handle(http.MethodPost, RouteLogin, auth.RequireCaller(cfg.Keys)(http.HandlerFunc(s.login)))
	r.Handle(http.MethodPost, RouteValidate, auth.RequireService(cfg.Keys.Service)(http.HandlerFunc(s.validate)))
	f.Serve(r)
	s.valid = kit.CounterVec(s.Registry(), prometheus.CounterOpts{
		Namespace: observability.Namespace, Name: "token_validations_total",
		Help: "Token validations answered to callers, by outcome.",
	}, "outcome")
	s.refused = kit.CounterVec(s.Registry(), prometheus.CounterOpts{
		Namespace: observability.Namespace, Name: "login_refused_total",
		Help: "Logins refused before any password hashing, by reason (account_limit, client_limit, shed).",
	}, "reason")
	return s, nil
}

// newService builds the domain around st: the signing key, the limits,
// the hashing gate, and the demo users if the store is empty.
func newService(cfg Config, f *kit.Frame, st Store) (*Service, error) {
	key := cfg.SigningKey
	if key == nil {
		var err error
		if key, err = loadOrCreateKey(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	dummy, err := HashPassword("not a real password", cfg.Argon2)
	if err != nil {
		return nil, err
	}
	s := &Service{
		Frame:   f,
		cfg:     cfg,
		log:     cfg.Logger,
		store:   st,
		tokens:  newTokens(key, cfg.TokenTTL, cfg.Now),
		limiter: newLimiter(cfg.LoginLimit, cfg.LoginWindow, cfg.Now),
		dummy:   dummy,
		gate:    newGate(cfg.MaxConcurrentHashes, cfg.TrustedHashes, cfg.HashQueue),
		good:    newRecent(cfg.TrustWindow, cfg.Now),
		verify:  verifyPassword,
	}
	if !cfg.NoSeed {
		ctx, cancel := context.WithTimeout(context.Background(), kit.StartupTimeout)
		defer cancel()
		if err := s.seed(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Service) seed(ctx context.Context) error {
	n, err := s.store.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	for _, d := range []struct{ id, email, pw, role string }{
		{DemoCustomerID, DemoCustomerEmail, DemoCustomerPassword, auth.RoleCustomer},
		{DemoAdminID, DemoAdminEmail, DemoAdminPassword, auth.RoleAdmin},
	} {
		h, err := HashPassword(d.pw, s.cfg.Argon2)
		if err != nil {
			return err
		}
		u := User{ID: d.id, Email: d.email, PasswordHash: h, Roles: []string{d.role}, CreatedAt: s.cfg.Now().UTC()}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("seed %s: %w", d.id, err)
		}
	}
	return nil
}

// KeyID is the kid of the current signing key.
func (s *Service) KeyID() string { return s.tokens.kid }

// LoginRequest is the body of POST /users/api/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginResponse is its answer.
type LoginResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	email, req, ok := parseLogin(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ip := s.clientIP(r)
	acct, byIP := "acct:"+email, "ip:"+ip
	// The limits answer at once, before any hashing: a locked account or
	// client costs a map lookup, not a core.
	if s.refuseLocked(w, r, email, ip, acct, byIP) {
		return
	}
	// The global bound on hashing: past the slots and the short queue, shed
	// at once, marked so that callers' breakers do not count it.
	release := s.gate.acquire(ctx, s.good.has(byIP))
	if release == nil {
		s.shed(w, r, ip)
		return
	}
	defer release()
	u, err := s.store.UserByEmail(ctx, email)
	hash := u.PasswordHash
	switch {
	case errors.Is(err, store.ErrNotFound):
		hash = s.dummy
	case err != nil:
		problem.Write(w, r, problem.Unavailable("user store unavailable", time.Second))
		return
	}
	// Unknown emails verify the dummy hash: they cost what known ones do.
	ok, verr := s.verify(req.Password, hash)
	if err != nil || verr != nil || !ok {
		s.loginFailed(w, r, email, ip, acct, byIP)
		return
	}
	s.limiter.reset(acct)
	s.good.add(byIP)
	tok, err := s.tokens.issue(u)
	if err != nil {
		problem.Write(w, r, err)
		return
	}
	observability.SetUserID(ctx, u.ID)
	s.log.LogAttrs(ctx, slog.LevelInfo, "login succeeded",
		slog.String(observability.FieldEventAction, "login.succeeded"),
		slog.String(observability.FieldUserID, u.ID))
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, LoginResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresIn: int(s.cfg.TokenTTL / time.Second),
	})
}

// parseLogin reads a login request and its normalised email. On a bad
// request it writes the problem and reports false.
func parseLogin(w http.ResponseWriter, r *http.Request) (string, LoginRequest, bool) {
	var req LoginRequest
	if err := problem.DecodeJSON(w, r, &req, maxLoginBody); err != nil {
		problem.Write(w, r, err)
		return "", req, false
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	var bad []problem.FieldError
	if email == "" || len(email) > 254 || !strings.Contains(email, "@") {
		bad = append(bad, problem.FieldError{Field: "email", Detail: "must be an email address"})
	}
	if req.Password == "" || len(req.Password) > maxPasswordLen {
		bad = append(bad, problem.FieldError{Field: "password", Detail: fmt.Sprintf("must be 1 to %d bytes", maxPasswordLen)})
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid login request", bad); p != nil {
		problem.Write(w, r, p)
		return "", req, false
	}
	return email, req, true
}

// refuseLocked answers 429 when the account or the client is locked out,
// and reports whether it did.
func (s *Service) refuseLocked(w http.ResponseWriter, r *http.Request, email, ip, acct, byIP string) bool {
	da, dc := s.limiter.locked(acct), s.limiter.locked(byIP)
	d := max(da, dc)
	if d <= 0 {
		return false
	}
	reason := "account_limit"
	if dc > 0 {
		reason = "client_limit"
	}
	s.refused.WithLabelValues(reason).Inc()
	// Debug: the lock itself was logged at warn when it happened; a line
	// per refused attempt would let an attacker fill the disk
	// (faultlab_login_refused_total counts them).
	s.log.LogAttrs(r.Context(), slog.LevelDebug, "login refused: too many failures",
		slog.String(observability.FieldEventAction, "login.refused"),
		slog.String("labels.reason", reason),
		slog.String("labels.email_hash", emailHash(email)), slog.String("source.ip", ip))
	p := problem.New(http.StatusTooManyRequests, "too many failed logins; try again later")
	p.RetryAfter = d
	problem.Write(w, r, p)
	return true
}

// shed answers a login that found password hashing at its bound: 503,
// marked as load shedding.
func (s *Service) shed(w http.ResponseWriter, r *http.Request, ip string) {
	s.refused.WithLabelValues("shed").Inc()
	// At most one warn line a second (the metric counts every shed).
	level := slog.LevelDebug
	if now := s.cfg.Now().UnixNano(); now-s.shedLogged.Load() >= int64(time.Second) {
		s.shedLogged.Store(now)
		level = slog.LevelWarn
	}
	s.log.LogAttrs(r.Context(), level, "login shed: password hashing is at its bound",
		slog.String(observability.FieldEventAction, "login.shed"),
		slog.String("source.ip", ip))
	w.Header().Set(contract.LoadShed, "login")
	problem.Write(w, r, problem.Unavailable("login is busy; try again shortly", ShedRetryAfter))
}

// loginFailed counts a failed login against the account and the client,
// logs it (and a lock it caused) and answers 401.
func (s *Service) loginFailed(w http.ResponseWriter, r *http.Request, email, ip, acct, byIP string) {
	ctx := r.Context()
	locked := s.limiter.fail(acct)
	locked = s.limiter.fail(byIP) || locked
	s.log.LogAttrs(ctx, slog.LevelWarn, "login failed",
		slog.String(observability.FieldEventAction, "login.failed"),
		slog.String("labels.email_hash", emailHash(email)), slog.String("source.ip", ip))
	if locked {
		s.log.LogAttrs(ctx, slog.LevelWarn, "login locked",
			slog.String(observability.FieldEventAction, "login.locked"),
			slog.String("labels.email_hash", emailHash(email)), slog.String("source.ip", ip))
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="faultlab"`)
	problem.Write(w, r, problem.Unauthorized("invalid email or password"))
}

// clientIP is the address the gateway saw (X-Forwarded-For), trusted only
// on a request that carries the valid gateway key; otherwise the peer.
func (s *Service) clientIP(r *http.Request) string {
	if auth.Equal(r.Header.Get(auth.GatewayKeyHeader), s.cfg.Keys.Gateway) {
		xff := r.Header.Get(contract.ForwardedFor)
		if i := strings.LastIndexByte(xff, ','); i >= 0 {
			xff = xff[i+1:]
		}
		if ip := net.ParseIP(strings.TrimSpace(xff)); ip != nil {
			return ip.String()
		}
	}
	return kit.RemoteIP(r)
}

func emailHash(email string) string {
	sum := sha256.Sum256([]byte(email))
	return hex.EncodeToString(sum[:8])
}

// ValidateRequest is the body of POST /internal/tokens/validate.
type ValidateRequest = auth.ValidateRequest

func (s *Service) validate(w http.ResponseWriter, r *http.Request) {
	var req ValidateRequest
	if err := problem.DecodeJSON(w, r, &req, MaxValidateBody); err != nil {
		problem.Write(w, r, err)
		return
	}
	if req.Token == "" {
		problem.Write(w, r, problem.BadRequest("token is required"))
		return
	}
	p, err := s.tokens.validate(req.Token)
	if err != nil {
		s.valid.WithLabelValues("invalid").Inc()
		problem.Write(w, r, problem.Unauthorized("invalid or expired token"))
		return
	}
	s.valid.WithLabelValues("valid").Inc()
	w.Header().Set("Cache-Control", "no-store")
	problem.WriteJSON(w, http.StatusOK, p)
}
