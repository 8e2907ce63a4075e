package kit

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/faultlab/faultlab/internal/problem"
)

// Paging bounds the limit and offset query parameters of a list route.
type Paging struct {
	// DefaultLimit is the limit when the query has none.
	DefaultLimit int
	// MaxLimit and MaxOffset are the largest values accepted.
	MaxLimit, MaxOffset int
}

// Parse reads ?limit= and ?offset= from r. A malformed query, a repeated
// parameter, or a value out of range is a 400 problem naming each bad
// field.
func (pg Paging) Parse(r *http.Request) (limit, offset int, _ *problem.Error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return 0, 0, problem.BadRequest("malformed query string")
	}
	var bad []problem.FieldError
	limit, fe := IntParam(q, "limit", pg.DefaultLimit, 1, pg.MaxLimit)
	if fe != nil {
		bad = append(bad, *fe)
	}
	offset, fe = IntParam(q, "offset", 0, 0, pg.MaxOffset)
	if fe != nil {
		bad = append(bad, *fe)
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid paging parameters", bad); p != nil {
		return 0, 0, p
	}
	return limit, offset, nil
}

// NextLink returns the RFC 8288 Link header value for the page after one
// that started at offset and held n of total items, or "" on the last
// page. base is the public URL of the list (the gateway's, never an
// internal address).
func NextLink(base string, limit, offset, n, total int) string {
	next := offset + n
	if n == 0 || next >= total {
		return ""
	}
	return fmt.Sprintf(`<%s?limit=%d&offset=%d>; rel="next"`, base, limit, next)
}

// IntParam reads the integer query parameter name: def when it is absent,
// else one value from lo to hi, or a field error naming the range.
func IntParam(q url.Values, name string, def, lo, hi int) (int, *problem.FieldError) {
	vs, ok := q[name]
	if !ok {
		return def, nil
	}
	bad := &problem.FieldError{Field: name, Detail: fmt.Sprintf("must be one integer from %d to %d", lo, hi)}
	if len(vs) != 1 || len(vs[0]) > 9 {
		return 0, bad
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < lo || n > hi {
		return 0, bad
	}
	return n, nil
}

// ParseAfter reads the keyset paging of an internal list route: after (an
// id, or absent: from the start) and limit (def when absent, 1 to max).
func ParseAfter(r *http.Request, def, max int) (after string, limit int, perr *problem.Error) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", 0, problem.BadRequest("malformed query string")
	}
	var bad []problem.FieldError
	limit, fe := IntParam(q, "limit", def, 1, max)
	if fe != nil {
		bad = append(bad, *fe)
	}
	if vs, ok := q["after"]; ok {
		if len(vs) != 1 || !ValidID(vs[0]) {
			bad = append(bad, problem.FieldError{Field: "after", Detail: "must be one id"})
		} else {
			after = vs[0]
		}
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid paging parameters", bad); p != nil {
		return "", 0, p
	}
	return after, limit, nil
}
