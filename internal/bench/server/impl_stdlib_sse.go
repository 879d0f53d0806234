package server

import (
	"net/http"
	"sync"
)

// A minimal hand-written Server-Sent Events loop on net/http: a buffered
// channel per subscriber, each event written and flushed as it arrives,
// the event bytes built once per broadcast.

func init() {
	Register(Impl{Name: "stdlib-sse", Protocol: SSE, New: newStdlibSSE})
}

type stdlibSSEServer struct {
	mu   sync.Mutex
	subs map[chan []byte]struct{}
	done chan struct{}
	once sync.Once
}

func newStdlibSSE() Server {
	return &stdlibSSEServer{subs: make(map[chan []byte]struct{}), done: make(chan struct{})}
}

func (s *stdlibSSEServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	flusher.Flush()
	ch := make(chan []byte, SendQueue)
	s.mu.Lock()
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
			flusher.Flush()
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
}

func (s *stdlibSSEServer) Broadcast(msg []byte) {
	ev := make([]byte, 0, len(msg)+8)
	ev = append(ev, "data: "...)
	ev = append(ev, msg...)
	ev = append(ev, "\n\n"...)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- ev:
		default:
			delete(s.subs, ch)
			close(ch)
		}
	}
}

func (s *stdlibSSEServer) Close() error {
	s.once.Do(func() { close(s.done) })
	return nil
}
