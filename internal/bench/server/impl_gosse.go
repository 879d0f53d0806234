package server

import (
	"context"
	"net/http"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// github.com/tmaxmax/go-sse as its README uses it: an sse.Server with the
// default provider (Joe), each broadcast published as one Message.

func init() {
	Register(Impl{Name: "go-sse", Protocol: SSE, New: newGoSSE})
}

type goSSEServer struct{ s *sse.Server }

func newGoSSE() Server { return &goSSEServer{s: &sse.Server{}} }

func (g *goSSEServer) Subscribe(w http.ResponseWriter, r *http.Request) { g.s.ServeHTTP(w, r) }

func (g *goSSEServer) Broadcast(msg []byte) {
	m := &sse.Message{}
	m.AppendData(string(msg))
	_ = g.s.Publish(m)
}

func (g *goSSEServer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.s.Shutdown(ctx)
}
