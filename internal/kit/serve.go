package kit

import (
	"context"
	"errors"
	"net/http"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
)

// StoreUnavailable is the answer when a service's store fails: 503, with
// err kept as the cause for the access log. what names the store
// ("order", "catalogue", …).
func StoreUnavailable(what string, err error) *problem.Error {
	return problem.Wrap(http.StatusServiceUnavailable, what+" store unavailable", err)
}

// ServeOwned answers GET of one resource that belongs to a user, by the
// :id of the path, to the principal in the request's context. read returns
// the answer, its owner's user id, and an error wrapping notFound when
// there is no such resource. An id that is not valid, a missing resource
// and another user's (unless the caller is an admin) are all 404 "no such
// <what>": another user's resource is as invisible as a missing one. A
// failure of read is StoreUnavailable(what).
func ServeOwned(w http.ResponseWriter, r *http.Request, what string, notFound error,
	read func(ctx context.Context, id string) (answer any, owner string, err error)) {
	p, _ := auth.FromContext(r.Context())
	id := router.Param(r, "id")
	if !ValidID(id) {
		problem.Write(w, r, problem.NotFound("no such "+what))
		return
	}
	v, owner, err := read(r.Context(), id)
	if errors.Is(err, notFound) || (err == nil && owner != p.UserID && !p.IsAdmin()) {
		problem.Write(w, r, problem.NotFound("no such "+what))
		return
	}
	if err != nil {
		problem.Write(w, r, StoreUnavailable(what, err))
		return
	}
	problem.WriteJSON(w, http.StatusOK, v)
}

// ServePage answers GET of an internal list read by id: it reads after and
// limit (ParseAfter, limit def by default and max at most), reads up to
// limit+1 items after that id with read, and answers the Page, with Next
// set when there are more. A failure of read is StoreUnavailable(what).
func ServePage[T any](w http.ResponseWriter, r *http.Request, def, max int, what string,
	read func(ctx context.Context, after string, n int) ([]T, error), id func(T) string) {
	after, limit, perr := ParseAfter(r, def, max)
	if perr != nil {
		problem.Write(w, r, perr)
		return
	}
	items, err := read(r.Context(), after, limit+1)
	if err != nil {
		problem.Write(w, r, StoreUnavailable(what, err))
		return
	}
	page := Page[T]{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.Next = id(items[limit-1])
	}
	problem.WriteJSON(w, http.StatusOK, page)
}
