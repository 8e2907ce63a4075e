package kit

import (
	"net/http"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/observability"
)

// Authenticate is auth.Authenticate that also records the user id for the
// access log (observability.SetUserID).
func Authenticate(v auth.Validator) func(http.Handler) http.Handler {
	authn := auth.Authenticate(v)
	return func(next http.Handler) http.Handler {
		return authn(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if p, ok := auth.FromContext(r.Context()); ok {
				observability.SetUserID(r.Context(), p.UserID)
			}
			next.ServeHTTP(w, r)
		}))
	}
}
