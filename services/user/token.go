package user

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/faultlab/faultlab/internal/auth"
)

// Token claims every service can rely on.
const (
	// Issuer is the iss claim of every token.
	Issuer = "faultlab-user"
	// Audience is the aud claim of every token.
	Audience = "faultlab"
	// DefaultTokenTTL is the lifetime of an access token.
	DefaultTokenTTL = 15 * time.Minute
	// KeyFile is the signing key's file name inside DataDir.
	KeyFile = "user-signing.key"
)

// Errors of token validation; each also wraps auth.ErrInvalidToken.
var (
	ErrUnknownKey = errors.New("unknown signing key id")
	ErrNoSubject  = errors.New("token has no subject")
	// ErrNonCanonical means the signature is spelt in other base64 than
	// the service wrote (CR/LF inside it, or stray low bits in its last
	// digit): the same signature, but a token string it never issued.
	ErrNonCanonical = errors.New("token signature is not canonical base64url")
)

type claims struct {
	Email string   `json:"email"`
	Roles []string `json:"roles"`
	jwt.RegisteredClaims
}

// tokens issues and validates access tokens. It is safe for concurrent use:
// its fields are set once in newTokens.
type tokens struct {
	key    ed25519.PrivateKey
	kid    string
	public map[string]ed25519.PublicKey // by kid, so old keys can stay valid after a rotation
	ttl    time.Duration
	now    func() time.Time
	parser *jwt.Parser
}

func newTokens(key ed25519.PrivateKey, ttl time.Duration, now func() time.Time) *tokens {
	pub := key.Public().(ed25519.PublicKey)
	kid := KeyID(pub)
	return &tokens{
		key:    key,
		kid:    kid,
		public: map[string]ed25519.PublicKey{kid: pub},
		ttl:    ttl,
		now:    now,
		parser: jwt.NewParser(
			jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
			jwt.WithIssuer(Issuer),
			jwt.WithAudience(Audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithTimeFunc(now),
		),
	}
}

// KeyID is the kid of a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

func (t *tokens) issue(u User) (string, error) {
	now := t.now()
	jti := make([]byte, 16)
	_, _ = rand.Read(jti)
	c := claims{
		Email: u.Email,
		Roles: u.Roles,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   u.ID,
			Audience:  jwt.ClaimStrings{Audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(t.ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        hex.EncodeToString(jti),
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = t.kid
	s, err := tok.SignedString(t.key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// validate checks signature (EdDSA only, by kid), exp, nbf, iat, iss and
// aud. Every failure wraps auth.ErrInvalidToken.
func (t *tokens) validate(raw string) (auth.Principal, error) {
	var c claims
	tok, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		pub, ok := t.public[kid]
		if !ok {
			return nil, ErrUnknownKey
		}
		return pub, nil
	})
	if err == nil && base64.RawURLEncoding.EncodeToString(tok.Signature) != raw[strings.LastIndexByte(raw, '.')+1:] {
		err = ErrNonCanonical
	}
	if err != nil {
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, err)
	}
	if c.Subject == "" {
		return auth.Principal{}, fmt.Errorf("%w: %w", auth.ErrInvalidToken, ErrNoSubject)
	}
	p := auth.Principal{UserID: c.Subject, Email: c.Email, Roles: c.Roles, TokenID: c.ID}
	if c.ExpiresAt != nil {
		p.ExpiresAt = c.ExpiresAt.Time.UTC()
	}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	return p, nil
}

// loadOrCreateKey reads DataDir/KeyFile, or generates a key and writes it
// there with mode 0600. An empty dir gives a fresh in-memory key.
func loadOrCreateKey(dir string) (ed25519.PrivateKey, error) {
	if dir == "" {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	path := filepath.Join(dir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return parseKey(b)
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("signing key dir: %w", err)
	}
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("encode signing key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		// Another process won the race: use its key.
		return loadOrCreateKey(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write signing key: %w", err)
	}
	return k, nil
}

func parseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("signing key file is not PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse signing key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key is %T, want Ed25519", k)
	}
	return ek, nil
}
