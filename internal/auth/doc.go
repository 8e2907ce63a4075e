// Package auth holds what every service shares about who is calling:
// the Principal taken from a validated JWT, the secret headers that prove a
// caller is the gateway or a fellow service, and the middleware that enforces
// both.
//
//	request ──► RequireCaller (X-Gateway-Key or X-Service-Key, constant time)
//	        ──► Authenticate (bearer token ──► Validator ──► Principal in ctx)
//	        ──► handler
//
// Services never check JWT signatures themselves: a Validator asks the user
// service (through a resilience client with a token cache). Internal
// endpoints use RequireService, which accepts only X-Service-Key.
package auth
