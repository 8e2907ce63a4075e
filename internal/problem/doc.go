// Package problem writes RFC 9457 problem details (application/problem+json)
// and maps errors to them. It is the one place where an error becomes an HTTP
// status, so every 4xx and 5xx the lab returns has the same shape:
//
//	error ──► problem.From(err) ──► *Error{Status, Title, Detail} ──► Write(w, r)
//
// Handlers return or write *Error values; anything else maps to 500 with a
// generic detail, so internal error text never leaks to clients.
package problem
