package stream

import (
	"context"
	"net/http"
	"sync"
)

// Tracker keeps track of upgraded WebSocket connections so a server can
// close them on shutdown: http.Server.Shutdown does not know about
// hijacked connections, and waits for the handlers of connections over
// HTTP/2, which only end when the connections do. The zero value is
// ready to use and all methods are safe for concurrent use.
//
// Typical use:
//
//	var tr stream.Tracker
//	srv.RegisterOnShutdown(tr.CloseAll)
//	// handler: conn, err := tr.Upgrade(w, r, cfg)
//	// on SIGTERM:
//	srv.Shutdown(ctx)
//	tr.Shutdown(ctx)
type Tracker struct {
	mu       sync.Mutex
	conns    map[*WebSocketConn]struct{}
	shutting bool
	empty    chan struct{}
}

// Upgrade is Upgrade followed by Track. Once shutdown has begun it
// answers 503 Service Unavailable and returns a *HandshakeError.
func (t *Tracker) Upgrade(w http.ResponseWriter, r *http.Request, cfg WSConfig) (*WebSocketConn, error) {
	t.mu.Lock()
	shutting := t.shutting
	t.mu.Unlock()
	if shutting {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return nil, &HandshakeError{Op: "upgrade", Status: http.StatusServiceUnavailable, Reason: "server shutting down"}
	}
	c, err := Upgrade(w, r, cfg)
	if err != nil {
		return nil, err
	}
	t.Track(c)
	return c, nil
}

// Track adds c, which is removed again when it closes. If shutdown has
// begun, c is closed with 1001 Going Away at once.
func (t *Tracker) Track(c *WebSocketConn) {
	t.mu.Lock()
	if t.shutting {
		t.mu.Unlock()
		go c.CloseWithStatus(StatusGoingAway, "server shutting down")
		return
	}
	if t.conns == nil {
		t.conns = make(map[*WebSocketConn]struct{})
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	c.OnClose(func() { t.remove(c) })
}

func (t *Tracker) remove(c *WebSocketConn) {
	t.mu.Lock()
	delete(t.conns, c)
	if t.shutting && len(t.conns) == 0 && t.empty != nil {
		select {
		case <-t.empty:
		default:
			close(t.empty)
		}
	}
	t.mu.Unlock()
}

// Len returns the number of open tracked connections.
func (t *Tracker) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// CloseAll refuses further upgrades and starts closing every tracked
// connection with 1001 Going Away, without waiting. Its signature suits
// http.Server.RegisterOnShutdown.
func (t *Tracker) CloseAll() {
	t.mu.Lock()
	t.begin()
	conns := make([]*WebSocketConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	if len(conns) == 0 {
		return
	}
	// A bounded number of closers work through the list in parallel;
	// each close waits at most CloseTimeout for its peer.
	work := make(chan *WebSocketConn)
	workers := min(len(conns), 64)
	for range workers {
		go func() {
			for c := range work {
				c.CloseWithStatus(StatusGoingAway, "server shutting down")
			}
		}()
	}
	go func() {
		for _, c := range conns {
			work <- c
		}
		close(work)
	}()
}

// begin marks shutdown; t.mu is held.
func (t *Tracker) begin() {
	if t.shutting {
		return
	}
	t.shutting = true
	t.empty = make(chan struct{})
	if len(t.conns) == 0 {
		close(t.empty)
	}
}

// Shutdown calls CloseAll and waits until every tracked connection has
// closed or ctx is done, returning ctx.Err() in the latter case.
func (t *Tracker) Shutdown(ctx context.Context) error {
	t.CloseAll()
	t.mu.Lock()
	empty := t.empty
	t.mu.Unlock()
	select {
	case <-empty:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
