// Package apitest checks a gateway's answers against the API document
// (api/openapi.yaml) in tests. Its Validator wraps the gateway's handler
// where a test serves it, so every request that reaches the gateway and
// every answer it gives are checked, whatever client sent them (Go, curl,
// a raw TCP attack, a chaos load generator):
//
//	client ──► Validator.Middleware ──► gateway
//	              │ tee the request body, copy the answer as it is written
//	              └─► queue ──► Check(request, answer) ──► violations ──► tb.Errorf (Report)
//
// Checks wait in a queue until Report, Violations or Seen: kin-openapi
// compiles a 3.1 body schema on every validation, and a chaos scenario
// must not measure a lab slowed by its own contract check.
//
// An answer is a violation when
//   - its route and method are in the document, and its status, headers
//     (Retry-After, Location, Link, X-Cache-Status …), content type or body
//     are not what the document says for that operation;
//   - its path is not in the document and it is not a 404 problem, or its
//     method is not and it is not a 405 problem;
//   - the document refuses the request (a wrong type, a value past a limit,
//     a missing Idempotency-Key or bearer token) and the gateway accepted
//     it with a 2xx.
//
// The checks use getkin/kin-openapi's openapi3filter, which validates 3.1
// documents with JSON Schema 2020-12 (see package api for the choice).
// A Validator is safe for concurrent use.
package apitest
