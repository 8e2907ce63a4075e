// Package bad is scanned by TestBypassCheckFlagsDirectCalls; it is never built.
package bad

import (
	"net/http"
	nh "net/http"
)

func calls() {
	_, _ = http.Get("http://127.0.0.1:8082/products")
	_, _ = nh.Post("http://x", "application/json", nil)
	_ = http.DefaultClient
	_ = &http.Client{}
	_ = new(http.Client)
	_ = http.DefaultTransport
}
