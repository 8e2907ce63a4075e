// Package user is the identity service: it logs users in, issues short-lived
// Ed25519-signed JWTs, and validates them for the other services.
//
//	gateway ──► POST /users/api/login ──► limiter (per account, per client IP)
//	                                  ──► Store.UserByEmail ──► argon2id verify
//	                                  ──► tokens.issue (EdDSA, kid, 15 min)
//	service ──► POST /internal/tokens/validate (X-Service-Key only)
//	                                  ──► tokens.validate ──► auth.Principal
//
// The signing key is generated on first start and kept in
// DataDir/user-signing.key (0600); with an empty DataDir it lives in memory.
// Two demo users are seeded into an empty store: alice@example.com
// (customer) and admin@example.com (admin).
//
// Other services never check signatures: they call ValidateToken through
// Client (usually behind a resilience token cache).
//
// Service and Client are safe for concurrent use.
package user
