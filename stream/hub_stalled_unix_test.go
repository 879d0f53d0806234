//go:build unix

package stream

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wstest"
)

// dialStalled opens a raw WebSocket connection to s with a small receive
// buffer and never reads from it.
func dialStalled(t testing.TB, s *hubServer) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	addr := strings.TrimPrefix(s.srv.URL, "http://")
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	return c
}

// TestHubSlowClientIsolation runs 100 clients that read and one that
// never does, whose TCP window fills. Every reading client must get every
// message, in order, while the stalled one is handled by the policy; the
// stalled connection's queue, and the number of goroutines, stay bounded.
func TestHubSlowClientIsolation(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy SlowPolicy
		code   StatusCode
	}{
		{"drop oldest", DropOldest, 0},
		{"disconnect 1008", DisconnectSlow, StatusPolicyViolation},
		{"disconnect 1013", DisconnectSlow, StatusTryAgainLater},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer wsCheckGoroutines(t)()
			const fast, msgs, window, queueLen = 100, 320, 16, 16
			cfg := HubConfig{QueueLen: queueLen, Policy: tc.policy, DisconnectCode: tc.code, DisconnectReason: "reads too slowly"}
			// A long CloseTimeout lets the stalled client start reading
			// after its disconnect and still see the close frame; a long
			// WriteTimeout keeps the stalled connection's blocked write
			// from ending it on a loaded machine: only the policy may.
			s := startHub(t, cfg, WSConfig{CloseTimeout: 10 * time.Second, WriteTimeout: 2 * time.Minute}, 16<<10, nil)
			stalled := dialStalled(t, s)
			hubWaitFor(t, "stalled client", func() bool { return s.hub.Count() == 1 })
			received := make([]chan int, fast)
			for i := range fast {
				c := s.dial(t, "/", i+2)
				received[i] = make(chan int, msgs)
				go func() {
					for m := range c.msgs {
						n, _ := strconv.Atoi(string(m.p[:bytes.IndexByte(m.p, ' ')]))
						received[i] <- n
					}
				}()
			}
			baseline := runtime.NumGoroutine()
			pad := bytes.Repeat([]byte("x"), 1024)
			var peak int
			for sent := 0; sent < msgs; {
				for range window {
					if !s.hub.Broadcast(append(strconv.AppendInt(nil, int64(sent), 10), append([]byte(" "), pad...)...)) && tc.policy == DropOldest {
						t.Fatalf("broadcast %d refused", sent)
					}
					sent++
				}
				// Every fast client has the whole window before the
				// next one is sent: the stalled client delays nobody.
				for i := range fast {
					for want := sent - window; want < sent; want++ {
						select {
						case got := <-received[i]:
							if got != want {
								t.Fatalf("client %d got message %d, want %d", i, got, want)
							}
						case <-time.After(10 * time.Second):
							t.Fatalf("client %d: message %d not delivered within 10s", i, want)
						}
					}
				}
				peak = max(peak, runtime.NumGoroutine())
				if n := hubQueued(s.hub); n > queueLen {
					t.Fatalf("a queue holds %d messages, limit %d", n, queueLen)
				}
			}
			// At most one writer per connection, plus the disconnect.
			if peak > baseline+fast+1+4 {
				t.Fatalf("goroutines: %d at baseline, peak %d", baseline, peak)
			}
			st := s.hub.Stats()
			t.Logf("stats %+v", st)
			switch tc.policy {
			case DropOldest:
				if st.Drops == 0 || st.SlowDisconnects != 0 || st.Connections != fast+1 {
					t.Fatalf("stats %+v: want drops for the stalled client only", st)
				}
				if st.Deliveries < uint64(fast*msgs) {
					t.Fatalf("%d deliveries, want at least %d", st.Deliveries, fast*msgs)
				}
			case DisconnectSlow:
				if st.SlowDisconnects != 1 || st.Connections != fast {
					t.Fatalf("stats %+v: want the stalled client disconnected", st)
				}
				// Reading now lets the blocked write finish, then the
				// close frame follows.
				stalled.SetDeadline(time.Now().Add(10 * time.Second))
				code, reason := hubReadRawClose(t, stalled)
				if code != tc.code || reason != "reads too slowly" {
					t.Fatalf("stalled client closed with %d %q, want %d", code, reason, tc.code)
				}
			}
		})
	}
}

// hubQueued returns the longest queue of a registered connection.
func hubQueued(h *Hub) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, hc := range h.conns {
		hc.mu.Lock()
		n = max(n, len(hc.q))
		hc.mu.Unlock()
	}
	return n
}

// hubReadRawClose skips the handshake response and data frames on a raw
// connection and returns the close frame's code and reason.
func hubReadRawClose(t testing.TB, c net.Conn) (StatusCode, string) {
	t.Helper()
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("handshake response: %v", err)
	}
	resp.Body.Close()
	p := &wstest.Peer{Conn: c, R: br, Client: true}
	code, reason, err := p.ReadClose()
	if err != nil {
		t.Fatalf("no close frame: %v", err)
	}
	return StatusCode(code), reason
}
