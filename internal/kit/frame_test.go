package kit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/faultlab/faultlab/internal/auth"
	"github.com/faultlab/faultlab/internal/kit/kittest"
	"github.com/faultlab/faultlab/internal/problem"
	"github.com/faultlab/faultlab/internal/router"
	"github.com/faultlab/faultlab/topology"
)

// fakeStore counts pings and closes; ping fails while down is set.
type fakeStore struct {
	down   atomic.Bool
	closed atomic.Int32
}

func (s *fakeStore) Ping(context.Context) error {
	if s.down.Load() {
		return errors.New("disk on fire")
	}
	return nil
}

func (s *fakeStore) Close() error { s.closed.Add(1); return nil }

func TestNewFrameFillsTheSkeleton(t *testing.T) {
	var (
		base      Base
		hc        *http.Client
		url       = "http://127.0.0.1:1/"
		validator auth.Validator
	)
	f := NewFrame(Spec{Name: "svc", Base: &base, Validator: &validator,
		Upstreams: []Upstream{{Name: topology.User, Client: &hc, URL: &url}}})
	if base.Logger == nil || base.Now == nil || base.Registry == nil || base.PublicURL != DefaultPublicURL {
		t.Fatalf("base defaults not filled: %+v", base)
	}
	if hc == nil || url != "http://127.0.0.1:1" {
		t.Fatalf("upstream: client %v, url %q (want a client and no trailing slash)", hc, url)
	}
	if _, ok := validator.(*TokenClient); !ok {
		t.Fatalf("validator %T, want a *TokenClient", validator)
	}
	if f.Registry() != base.Registry {
		t.Fatal("Registry is not the base's")
	}
	if c, u := f.Client(topology.User); c != hc || u != url {
		t.Fatalf("Client(user) = %v %q", c, u)
	}

	// Defaults only fill what is missing.
	var def *http.Client
	defURL := ""
	var v auth.Validator = kittest.Validator
	NewFrame(Spec{Name: "svc", Base: &Base{}, Validator: &v,
		Upstreams: []Upstream{{Name: topology.Product, Client: &def, URL: &defURL}}})
	if defURL != topology.DefaultURL(topology.Product) || def == nil {
		t.Fatalf("default upstream: %v %q", def, defURL)
	}
	if _, ok := v.(auth.ValidatorFunc); !ok {
		t.Fatalf("a validator given was replaced by %T", v)
	}
}

func TestNewFrameFillsTokens(t *testing.T) {
	tokens := Tokens{UserURL: "http://127.0.0.1:1/"}
	var pc *http.Client
	pu := ""
	f := NewFrame(Spec{Name: "svc", Tokens: &tokens,
		Upstreams: []Upstream{{Name: topology.Product, Client: &pc, URL: &pu}}})
	if tokens.UserClient == nil || tokens.UserURL != "http://127.0.0.1:1" {
		t.Fatalf("tokens: client %v, url %q (want a client and no trailing slash)", tokens.UserClient, tokens.UserURL)
	}
	if _, ok := tokens.Validator.(*TokenClient); !ok {
		t.Fatalf("validator %T, want a *TokenClient", tokens.Validator)
	}
	if c, u := f.Client(topology.User); c != tokens.UserClient || u != tokens.UserURL {
		t.Fatalf("Client(user) = %v %q", c, u)
	}
	if c, _ := f.Client(topology.Product); c == nil {
		t.Fatal("the listed upstream was dropped")
	}
}

func TestFrameServesReadinessAndCloses(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer up.Close()
	hc, url := up.Client(), up.URL
	f := NewFrame(Spec{Name: "svc", Upstreams: []Upstream{{Name: "dep", Client: &hc, URL: &url}}})
	st := &fakeStore{}
	got, err := Open[*fakeStore](f, st, func(context.Context, string) (*fakeStore, error) {
		t.Fatal("opened a store although one was given")
		return nil, nil
	}, "")
	if err != nil || got != st {
		t.Fatalf("Open = %v, %v", got, err)
	}
	r := f.Router()
	r.HandleFunc(http.MethodGet, "/x", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	f.Serve(r)
	ready := func() int {
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, RouteReadyz, nil))
		return rec.Code
	}
	if c := ready(); c != http.StatusOK {
		t.Fatalf("/readyz %d with store and upstream up", c)
	}
	st.down.Store(true)
	if c := ready(); c != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d with the store down", c)
	}
	rec := httptest.NewRecorder()
	f.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	if rec.Code != http.StatusTeapot {
		t.Fatalf("route: %d", rec.Code)
	}
	if err := f.Close(); err != nil || st.closed.Load() != 1 {
		t.Fatalf("Close = %v, closed %d times", err, st.closed.Load())
	}
}

// TestOpenNamesTheService: a store that does not open is an error of the
// service, through Open and through OpenFrame (NewFrame then Open), and
// the frame closes without a store.
func TestOpenNamesTheService(t *testing.T) {
	noDisk := func(context.Context, string) (Store, error) { return nil, errors.New("no such disk") }
	for name, open := range map[string]func() (*Frame, error){
		"Open": func() (*Frame, error) {
			f := NewFrame(Spec{Name: "svc"})
			_, err := Open[Store](f, nil, noDisk, "/nowhere")
			return f, err
		},
		"OpenFrame": func() (*Frame, error) {
			f, _, err := OpenFrame[Store](Spec{Name: "svc"}, nil, noDisk, "/nowhere")
			return f, err
		},
	} {
		f, err := open()
		if err == nil || !strings.HasPrefix(err.Error(), "svc: ") {
			t.Fatalf("%s: err = %v, want it prefixed with the service", name, err)
		}
		if err := f.Close(); err != nil {
			t.Fatalf("%s: Close without a store: %v", name, err)
		}
	}
}

func TestEdgeRunsBeforeWrap(t *testing.T) {
	var order []string
	mark := func(name string) func(http.Handler) http.Handler { return kittest.Mark(&order, name) }
	f := NewFrame(Spec{Name: "svc", Base: &Base{Wrap: mark("wrap")}, Edge: mark("edge"), Guard: mark("guard")})
	f.Serve(f.Router())
	f.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, RouteHealthz, nil))
	if strings.Join(order, ",") != "edge,wrap,guard" {
		t.Fatalf("order %v", order)
	}
}

type item struct {
	ID, Owner string
}

func TestServeOwned(t *testing.T) {
	items := map[string]item{"a1": {"a1", kittest.AliceUserID}}
	var storeDown bool
	r := router.New(nil)
	r.Handle(http.MethodGet, "/things/:id", Authenticate(kittest.Validator)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ServeOwned(w, r, "thing", errNotFound, func(_ context.Context, id string) (any, string, error) {
			if storeDown {
				return nil, "", errors.New("locked")
			}
			it, ok := items[id]
			if !ok {
				return nil, "", errNotFound
			}
			return it, it.Owner, nil
		})
	})))
	for _, tc := range []struct {
		name, token, id string
		down            bool
		want            int
	}{
		{"owner", kittest.AliceToken, "a1", false, http.StatusOK},
		{"admin", kittest.AdminToken, "a1", false, http.StatusOK},
		{"another user's is missing", kittest.BobToken, "a1", false, http.StatusNotFound},
		{"missing", kittest.AliceToken, "a2", false, http.StatusNotFound},
		{"not an id", kittest.AliceToken, "a%20b", false, http.StatusNotFound},
		{"store down", kittest.AliceToken, "a1", true, http.StatusServiceUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeDown = tc.down
			w := kittest.Record(r, http.MethodGet, "/things/"+tc.id, nil, "Authorization", "Bearer "+tc.token)
			if w.Code != tc.want {
				t.Fatalf("%d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == http.StatusServiceUnavailable && !strings.Contains(w.Body.String(), "thing store unavailable") {
				t.Fatalf("503 body %s", w.Body)
			}
		})
	}
}

var errNotFound = errors.New("not found")

func TestServePageAndAll(t *testing.T) {
	ids := []string{"a", "b", "c", "d", "e"}
	var storeDown atomic.Bool
	r := router.New(nil)
	r.Handle(http.MethodGet, "/items", auth.RequireService(kittest.Keys.Service)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ServePage(w, r, 2, 3, "item", func(_ context.Context, after string, n int) ([]string, error) {
			if storeDown.Load() {
				return nil, errors.New("locked")
			}
			var out []string
			for _, id := range ids {
				if id > after && len(out) < n {
					out = append(out, id)
				}
			}
			return out, nil
		}, func(s string) string { return s })
	})))
	srv := kittest.Serve(t, r)
	c := NewCaller(srv.URL+"/", nil, kittest.Keys.Service)
	ctx := context.Background()

	page, err := Call[Page[string]](ctx, c, http.MethodGet, "/items?limit=2&after=a", nil)
	if err != nil || strings.Join(page.Items, ",") != "b,c" || page.Next != "c" {
		t.Fatalf("page %+v, %v", page, err)
	}
	all, err := All[string](ctx, c, "/items")
	// All asks for AllPagesLimit, above this route's max of 3: refused.
	if StatusOf(err) != http.StatusBadRequest || all != nil {
		t.Fatalf("All over a small max: %v, %v", all, err)
	}
	for _, tc := range []struct {
		name, query string
		want        int
	}{
		{"limit 0", "?limit=0", http.StatusBadRequest},
		{"limit over max", "?limit=4", http.StatusBadRequest},
		{"after twice", "?after=a&after=b", http.StatusBadRequest},
		{"bad after", "?after=a/b", http.StatusBadRequest},
		{"last page", "?after=d", http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Call[Page[string]](ctx, c, http.MethodGet, "/items"+tc.query, nil)
			if got := StatusOf(err); (got == 0 && tc.want != http.StatusOK) || (got != 0 && got != tc.want) {
				t.Fatalf("%v, want %d", err, tc.want)
			}
		})
	}
	storeDown.Store(true)
	_, err = Call[Page[string]](ctx, c, http.MethodGet, "/items", nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable || se.Problem.Detail != "item store unavailable" {
		t.Fatalf("store down: %v", err)
	}
}

func TestAllFollowsPages(t *testing.T) {
	r := router.New(nil)
	r.HandleFunc(http.MethodGet, "/items", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(auth.ServiceKeyHeader) != "sk" || r.URL.Query().Get("limit") != "1000" {
			problem.Write(w, r, problem.Forbidden("want the service key and limit 1000"))
			return
		}
		next := map[string]Page[int]{"": {Items: []int{1, 2}, Next: "x"}, "x": {Items: []int{3}}}
		problem.WriteJSON(w, http.StatusOK, next[r.URL.Query().Get("after")])
	})
	all, err := All[int](context.Background(), NewCaller(kittest.Serve(t, r).URL, nil, "sk"), "/items")
	if err != nil || len(all) != 3 || all[2] != 3 {
		t.Fatalf("All = %v, %v", all, err)
	}
}

func TestStatusErrorsAndTokenClient(t *testing.T) {
	errGone := errors.New("gone")
	m := StatusErrors{http.StatusNotFound: errGone}
	if err := m.Wrap(&StatusError{Status: 404}); !errors.Is(err, errGone) || StatusOf(err) != 404 {
		t.Fatalf("404: %v", err)
	}
	if err := m.Wrap(&StatusError{Status: 409}); errors.Is(err, errGone) {
		t.Fatalf("409 named as gone: %v", err)
	}
	if m.Wrap(nil) != nil {
		t.Fatal("Wrap(nil) is not nil")
	}

	r := router.New(nil)
	r.Handle(http.MethodPost, auth.RouteValidate, auth.RequireService(kittest.Keys.Service)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req auth.ValidateRequest
		if err := problem.DecodeJSON(w, r, &req, 0); err != nil {
			problem.Write(w, r, err)
			return
		}
		p, err := kittest.Validator(r.Context(), req.Token)
		if err != nil {
			problem.Write(w, r, problem.Unauthorized("invalid token"))
			return
		}
		problem.WriteJSON(w, http.StatusOK, p)
	})))
	tc := NewTokenClient(kittest.Serve(t, r).URL, nil, kittest.Keys.Service)
	ctx := context.Background()
	if p, err := tc.Validate(ctx, kittest.AliceToken); err != nil || p.UserID != kittest.AliceUserID {
		t.Fatalf("alice: %+v, %v", p, err)
	}
	if _, err := tc.Validate(ctx, "forged"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("forged: %v", err)
	}
	down := NewTokenClient("http://127.0.0.1:1", nil, kittest.Keys.Service)
	if _, err := down.Validate(ctx, kittest.AliceToken); !errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("user service down: %v", err)
	}
}
