//go:build unix

package stream

import (
	"bytes"
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wstest"
)

// dialSmallWindow completes a handshake on path from a socket whose
// receive buffer is 4 KiB, and then never reads: its TCP window closes.
func dialSmallWindow(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: wstest.Timeout, Control: func(_, _ string, rc syscall.RawConn) error {
		var serr error
		rc.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
		return serr
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	return c
}

// A client that never reads while the server writes: its window closes,
// the server's write blocks and WriteTimeout closes the connection.
// Another client is served meanwhile and afterwards.
func TestFaultZeroWindow(t *testing.T) {
	wsCheckGoroutines(t)
	fs := startFaultServer(t, WSConfig{WriteTimeout: 300 * time.Millisecond}, nil, func(l net.Listener) net.Listener {
		return hubLimitListener{Listener: l, sndbuf: 16 << 10}
	})
	dialSmallWindow(t, fs.addr, "/flood")
	fs.healthyEcho(t)
	r := fs.result(t, "/flood")
	if !errors.Is(r.err, os.ErrDeadlineExceeded) || CloseStatus(r.err) != StatusAbnormalClosure {
		t.Fatalf("flood ended with %v, want a write timeout", r.err)
	}
	if r.stats.MessagesOut >= 1000 {
		t.Fatalf("stats %+v: every write succeeded", r.stats)
	}
	fs.healthyEcho(t)
	fs.seatsReturned(t)
}

// A Hub's queue is bounded in bytes as well as in messages: with room for
// 1000 messages but 64 KiB, a client that does not read is dealt with by
// the slow policy once its queue holds 64 KiB, while a reading client
// gets every message in order.
func TestFaultHubQueueBytes(t *testing.T) {
	for _, policy := range []SlowPolicy{DropOldest, DisconnectSlow} {
		t.Run(policy.String(), func(t *testing.T) {
			wsCheckGoroutines(t)
			const queueBytes, msgs = 64 << 10, 200
			s := startHub(t, HubConfig{QueueLen: 1000, QueueBytes: queueBytes, Policy: policy}, WSConfig{}, 16<<10, nil)
			dialStalled(t, s)
			hubWaitFor(t, "stalled client", func() bool { return s.hub.Count() == 1 })
			fast := s.dial(t, "/", 2)
			pad := bytes.Repeat([]byte("x"), 8<<10)
			for i := range msgs {
				msg := append([]byte{byte('0' + i%10)}, pad...)
				s.hub.Broadcast(msg)
				if m := fast.next(t); !bytes.Equal(m.p, msg) {
					t.Fatalf("message %d arrived wrong", i)
				}
				if n := hubQueuedBytes(s.hub); n > queueBytes {
					t.Fatalf("a queue holds %d bytes, limit %d", n, queueBytes)
				}
			}
			st := s.hub.Stats()
			switch policy {
			case DropOldest:
				if st.Drops == 0 || st.SlowDisconnects != 0 || st.Connections != 2 {
					t.Fatalf("stats %+v: want drops for the stalled client", st)
				}
			case DisconnectSlow:
				if st.SlowDisconnects != 1 || st.Connections != 1 {
					t.Fatalf("stats %+v: want the stalled client disconnected", st)
				}
			}
		})
	}
}

// hubQueuedBytes returns the most bytes queued for one connection.
func hubQueuedBytes(h *Hub) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, hc := range h.conns {
		hc.mu.Lock()
		n = max(n, hc.qBytes)
		hc.mu.Unlock()
	}
	return n
}
