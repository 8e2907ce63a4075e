package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// hub fans the state out to every event stream. A slow page misses
// states (each one supersedes the last), never blocks a scrape.
type hub struct {
	mu     sync.Mutex
	subs   map[chan []byte]struct{}
	done   chan struct{}
	closed bool
}

func newHub() *hub { return &hub{subs: map[chan []byte]struct{}{}, done: make(chan struct{})} }

func (h *hub) subscribe() (<-chan []byte, func()) {
	ch := make(chan []byte, 4)
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.subs[ch] = struct{}{}
	}
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *hub) send(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- b:
		default: // full: this page gets the next state
		}
	}
}

func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// publish sends the current state to every stream.
func (s *Server) publish() {
	b, err := stateEvent(s.State())
	if err == nil {
		s.hub.send(b)
	}
}

// stateEvent is one Server-Sent Event carrying st.
func stateEvent(st State) ([]byte, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("console: encode state: %w", err)
	}
	return fmt.Appendf(nil, "event: state\ndata: %s\n\n", b), nil
}

// eventWriteTimeout bounds each write to a stream, so a page that stopped
// reading is let go.
const eventWriteTimeout = 30 * time.Second

// events streams the state as Server-Sent Events: the current one at once,
// then one per scrape and per change of the scenario run.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	ch, cancel := s.hub.subscribe()
	defer cancel()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	write := func(b []byte) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(eventWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	first, err := stateEvent(s.State())
	if err != nil || !write(first) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.hub.done:
			return
		case b := <-ch:
			if !write(b) {
				return
			}
		}
	}
}
