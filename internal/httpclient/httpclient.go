package httpclient

import (
	"net"
	"net/http"
	"time"
)

// NewTransport returns a keep-alive transport tuned for many short calls to
// a few loopback or in-cluster hosts. It is safe for concurrent use.
func NewTransport() *http.Transport {
	d := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 nil, // never route lab traffic through an environment proxy
		DialContext:           d.DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// Plain returns a client with an overall timeout, for tools that talk to a
// lab from outside it. Zero timeout means 30 s.
func Plain(timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &http.Client{Transport: NewTransport(), Timeout: timeout}
}
