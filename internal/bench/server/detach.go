package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"sync"
)

// Detached runs h the way many applications run a WebSocket: the handler
// upgrades the connection, starts a goroutine that owns it and returns, so
// that net/http drops its request state and the handler goroutine's stack
// (gws documents `go socket.ReadLoop()`; gorilla's chat example starts its
// pumps and returns). It does that for any implementation without changing
// it: h runs in a new goroutine with a request whose context outlives the
// handler, and the handler returns as soon as h has hijacked the
// connection, or when h returns without hijacking.
func Detached(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		dw := &detachedWriter{ResponseWriter: w, hijacked: make(chan struct{})}
		done := make(chan struct{})
		r = r.WithContext(context.WithoutCancel(r.Context()))
		go func() {
			defer close(done)
			h(dw, r)
		}()
		select {
		case <-dw.hijacked:
		case <-done:
		}
	}
}

// detachedWriter signals when its connection has been hijacked.
type detachedWriter struct {
	http.ResponseWriter
	hijacked chan struct{}
	once     sync.Once
}

// Hijack hijacks the underlying connection and then lets the handler
// return.
func (w *detachedWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.once.Do(func() { close(w.hijacked) })
	}
	return c, rw, err
}

// Flush flushes the underlying writer.
func (w *detachedWriter) Flush() { _ = http.NewResponseController(w.ResponseWriter).Flush() }

// Unwrap returns the underlying writer, for http.ResponseController.
func (w *detachedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
