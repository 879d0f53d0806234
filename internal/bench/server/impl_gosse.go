package server

import (
	"context"
	"net/http"
	"sync"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// github.com/tmaxmax/go-sse with its default provider (Joe), each broadcast
// published as one Message. The handler is sse.Server.ServeHTTP's own
// sequence (Upgrade, then Subscribe to the provider) plus one Flush after
// Upgrade: go-sse otherwise sends the response headers only with the first
// event, and clients, browsers included, wait for them before counting the
// stream as open.

func init() {
	Register(Impl{Name: "go-sse", Protocol: SSE, New: newGoSSE})
}

type goSSEServer struct {
	joe    *sse.Joe
	active sync.WaitGroup // handlers in Subscribe
}

func newGoSSE() Server { return &goSSEServer{joe: &sse.Joe{}} }

var goSSETopics = []string{sse.DefaultTopic}

func (g *goSSEServer) Subscribe(w http.ResponseWriter, r *http.Request) {
	g.active.Add(1)
	defer g.active.Done()
	sess, err := sse.Upgrade(w, r)
	if err != nil {
		http.Error(w, "Server-sent events unsupported", http.StatusInternalServerError)
		return
	}
	if sess.Flush() != nil {
		return
	}
	_ = g.joe.Subscribe(r.Context(), sse.Subscription{Client: sess, Topics: goSSETopics})
}

func (g *goSSEServer) Broadcast(msg []byte) {
	m := &sse.Message{}
	m.AppendData(string(msg))
	_ = g.joe.Publish(m, goSSETopics)
}

// Close shuts Joe down once the handlers of departed clients have
// unsubscribed (at most two seconds): Joe.Shutdown lets a pending Subscribe
// return while Joe may still be writing to that subscriber's response.
func (g *goSSEServer) Close() error {
	idle := make(chan struct{})
	go func() { g.active.Wait(); close(idle) }()
	select {
	case <-idle:
	case <-time.After(2 * time.Second):
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return g.joe.Shutdown(ctx)
}
