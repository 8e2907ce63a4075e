// Package topology is the one list of the lab's services: their default
// ports, the services each one calls (its upstreams), and the public route
// prefixes the gateway serves for them. Everything else derives from it:
// the hops (one Toxiproxy proxy per caller → callee, named
// <caller>-to-<callee>), the start order, the services' default URLs, the
// labs' wiring, the cmd flags and the deploy checks.
//
//	gateway :8080 ──► user :8081
//	   │  ├─────────► product :8082 ──► user
//	   │  ├─────────► order :8083 ──► user, product, payment
//	   │  └─────────► payment :8084 ──► user
//	   └─ public routes: /api/v1/login, /api/v1/products, /api/v1/orders, /api/v1/payments
//
// Hops are numbered in the order of the list (callers by port, then their
// upstreams in list order); the hop at index i listens on HopPortBase+1+i
// (21001 … 21009 today). Toxiproxy's API listens on ToxiproxyPort (8474).
//
// A service that others call may run as replicas (replica.go): replica n
// listens on its port + ReplicaPortStep × (n-1), behind one proxy per caller
// named <caller>-to-<callee>-<n> on the hop's port + ReplicaPortStep ×
// (n-1); with one replica, names and ports are as above.
//
// To add a service, append it to the list below with a new port and its
// upstreams: its hops, proxy ports and start position follow, and the
// existing hops keep their ports. Giving an existing service a new
// upstream renumbers the proxies after it; the deploy tests then name each
// file (compose, toxiproxy.json, CONTRACTS.md) that must follow.
//
// The package is a leaf: it imports nothing of this module (a test checks).
package topology

// The service names.
const (
	Gateway = "gateway"
	User    = "user"
	Product = "product"
	Order   = "order"
	Payment = "payment"
)

// The gateway's public route prefixes (docs/CONTRACTS.md, api/openapi.yaml).
const (
	RouteLogin    = "/api/v1/login"
	RouteProducts = "/api/v1/products"
	RouteOrders   = "/api/v1/orders"
	RoutePayments = "/api/v1/payments"
)

// Ports outside the services.
const (
	// ToxiproxyPort is the port of Toxiproxy's HTTP API.
	ToxiproxyPort = 8474
	// AdminPort is the port of the lab's admin API (`faultlab up`: stop
	// and start one replica), on loopback.
	AdminPort = 8475
	// HopPortBase is one below the listen port of the first hop's proxy.
	HopPortBase = 21000
	// Loopback is the host every default address binds.
	Loopback = "127.0.0.1"
)

// The one list, in port order. Upstreams are listed in port order too, so
// that hops number as docs/CONTRACTS.md shows them.
var services = []Service{
	{Name: Gateway, Port: 8080, Upstreams: []string{User, Product, Order, Payment}, Public: true},
	{Name: User, Port: 8081, Routes: []string{RouteLogin}},
	{Name: Product, Port: 8082, Upstreams: []string{User}, Routes: []string{RouteProducts}},
	{Name: Order, Port: 8083, Upstreams: []string{User, Product, Payment}, Routes: []string{RouteOrders}},
	{Name: Payment, Port: 8084, Upstreams: []string{User}, Routes: []string{RoutePayments}},
}
