package kit

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"

	"github.com/faultlab/faultlab/internal/problem"
)

// NewID returns prefix + 24 random hex digits.
func NewID(prefix string) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// ValidID reports whether s is a plausible resource id: 1–64 characters of
// [A-Za-z0-9_-]. Anything else is answered 404 without touching a store.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// IdempotencyKeyHeader is the header of idempotent POSTs.
const IdempotencyKeyHeader = "Idempotency-Key"

// ValidIdempotencyKey reports whether k is 1–255 printable ASCII
// characters (0x21–0x7E), per docs/CONTRACTS.md.
func ValidIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// Fingerprint is the SHA-256 of v's JSON encoding, used to tell whether a
// replayed idempotent request carries the same body.
func Fingerprint(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// RemoteIP is the host part of r.RemoteAddr.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// DecodeKeyed reads an idempotent POST: its Idempotency-Key (required,
// ValidIdempotencyKey) and its JSON body, at most max bytes, into dst
// (problem.DecodeJSON). On a bad request it writes the problem and
// reports false.
func DecodeKeyed(w http.ResponseWriter, r *http.Request, dst any, max int64) (key string, ok bool) {
	key = r.Header.Get(IdempotencyKeyHeader)
	if !ValidIdempotencyKey(key) {
		problem.Write(w, r, problem.BadRequest("Idempotency-Key header is required: 1 to 255 printable ASCII characters"))
		return "", false
	}
	if err := problem.DecodeJSON(w, r, dst, max); err != nil {
		problem.Write(w, r, err)
		return "", false
	}
	return key, true
}
