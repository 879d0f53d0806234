package stream

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// hubServer is a hub behind a loopback HTTP server.
type hubServer struct {
	hub *Hub
	srv *httptest.Server
	url string
}

// hubLimitListener gives every accepted connection a small, fixed send
// buffer, so a client that stops reading fills it quickly.
type hubLimitListener struct {
	net.Listener
	sndbuf int
}

func (l hubLimitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil && l.sndbuf > 0 {
		c.(*net.TCPConn).SetWriteBuffer(l.sndbuf)
	}
	return c, err
}

// startHub starts a hub and a server for its Handler. The hub is stopped
// and the server closed at cleanup. sndbuf > 0 sets the server's send
// buffer per connection.
func startHub(t testing.TB, cfg HubConfig, wcfg WSConfig, sndbuf int, onMessage func(*WebSocketConn, MessageType, []byte)) *hubServer {
	t.Helper()
	h := NewHub(cfg)
	srv := httptest.NewUnstartedServer(h.Handler(wcfg, onMessage))
	srv.Listener = hubLimitListener{Listener: srv.Listener, sndbuf: sndbuf}
	srv.Start()
	t.Cleanup(func() {
		h.Stop()
		srv.Close()
	})
	return &hubServer{hub: h, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http") + "/"}
}

// hubClient is a client connection whose messages a goroutine forwards
// to msgs until the connection ends, then closes msgs.
type hubClient struct {
	c    *WebSocketConn
	msgs chan hubGot
	end  chan error // the read error, once
}

type hubGot struct {
	mt MessageType
	p  []byte
}

// dial connects a client to s and waits until the hub has registered it
// (total is the hub's expected count afterwards, 0 to skip the wait).
func (s *hubServer) dial(t testing.TB, path string, total int) *hubClient {
	t.Helper()
	c, _, err := Dial(context.Background(), s.url+strings.TrimPrefix(path, "/"), DialConfig{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	hc := &hubClient{c: c, msgs: make(chan hubGot, 4096), end: make(chan error, 1)}
	go func() {
		defer close(hc.msgs)
		for {
			mt, p, err := c.ReadMessage()
			if err != nil {
				hc.end <- err
				return
			}
			hc.msgs <- hubGot{mt, p}
		}
	}()
	t.Cleanup(func() { c.Close() })
	if total > 0 {
		hubWaitFor(t, "registration", func() bool { return s.hub.Count() >= total })
	}
	return hc
}

// next returns the client's next message or fails the test.
func (hc *hubClient) next(t testing.TB) hubGot {
	t.Helper()
	select {
	case m, ok := <-hc.msgs:
		if !ok {
			t.Fatalf("connection ended: %v", <-hc.end)
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
	}
	return hubGot{}
}

// none checks that no message is waiting after the hub's writers for
// the client have finished (the caller has made sure of that).
func (hc *hubClient) none(t testing.TB) {
	t.Helper()
	select {
	case m := <-hc.msgs:
		t.Fatalf("unexpected message %q", m.p)
	default:
	}
}

// hubWaitFor polls cond until it holds, failing after 10 s.
func hubWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// hubCheck verifies the hub's internal indexes agree with each other.
func hubCheck(t testing.TB, h *Hub) {
	t.Helper()
	h.mu.RLock()
	defer h.mu.RUnlock()
	if len(h.byConn) != len(h.conns) {
		t.Fatalf("%d conns in map, %d in list", len(h.byConn), len(h.conns))
	}
	for i, hc := range h.conns {
		if hc.idx != i || h.byConn[hc.c] != hc {
			t.Fatalf("conn %d misindexed (idx %d)", i, hc.idx)
		}
		for room, j := range hc.rooms {
			r := h.rooms[room]
			if r == nil || j >= len(r.list) || r.list[j] != hc {
				t.Fatalf("conn %d: room %q index %d wrong", i, room, j)
			}
		}
	}
	for name, r := range h.rooms {
		if len(r.list) == 0 {
			t.Fatalf("empty room %q kept", name)
		}
		for _, hc := range r.list {
			if h.byConn[hc.c] != hc {
				t.Fatalf("room %q holds an unregistered conn", name)
			}
		}
	}
	for id, list := range h.ids {
		for _, hc := range list {
			if hc.id != id || h.byConn[hc.c] != hc {
				t.Fatalf("ID %q index wrong", id)
			}
		}
	}
}

// hubQuiet waits until no writer is running for any registered
// connection.
func hubQuiet(t testing.TB, h *Hub) {
	t.Helper()
	hubWaitFor(t, "writers to finish", func() bool {
		h.mu.RLock()
		defer h.mu.RUnlock()
		for _, hc := range h.conns {
			hc.mu.Lock()
			busy := hc.writing
			hc.mu.Unlock()
			if busy {
				return false
			}
		}
		return true
	})
}

// httpTestWS serves a handler that upgrades and calls serve with the
// connection, and returns its ws:// URL. The server closes at cleanup.
func httpTestWS(t testing.TB, serve func(*WebSocketConn)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{})
		if err != nil {
			return
		}
		serve(c)
		c.Close()
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
}
