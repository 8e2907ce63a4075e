// Package api holds the gateway's public REST API as an OpenAPI 3.1
// document, openapi.yaml, embedded so that the gateway can serve it and
// tests can load it.
//
//	api/openapi.yaml ──embed──► api.YAML() ──► gateway GET /api/v1/openapi.yaml
//	                               └─ api.JSON() ──► gateway GET /api/v1/openapi.json
//	                               └─ apitest.New ──► every gateway answer in the tests
//	                                                  is checked against it
//
// The document is the contract: every route the gateway serves, each with
// every status it can answer, its headers (Retry-After, Location, Link,
// X-Cache-Status) and its problem+json errors. api/apitest checks the
// gateway against it in the component tests, the README walk-through and
// the chaos scenarios; a route or an answer that is not in the document
// fails them.
//
// The validator is getkin/kin-openapi (openapi3 and openapi3filter),
// v0.153.0, chosen over pb33f/libopenapi-validator v0.16.2 by the quality
// of its 3.1 support. Both validate the JSON Schema 2020-12 keywords this
// document uses (type arrays, const, prefixItems, unevaluatedProperties,
// numeric exclusiveMinimum), headers, undocumented statuses and content
// types alike. kin-openapi's document check is the stricter lint: it
// refuses a schema with an unknown type ("strin") and checks every example
// against its schema, both of which libopenapi-validator's ValidateDocument
// (a check against the 3.1 meta-schema) let through; its errors name the
// failing member and value. Its cost: kin-openapi compiles a 3.1 body
// schema on every validation (about 2 ms for a 20-product page here), so
// apitest queues the checks until a test asks for the verdicts (never
// during the load a chaos scenario measures) and memoises them (16 µs for
// an answer seen before).
package api
