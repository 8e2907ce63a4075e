// Package router wraps httprouter so that every route records its pattern
// for metrics and logs, and every unmatched path, wrong method or panic is an
// RFC 9457 problem rather than a plain-text error.
//
//	request ──► httprouter match ──► observability.SetRoute(pattern) ──► handler
package router
