package fault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Kinds of Fault.
const (
	KindStatus   = "status"    // answer Status (4xx/5xx) as problem+json
	KindDelay    = "delay"     // wait Delay before the handler runs
	KindSlowBody = "slow_body" // write the handler's response at BytesPerSecond
)

// Errors.
var (
	// ErrInvalid is wrapped by every validation error of a Fault.
	ErrInvalid = errors.New("invalid fault")
	// ErrNotFound means no fault has that name.
	ErrNotFound = errors.New("no such fault")
)

// Fault is one HTTP-level fault. It is a plain, JSON-serialisable value.
type Fault struct {
	// Name identifies the fault: 1–64 of [A-Za-z0-9_.-]. Setting a fault
	// with an existing name replaces it.
	Name string `json:"name"`
	// Kind is KindStatus, KindDelay or KindSlowBody.
	Kind string `json:"kind"`
	// Status is the status a KindStatus fault answers (400–599).
	Status int `json:"status,omitempty"`
	// RetryAfter, when positive, is sent as Retry-After (seconds) by a
	// KindStatus fault.
	RetryAfter int `json:"retry_after,omitempty"`
	// Delay is how long a KindDelay fault waits; JSON: "500ms".
	Delay time.Duration `json:"-" file:"delay"`
	// BytesPerSecond is the rate of a KindSlowBody fault.
	BytesPerSecond int `json:"bytes_per_second,omitempty"`
	// Probability in (0, 1] that a matching request gets the fault; 0 means 1.
	Probability float64 `json:"probability,omitempty" file:"probability,nonzero"`
	// PathPrefix limits the fault to paths starting with it; empty means all.
	PathPrefix string `json:"path_prefix,omitempty"`
}

type faultJSON struct {
	Name           string   `json:"name"`
	Kind           string   `json:"kind"`
	Status         int      `json:"status,omitempty"`
	RetryAfter     int      `json:"retry_after,omitempty"`
	Delay          string   `json:"delay,omitempty"`
	BytesPerSecond int      `json:"bytes_per_second,omitempty"`
	Probability    *float64 `json:"probability,omitempty"`
	PathPrefix     string   `json:"path_prefix,omitempty"`
}

// MarshalJSON writes Delay as a duration string.
func (f Fault) MarshalJSON() ([]byte, error) {
	j := faultJSON{Name: f.Name, Kind: f.Kind, Status: f.Status, RetryAfter: f.RetryAfter,
		BytesPerSecond: f.BytesPerSecond, PathPrefix: f.PathPrefix}
	if f.Delay != 0 {
		j.Delay = f.Delay.String()
	}
	if f.Probability != 0 {
		p := f.Probability
		j.Probability = &p
	}
	return json.Marshal(j)
}

// UnmarshalJSON decodes strictly: unknown fields, a bad delay and an
// explicit probability of 0 are errors.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var j faultJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	g, err := j.fault()
	if err != nil {
		return err
	}
	*f = g
	return nil
}

func (j faultJSON) fault() (Fault, error) {
	f := Fault{Name: j.Name, Kind: j.Kind, Status: j.Status, RetryAfter: j.RetryAfter,
		BytesPerSecond: j.BytesPerSecond, PathPrefix: j.PathPrefix}
	if j.Delay != "" {
		d, err := time.ParseDuration(j.Delay)
		if err != nil {
			return Fault{}, fmt.Errorf("%w: delay must be a duration like \"500ms\", got %q", ErrInvalid, j.Delay)
		}
		f.Delay = d
	}
	if j.Probability != nil {
		if *j.Probability <= 0 || *j.Probability > 1 {
			return Fault{}, fmt.Errorf("%w: probability must be in (0, 1], got %g (omit it for 1)", ErrInvalid, *j.Probability)
		}
		f.Probability = *j.Probability
	}
	return f, nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Validate reports the first problem with f.
func (f Fault) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	if !nameRE.MatchString(f.Name) {
		return bad("name must be 1-64 characters of A-Z a-z 0-9 _ . -, got %q", f.Name)
	}
	if f.Probability < 0 || f.Probability > 1 {
		return bad("probability must be in (0, 1], got %g", f.Probability)
	}
	if f.PathPrefix != "" && !strings.HasPrefix(f.PathPrefix, "/") {
		return bad("path_prefix must start with /, got %q", f.PathPrefix)
	}
	if f.Delay < 0 {
		return bad("delay must not be negative, got %s", f.Delay)
	}
	if f.RetryAfter < 0 {
		return bad("retry_after must not be negative, got %d", f.RetryAfter)
	}
	if f.BytesPerSecond < 0 {
		return bad("bytes_per_second must not be negative, got %d", f.BytesPerSecond)
	}
	switch f.Kind {
	case KindStatus:
		if f.Status < 400 || f.Status > 599 {
			return bad("status must be a 4xx or 5xx code, got %d", f.Status)
		}
	case KindDelay:
		if f.Delay <= 0 {
			return bad("delay fault needs a positive delay")
		}
	case KindSlowBody:
		if f.BytesPerSecond <= 0 {
			return bad("slow_body fault needs bytes_per_second > 0")
		}
	case "":
		return bad("kind is required (status, delay or slow_body)")
	default:
		return bad("unknown kind %q (want status, delay or slow_body)", f.Kind)
	}
	return nil
}

func (f Fault) probability() float64 {
	if f.Probability == 0 {
		return 1
	}
	return f.Probability
}

func (f Fault) matches(r *http.Request) bool {
	return f.PathPrefix == "" || strings.HasPrefix(r.URL.Path, f.PathPrefix)
}

// String describes f for logs and reports.
func (f Fault) String() string {
	var s string
	switch f.Kind {
	case KindStatus:
		s = fmt.Sprintf("%s: status %d", f.Name, f.Status)
		if f.RetryAfter > 0 {
			s += fmt.Sprintf(" Retry-After %ds", f.RetryAfter)
		}
	case KindDelay:
		s = fmt.Sprintf("%s: delay %s", f.Name, f.Delay)
	case KindSlowBody:
		s = fmt.Sprintf("%s: slow body %dB/s", f.Name, f.BytesPerSecond)
	default:
		s = f.Name + ": " + f.Kind
	}
	if p := f.probability(); p < 1 {
		s += fmt.Sprintf(" p=%.2g", p)
	}
	if f.PathPrefix != "" {
		s += " on " + f.PathPrefix
	}
	return s
}
