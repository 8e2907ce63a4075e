// Package kit is the common frame of the five services: it fills in a
// service's defaults, upstream clients, token validator and store, assembles
// its inbound handler, answers health and readiness, gives the typed clients
// one way to call a fellow service, and maps failures to problem+json.
//
// A service's New is its own routes and domain around a Frame:
//
//	New(cfg) ──► Positive(cfg.X, DefaultX) for each of its own defaults
//	         ├─► NewFrame(Spec{Name, &cfg.Base, Upstreams, &cfg.Validator})
//	         │     Base defaults and a Registry; per upstream a client
//	         │     (DefaultClient) and URL (topology.DefaultURL), no
//	         │     trailing slash; a nil Validator: TokenClient over user
//	         ├─► Open(f, cfg.Store, OpenStore, cfg.DataDir)   the store, or the override
//	         │     (OpenFrame: NewFrame and Open in one call)
//	         ├─► f.Router(): the service's routes
//	         └─► f.Serve(r) ──► the Service embeds *Frame: ServeHTTP, Registry, Close
//
// Inbound, Serve (through Handler) builds:
//
//	request ──► observability.Middleware (trace, RED metrics, access log)
//	        ──► Spec.Edge (the gateway's trust boundary) ──► Base.Wrap (chaos
//	            faults, deadlines: anything the wiring adds) ──► Spec.Guard
//	        ──► router ──► /healthz, /readyz (store, upstreams), /metrics (open)
//	                   └─► service routes (RequireCaller / RequireService, Authenticate)
//
// Handlers share the answers every service gives alike: StoreUnavailable
// (503 when the store fails), ServeOwned (GET of a user's resource by id:
// another user's is as missing as a missing one), ServePage (an internal
// list read by id, page after page), DecodeKeyed (an idempotent POST's key
// and body).
//
// Outbound, a service never builds an http.Client of its own: it receives
// one per upstream in its Config. DefaultClient is the single fallback for a
// zero Config (tests), so a reader can find every plain client in one place.
// Every typed client (services/*/client.go) is a Caller:
//
//	typed client ──► Call[T] (NewRequest: JSON body, traceparent, X-Service-Key)
//	             ──► *http.Client ──► Do: 2xx decoded into T, otherwise
//	                 *StatusError or the transport error
//	             ◄── StatusErrors.Wrap: a status that means something ──► its sentinel
//	             ◄── All[T]: every Page of an internal list
//	handler      ◄── UpstreamProblem(err): unavailable ──► 503 + Retry-After
//
// Everything here is safe for concurrent use once built.
package kit
