package stream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wstest"
)

// wsCheckGoroutines records the goroutine count and, registered as the
// first cleanup so it runs after all others, fails the test if within a
// deadline the count does not fall back.
func wsCheckGoroutines(t testing.TB) func() {
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
	return func() {}
}

// echoLoop sends every message back with its type until an error, which
// it returns.
func echoLoop(c *WebSocketConn) error {
	for {
		mt, p, err := c.ReadMessage()
		if err != nil {
			return err
		}
		if err := c.WriteMessage(mt, p); err != nil {
			return err
		}
	}
}

// wsEcho is an echo endpoint under test together with a raw peer.
type wsEcho struct {
	peer *wstest.Peer
	conn *WebSocketConn
	done chan error // the endpoint's final error
}

// serveEcho starts an httptest server whose handler upgrades with cfg
// and runs an echo loop; the upgraded connection arrives on the returned
// channel once a peer has connected.
func serveEcho(t *testing.T, cfg WSConfig) (*httptest.Server, *wsEcho, <-chan *WebSocketConn) {
	t.Helper()
	e := &wsEcho{done: make(chan error, 1)}
	conns := make(chan *WebSocketConn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, cfg)
		if err != nil {
			e.done <- err
			return
		}
		conns <- c
		e.done <- echoLoop(c)
	}))
	t.Cleanup(srv.Close)
	return srv, e, conns
}

// startServerEcho serves an echo endpoint with cfg and connects a raw
// client peer to it, sending extra right after the handshake.
func startServerEcho(t *testing.T, cfg WSConfig, extra []byte) *wsEcho {
	t.Helper()
	srv, e, conns := serveEcho(t, cfg)
	p, _, err := wstest.DialServer(strings.TrimPrefix(srv.URL, "http://"), "/", extra)
	if err != nil {
		t.Fatalf("raw handshake: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	e.peer = p
	e.conn = <-conns
	return e
}

// startClientEcho runs Dial against a raw server peer and an echo loop on
// the client connection.
func startClientEcho(t *testing.T, cfg DialConfig, after []byte) *wsEcho {
	t.Helper()
	return startClientEchoResponse(t, cfg, nil, after)
}

// startClientEchoResponse is startClientEcho with the raw server's
// handshake response written by respond (nil: a plain 101).
func startClientEchoResponse(t *testing.T, cfg DialConfig, respond func(*http.Request) string, after []byte) *wsEcho {
	t.Helper()
	s, err := wstest.Listen()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	e := &wsEcho{done: make(chan error, 1)}
	type res struct {
		c   *WebSocketConn
		err error
	}
	dialed := make(chan res, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), wstest.Timeout)
		defer cancel()
		c, _, err := Dial(ctx, s.URL(), cfg)
		dialed <- res{c, err}
	}()
	p, _, err := s.Accept(respond, after)
	if err != nil {
		t.Fatalf("raw accept: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	r := <-dialed
	if r.err != nil {
		t.Fatalf("Dial: %v", r.err)
	}
	e.peer, e.conn = p, r.c
	go func() { e.done <- echoLoop(r.c) }()
	return e
}

// wait returns the endpoint's final error.
func (e *wsEcho) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-e.done:
		return err
	case <-time.After(wstest.Timeout):
		t.Fatal("endpoint did not finish")
		return nil
	}
}
