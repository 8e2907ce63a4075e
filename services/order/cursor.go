package order

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/faultlab/faultlab/internal/kit"
	"github.com/faultlab/faultlab/internal/problem"
)

// Cursor is a position in a user's order list, which runs newest first
// (created_at descending, then id): the last order of a page. The next
// page starts strictly after it, so orders placed while a client pages
// never shift or repeat what it has still to read. The zero Cursor is the
// start of the list.
type Cursor struct {
	// CreatedAt is the order's creation time in Unix milliseconds, as
	// stored.
	CreatedAt int64
	// ID is the order's id.
	ID string
}

// CursorAfter is the cursor just after o.
func CursorAfter(o Order) Cursor { return Cursor{CreatedAt: o.CreatedAt.UnixMilli(), ID: o.ID} }

// String encodes c as the opaque token of next_cursor and ?cursor=.
func (c Cursor) String() string {
	if c.ID == "" {
		return ""
	}
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.CreatedAt, 10) + "." + c.ID))
}

// ParseCursor decodes a token made by Cursor.String. It is strict: a token
// is accepted only in the one spelling String gives it (canonical base64,
// canonical number), so one position has one cursor.
func ParseCursor(s string) (Cursor, bool) {
	if s == "" || len(s) > 128 {
		return Cursor{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, false
	}
	ms, id, ok := strings.Cut(string(b), ".")
	if !ok || !kit.ValidID(id) {
		return Cursor{}, false
	}
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil || n < 0 {
		return Cursor{}, false
	}
	// Only the spelling String gives: the decoder tolerates \r, \n and
	// stray trailing bits, ParseInt a leading + or zeros.
	c := Cursor{CreatedAt: n, ID: id}
	if c.String() != s {
		return Cursor{}, false
	}
	return c, true
}

// parseListQuery reads ?limit= and ?cursor= of GET /orders. Offsets are
// refused by name: a client paging by offset would see orders shift.
func parseListQuery(q url.Values) (limit int, after Cursor, _ *problem.Error) {
	var bad []problem.FieldError
	limit, fe := kit.IntParam(q, "limit", DefaultLimit, 1, MaxLimit)
	if fe != nil {
		bad = append(bad, *fe)
	}
	if _, ok := q["offset"]; ok {
		bad = append(bad, problem.FieldError{Field: "offset", Detail: "orders page by cursor: follow next_cursor or the Link header"})
	}
	if vs, ok := q["cursor"]; ok {
		c, valid := Cursor{}, len(vs) == 1
		if valid {
			c, valid = ParseCursor(vs[0])
		}
		if !valid {
			bad = append(bad, problem.FieldError{Field: "cursor", Detail: "must be one next_cursor from an earlier page"})
		}
		after = c
	}
	if p := problem.Invalid(http.StatusBadRequest, "invalid paging parameters", bad); p != nil {
		return 0, Cursor{}, p
	}
	return limit, after, nil
}
