// Package contract holds the header names of docs/CONTRACTS.md that more
// than one layer must agree on, and the one list of internal headers: the
// ones only the lab itself may set. It is a leaf (it imports nothing of the
// lab), so the gateway, the services, resilience and deploy's contract test
// all read the same list.
//
//	client ──► gateway: StripInternal deletes every name in Internal
//	                    ──► the gateway sets the ones it owns itself
//	                        (budget, gateway key, client address)
//	docs/CONTRACTS.md "Internal headers" ◄── deploy test: same names
package contract
