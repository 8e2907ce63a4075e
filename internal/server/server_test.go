package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/faultlab/faultlab/internal/server"
)

// serve runs server.New(h) on a loopback listener after tweak adjusts it,
// and returns its address and a count of requests that reached h.
func serve(t *testing.T, tweak func(*http.Server)) (string, *atomic.Int64) {
	t.Helper()
	var reached atomic.Int64
	srv := server.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		_, _ = io.WriteString(w, "ok")
	}), nil)
	if tweak != nil {
		tweak(srv)
	}
	return start(t, srv), &reached
}

// start serves srv on a loopback listener until the end of the test and
// returns its address.
func start(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := server.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, srv, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDefaults(t *testing.T) {
	srv := server.New(http.NotFoundHandler(), nil)
	if srv.ReadHeaderTimeout != 5*time.Second || srv.MaxHeaderBytes != 16<<10 {
		t.Fatalf("ReadHeaderTimeout %v, MaxHeaderBytes %d", srv.ReadHeaderTimeout, srv.MaxHeaderBytes)
	}
	if srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 {
		t.Fatalf("a timeout is unset: %+v", srv)
	}
}

// TestSlowHeaders: a client that dribbles its headers is cut off at
// ReadHeaderTimeout and never reaches the handler.
func TestSlowHeaders(t *testing.T) {
	const timeout = 200 * time.Millisecond
	addr, reached := serve(t, func(s *http.Server) { s.ReadHeaderTimeout = timeout })
	c := dial(t, addr)
	start := time.Now()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	closed := false
	for time.Since(start) < 20*timeout {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		if _, err := io.WriteString(c, "X"); err != nil {
			closed = true
			break
		}
		_ = c.SetReadDeadline(time.Now().Add(timeout / 4))
		if _, err := c.Read(make([]byte, 512)); err != nil {
			var ne net.Error
			if !errors.As(err, &ne) || !ne.Timeout() {
				closed = true
				break
			}
		}
	}
	if !closed {
		t.Fatalf("connection open after %v of slow headers", time.Since(start))
	}
	// start is taken after the dial, a little after the server started
	// its clock: allow that slack.
	if el := time.Since(start); el < timeout-50*time.Millisecond {
		t.Fatalf("closed after %v, before ReadHeaderTimeout %v", el, timeout)
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d requests reached the handler", n)
	}

	// Control: the same server answers a prompt client.
	c2 := dial(t, addr)
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprint(c2, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c2), nil)
	if err != nil || resp.StatusCode != http.StatusOK || reached.Load() != 1 {
		t.Fatalf("prompt client: %v %v, reached %d", resp, err, reached.Load())
	}
}

// TestOversizedHeaders: headers past MaxHeaderBytes (plus the 4 KiB slack
// net/http allows) get 431 without reaching the handler.
func TestOversizedHeaders(t *testing.T) {
	addr, reached := serve(t, nil)
	for _, tc := range []struct {
		name string
		size int
		want int
	}{
		{"within the limit", server.DefaultMaxHeaderBytes / 2, http.StatusOK},
		{"twice the limit", 2 * server.DefaultMaxHeaderBytes, http.StatusRequestHeaderFieldsTooLarge},
		{"many small headers", -1, http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := reached.Load()
			var hdr strings.Builder
			if tc.size < 0 {
				for i := range 2 * server.DefaultMaxHeaderBytes / 16 {
					fmt.Fprintf(&hdr, "X-H%05d: 0123456\r\n", i)
				}
			} else {
				fmt.Fprintf(&hdr, "X-Padding: %s\r\n", strings.Repeat("p", tc.size))
			}
			c := dial(t, addr)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			// Write in the background: the server may answer and close
			// before it has read everything.
			go func() {
				_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"+hdr.String()+"\r\n")
			}()
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			wantReached := n
			if tc.want == http.StatusOK {
				wantReached++
			}
			if got := reached.Load(); got != wantReached {
				t.Fatalf("handler reached %d times, want %d", got-n, wantReached-n)
			}
		})
	}
}

// TestSmugglingClosesTheConnection (issue 17): a request with both
// Content-Length and Transfer-Encoding is answered, then the connection is
// closed; the request pipelined behind it is never served.
func TestSmugglingClosesTheConnection(t *testing.T) {
	var (
		mu    sync.Mutex
		paths []string
	)
	srv := server.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		mu.Lock()
		paths = append(paths, r.URL.Path)
		mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}), nil)
	addr := start(t, srv)

	tests := []struct {
		name, first string
		closed      bool
	}{
		{"content-length and chunked", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true},
		{"chunked and content-length", "POST /first HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 44\r\n\r\n0\r\n\r\n", true},
		// Control: the same pipelining with honest framing is served.
		{"content-length only", "POST /first HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			paths = nil
			mu.Unlock()
			c := dial(t, addr)
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(c, tt.first+"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			second, err := http.ReadResponse(br, nil)
			if tt.closed {
				if err == nil {
					t.Fatalf("a second answer (%s) came on the same connection", second.Status)
				}
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("want the connection closed, got %v", err)
				}
				if !resp.Close {
					t.Error("the answer does not say Connection: close")
				}
			} else if err != nil {
				t.Fatalf("control: %v", err)
			}
			mu.Lock()
			got := strings.Join(paths, " ")
			mu.Unlock()
			want := "/first"
			if !tt.closed {
				want = "/first /smuggled"
			}
			if got != want {
				t.Fatalf("served %q, want %q", got, want)
			}
		})
	}
}
