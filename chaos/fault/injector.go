package fault

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/observability"
)

// Path is where Handler serves the control API.
const Path = "/internal/faults"

// Config configures New. The zero value works.
type Config struct {
	// Rand returns a number in [0, 1); a fault with probability p fires when
	// Rand() < p. It is called only for faults with p < 1 and must be safe
	// for concurrent use. Nil means math/rand/v2.Float64.
	Rand func() float64
	// Logger receives an event.action=fault.injected line per injection.
	// Nil discards.
	Logger *slog.Logger
	// After waits for delays and body pacing. Nil means time.After.
	After func(time.Duration) <-chan time.Time
}

// Injector holds the active faults and applies them. It is safe for
// concurrent use.
type Injector struct {
	cfg    Config
	mu     sync.Mutex // serialises writers; readers use the snapshot
	faults atomic.Pointer[[]Fault]
}

// New returns an Injector with no faults.
func New(cfg Config) *Injector {
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.Logger == nil {
		cfg.Logger = observability.Discard()
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	in := &Injector{cfg: cfg}
	in.faults.Store(&[]Fault{})
	return in
}

// Set validates f and adds it, replacing a fault of the same name in place.
func (in *Injector) Set(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Probability == 0 {
		f.Probability = 1
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	fs := slices.Clone(*in.faults.Load())
	if i := slices.IndexFunc(fs, func(g Fault) bool { return g.Name == f.Name }); i >= 0 {
		fs[i] = f
	} else {
		fs = append(fs, f)
	}
	in.faults.Store(&fs)
	return nil
}

// Remove deletes the named fault; it returns an error wrapping ErrNotFound
// if there is none.
func (in *Injector) Remove(name string) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	fs := slices.Clone(*in.faults.Load())
	i := slices.IndexFunc(fs, func(g Fault) bool { return g.Name == name })
	if i < 0 {
		return fmt.Errorf("fault %q: %w", name, ErrNotFound)
	}
	fs = slices.Delete(fs, i, i+1)
	in.faults.Store(&fs)
	return nil
}

// Clear removes every fault.
func (in *Injector) Clear() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.faults.Store(&[]Fault{})
}

// List returns the active faults in the order they were added.
func (in *Injector) List() []Fault { return slices.Clone(*in.faults.Load()) }

// exempt reports whether path is never faulted.
func exempt(path string) bool {
	switch path {
	case Path, "/healthz", "/readyz", "/metrics":
		return true
	}
	return strings.HasPrefix(path, Path+"/")
}

// Middleware applies the active faults to every request except the exempt
// paths. Matching faults are considered in the order they were added; each
// fires with its probability; a status fault ends the request.
func (in *Injector) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs := *in.faults.Load()
		if len(fs) == 0 || exempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		for _, f := range fs {
			if !f.matches(r) {
				continue
			}
			if p := f.probability(); p < 1 && in.cfg.Rand() >= p {
				continue
			}
			in.cfg.Logger.InfoContext(r.Context(), "fault injected: "+f.String(),
				slog.String(observability.FieldEventAction, "fault.injected"),
				slog.String("labels.fault", f.Name),
				slog.String("labels.fault_kind", f.Kind),
				slog.String("url.path", r.URL.Path))
			switch f.Kind {
			case KindStatus:
				p := problem.Newf(f.Status, "injected fault %q", f.Name)
				p.RetryAfter = time.Duration(f.RetryAfter) * time.Second
				problem.Write(w, r, p)
				return
			case KindDelay:
				select {
				case <-r.Context().Done():
					return // the caller is gone; nobody reads an answer
				case <-in.cfg.After(f.Delay):
				}
			case KindSlowBody:
				w = &slowWriter{ResponseWriter: w, ctx: r.Context(), bps: f.BytesPerSecond, after: in.cfg.After}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// slowWriter writes the body in chunks of a tenth of a second's worth,
// flushing each and waiting before the next.
type slowWriter struct {
	http.ResponseWriter
	ctx   context.Context
	bps   int
	after func(time.Duration) <-chan time.Time
}

func (s *slowWriter) Write(p []byte) (int, error) {
	chunk := max(1, s.bps/10)
	rc := http.NewResponseController(s.ResponseWriter)
	n := 0
	for len(p) > 0 {
		c := min(chunk, len(p))
		m, err := s.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		_ = rc.Flush()
		p = p[c:]
		select {
		case <-s.ctx.Done():
			return n, s.ctx.Err()
		case <-s.after(time.Duration(c) * time.Second / time.Duration(s.bps)):
		}
	}
	return n, nil
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *slowWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Handler serves the control API at Path:
//
//	GET    /internal/faults        → 200 [Fault...]
//	POST   /internal/faults        Fault → 201 Fault (adds or replaces by name)
//	DELETE /internal/faults/:name  → 204, or 404 problem
//	DELETE /internal/faults        → 204 (clears all)
//
// Bad input is a 4xx problem+json: 400/415 for a malformed body, 422 for an
// invalid fault. Mount it behind auth.RequireService.
func (in *Injector) Handler() http.Handler {
	rt := router.New(in.cfg.Logger)
	rt.HandleFunc(http.MethodGet, Path, func(w http.ResponseWriter, r *http.Request) {
		problem.WriteJSON(w, http.StatusOK, in.List())
	})
	rt.HandleFunc(http.MethodPost, Path, func(w http.ResponseWriter, r *http.Request) {
		var j faultJSON
		if err := problem.DecodeJSON(w, r, &j, 8<<10); err != nil {
			problem.Write(w, r, err)
			return
		}
		f, err := j.fault()
		if err == nil {
			err = in.Set(f)
		}
		if err != nil {
			problem.Write(w, r, problem.Wrap(http.StatusUnprocessableEntity, err.Error(), err))
			return
		}
		problem.WriteJSON(w, http.StatusCreated, f)
	})
	rt.HandleFunc(http.MethodDelete, Path+"/:name", func(w http.ResponseWriter, r *http.Request) {
		if err := in.Remove(router.Param(r, "name")); err != nil {
			problem.Write(w, r, problem.Wrap(http.StatusNotFound, err.Error(), err))
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	rt.HandleFunc(http.MethodDelete, Path, func(w http.ResponseWriter, r *http.Request) {
		in.Clear()
		w.WriteHeader(http.StatusNoContent)
	})
	return rt
}
