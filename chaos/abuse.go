package chaos

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faultlab/faultlab/chaos/load"
)

// FaultAbuse is a FaultSpec kind: hostile load sent through the gateway for
// the step's window, from its own client addresses, beside the scenario's
// load. Its results are judged like the mix's, under its Call name, and
// never count in the mix's own checks or timeline.
const FaultAbuse FaultKind = "abuse"

// Calls of an Abuse.
const (
	// CallAbuseWrongPassword logs in to Abuse.Email with wrong passwords.
	CallAbuseWrongPassword = "abuse_wrong_password"
	// CallAbuseUnknownEmail logs in with a new unknown email each time.
	CallAbuseUnknownEmail = "abuse_unknown_email"
)

// DefaultAbuseEmail is the account CallAbuseWrongPassword attacks when
// Abuse.Email is empty: the demo admin, so that the demo customer's own
// logins (the "login" call) are the legitimate ones.
const DefaultAbuseEmail = "admin@example.com"

// Abuse is the hostile load of a FaultAbuse step.
type Abuse struct {
	// Call is CallAbuseWrongPassword or CallAbuseUnknownEmail.
	Call string `json:"call"`
	// Rate is requests per second; 0 means as fast as Concurrency allows.
	Rate float64 `json:"rate,omitempty"`
	// Concurrency caps requests in flight; 0 means 2.
	Concurrency int `json:"concurrency,omitempty"`
	// Sources is how many client addresses the load comes from, in turn
	// (127.77.0.1, 127.77.0.2, …: any 127/8 address is loopback on Linux,
	// and the gateway sees each as its own client); 0 means 1. With more
	// than one, every request opens its own connection.
	Sources int `json:"sources,omitempty"`
	// Email is the account of CallAbuseWrongPassword; default DefaultAbuseEmail.
	Email string `json:"email,omitempty"`
}

// Validate reports the first problem with a.
func (a Abuse) Validate() error {
	if a.Call != CallAbuseWrongPassword && a.Call != CallAbuseUnknownEmail {
		return fmt.Errorf("%w: abuse call must be %q or %q, got %q", ErrScenario, CallAbuseWrongPassword, CallAbuseUnknownEmail, a.Call)
	}
	if a.Rate < 0 || a.Concurrency < 0 || a.Sources < 0 || a.Sources > 60000 {
		return fmt.Errorf("%w: abuse rate, concurrency and sources (≤ 60000) must not be negative", ErrScenario)
	}
	return nil
}

func (a Abuse) String() string {
	s := a.Call
	if a.Rate > 0 {
		s += fmt.Sprintf(" at %g/s", a.Rate)
	} else {
		s += " flat out"
	}
	return s + fmt.Sprintf(" from %d address(es)", max(a.Sources, 1))
}

// isAbuseCall reports whether call names an Abuse call.
func isAbuseCall(call string) bool {
	return call == CallAbuseWrongPassword || call == CallAbuseUnknownEmail
}

// sourceIP is the i-th abuse client address.
func sourceIP(i int) net.IP { return net.IPv4(127, 77, byte(i/250), byte(i%250+1)) }

// abuseClient sends from a.Sources loopback addresses in turn.
func abuseClient(a Abuse) *http.Client {
	n := max(a.Sources, 1)
	var next atomic.Uint64
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			i := int(next.Add(1)-1) % n
			d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: sourceIP(i)}}
			return d.DialContext(ctx, network, addr)
		},
		DisableKeepAlives:   n > 1,
		MaxIdleConnsPerHost: max(a.Concurrency, 2),
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// startAbuse starts step's abuse load; the returned stop ends it and waits.
func (rn *run) startAbuse(ctx context.Context, a Abuse) func() {
	var seq atomic.Uint64
	email := a.Email
	if email == "" {
		email = DefaultAbuseEmail
	}
	call := load.Call{Name: a.Call, Weight: 1, Build: func(ctx context.Context) (*http.Request, error) {
		n := strconv.FormatUint(seq.Add(1), 10)
		body := map[string]string{"email": email, "password": "wrong-" + n}
		if a.Call == CallAbuseUnknownEmail {
			body = map[string]string{"email": "nobody-" + n + "@example.invalid", "password": "guess"}
		}
		req, err := rn.wl.newRequest(ctx, http.MethodPost, rn.wl.routes().Login, body)
		if err == nil {
			req.Header.Del("Authorization")
		}
		return req, err
	}}
	actx, cancel := context.WithCancel(ctx)
	hc := abuseClient(a)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer hc.CloseIdleConnections()
		_, err := load.Run(actx, load.Config{
			Rate: a.Rate, Duration: rn.sc.Load.Duration, Concurrency: max(a.Concurrency, 2),
			Mix: []load.Call{call}, Client: hc, Now: rn.opt.Now,
			OnResult: func(r load.Result) {
				if errors.Is(r.Err, context.Canceled) {
					return // stopped by the step's end, not answered
				}
				rec := record{r: r, off: r.Start.Sub(rn.t0), ok: load.DefaultSuccess(r)}
				rn.mu.Lock()
				rn.phases[phaseAbuse] = append(rn.phases[phaseAbuse], rec)
				rn.mu.Unlock()
			},
		})
		if err != nil {
			rn.errorf("abuse %s: %v", a.Call, err)
		}
	}()
	return func() { cancel(); wg.Wait() }
}

// phaseAbuse keys the abuse results in run.phases.
const phaseAbuse = "abuse"
