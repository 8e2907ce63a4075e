// Package resilience wraps every call between services. See the composition
// order below; the code builds it in exactly this order.
package resilience
