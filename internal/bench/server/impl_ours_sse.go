package server

import (
	"net/http"

	"github.com/stdrealtime/realtime/stream"
)

// Ours for Server-Sent Events: stream.SSEBroker with its defaults, except
// that heartbeats are off, as no other implementation sends them, and each
// subscriber's queue holds SendQueue events like the others'.

func init() {
	Register(Impl{Name: "ours-sse", Protocol: SSE, Ours: true, New: newOursSSE})
}

type oursSSEServer struct{ b *stream.SSEBroker }

func newOursSSE() Server {
	return &oursSSEServer{b: stream.NewSSEBroker(stream.SSEBrokerConfig{HeartbeatInterval: -1, DefaultBuf: SendQueue})}
}

func (s *oursSSEServer) Subscribe(w http.ResponseWriter, r *http.Request) { s.b.ServeHTTP(w, r) }

func (s *oursSSEServer) Broadcast(msg []byte) { _ = s.b.Publish(stream.Event{Data: string(msg)}) }

func (s *oursSSEServer) Close() error { return s.b.Close() }
