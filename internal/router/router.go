package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/julienschmidt/httprouter"

	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/observability"
)

// Router is an http.Handler. Register routes before serving; it is then safe
// for concurrent use.
type Router struct {
	r *httprouter.Router
}

// New returns a Router whose 404, 405 and panic answers are problem+json.
// Panics are logged to logger (which may be nil) with their value, never
// the request's headers.
func New(logger *slog.Logger) *Router {
	if logger == nil {
		logger = observability.Discard()
	}
	r := httprouter.New()
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.NotFound = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, problem.NotFound("no such resource"))
	})
	r.MethodNotAllowed = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		problem.Write(w, req, problem.Newf(http.StatusMethodNotAllowed, "method %s is not allowed here", req.Method))
	})
	r.PanicHandler = func(w http.ResponseWriter, req *http.Request, v any) {
		logger.ErrorContext(req.Context(), "handler panic",
			slog.String(observability.FieldEventAction, "http.panic"),
			slog.String(observability.FieldErrorMessage, fmt.Sprint(v)))
		problem.Write(w, req, problem.New(http.StatusInternalServerError, "internal error"))
	}
	return &Router{r: r}
}

// Handle registers h for method and pattern (httprouter syntax: /x/:id).
func (rt *Router) Handle(method, pattern string, h http.Handler) {
	rt.r.Handle(method, pattern, func(w http.ResponseWriter, req *http.Request, ps httprouter.Params) {
		observability.SetRoute(req.Context(), pattern)
		if len(ps) > 0 {
			req = req.WithContext(contextWithParams(req, ps))
		}
		h.ServeHTTP(w, req)
	})
}

// HandleFunc registers a function.
func (rt *Router) HandleFunc(method, pattern string, h http.HandlerFunc) {
	rt.Handle(method, pattern, h)
}

// ServeHTTP dispatches the request.
func (rt *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rt.r.ServeHTTP(w, req)
}

func contextWithParams(req *http.Request, ps httprouter.Params) context.Context {
	return context.WithValue(req.Context(), httprouter.ParamsKey, ps)
}

// Param returns the value of a path parameter.
func Param(req *http.Request, name string) string {
	return httprouter.ParamsFromContext(req.Context()).ByName(name)
}

// Chain applies middleware so that the first one listed is outermost.
func Chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			h = mw[i](h)
		}
	}
	return h
}

// CleanPath reports whether p is already in canonical form: no dot
// segments, no doubled slashes and no encoded slashes. The gateway refuses
// anything else rather than guessing what it means.
func CleanPath(raw string) bool {
	if strings.Contains(raw, "//") || strings.Contains(strings.ToLower(raw), "%2f") || strings.Contains(strings.ToLower(raw), "%5c") || strings.Contains(raw, "\\") {
		return false
	}
	for _, seg := range strings.Split(raw, "/") {
		if seg == "." || seg == ".." || strings.EqualFold(seg, "%2e") || strings.EqualFold(seg, "%2e%2e") || strings.Contains(strings.ToLower(seg), "%2e") || strings.Contains(seg, "%25") {
			return false
		}
	}
	return true
}
