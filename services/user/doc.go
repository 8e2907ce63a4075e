// Package user is the identity service: it logs users in, issues short-lived
// Ed25519-signed JWTs, and validates them for the other services.
//
//	gateway ──► POST /users/api/login ──► limiter (per account, per client IP):
//	                                      locked ──► 429 + Retry-After, no hash
//	                                  ──► gate (MaxConcurrentHashes slots, a
//	                                      TrustedHashes lane for addresses that
//	                                      logged in within TrustWindow, HashQueue
//	                                      waiting): full ──► 503 + Retry-After +
//	                                      X-Load-Shed, no hash
//	                                  ──► Store.UserByEmail ──► argon2id verify
//	                                      (unknown email: a dummy hash, same cost)
//	                                  ──► tokens.issue (EdDSA, kid, 15 min)
//	service ──► POST /internal/tokens/validate (X-Service-Key only)
//	                                  ──► tokens.validate ──► auth.Principal
//
// The signing key is generated on first start and kept in
// DataDir/user-signing.key (0600); with an empty DataDir it lives in memory.
// Two demo users are seeded into an empty store: alice@example.com
// (customer) and admin@example.com (admin).
//
// The client address of the per-client limit is X-Forwarded-For, which
// the gateway sets from the peer address after deleting any client's copy;
// it is trusted only on a request with the valid gateway key.
//
// Other services never check signatures: they call ValidateToken through
// Client (kit.TokenClient, the default Validator of every service's frame;
// the wiring puts a resilience token cache in front of it). The route and
// its body are auth.RouteValidate and auth.ValidateRequest.
//
// Service and Client are safe for concurrent use.
//
// The Store has two implementations: SQLite (store.go, the default, in
// DataDir) and PostgreSQL (pgstore.go, schema "users", migrations in
// migrations/*.sql, chosen by Config.Store from OpenPGStore); storetest is
// the conformance suite both pass.
package user
