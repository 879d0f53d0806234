//go:build linux

package stream

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// On TCP, the write deadline is set only while a frame write waits for
// room in the socket's send buffer, and lifted once that write is done;
// writes that go through at once touch no deadline.
func TestWriteDeadlineArmedOnlyWhileWaiting(t *testing.T) {
	a, peer := tcpConnPair(t)
	// Small buffers on both sides, so that a large frame must wait.
	a.(*net.TCPConn).SetWriteBuffer(16 << 10)
	peer.(*net.TCPConn).SetReadBuffer(16 << 10)
	const timeout = time.Minute
	c := newConn(a, bufio.NewReader(a), nil, false, resolveSettings(0, timeout, -1, 0, 0, nil), "")
	defer c.teardown(ErrClosed)
	if c.ww == nil {
		t.Fatal("no write waiter over TCP")
	}
	var calls []time.Time
	c.ww.setDeadline = func(d time.Time) error {
		calls = append(calls, d)
		return a.SetWriteDeadline(d)
	}

	tests := []struct {
		name string
		size int
		wait bool // the write must wait for the peer to read
	}{
		{"small", 16, false},
		{"large", 8 << 20, true},
		{"small after large", 1 << 10, false},
		{"large again", 8 << 20, true},
	}
	for _, tt := range tests {
		calls = calls[:0]
		msg := bytes.Repeat([]byte{'x'}, tt.size)
		read := make(chan error, 1)
		go func() {
			// Header (at most 10 bytes) and payload.
			n := 2
			if tt.size > 125 {
				n += 2
			}
			if tt.size > 65535 {
				n += 6
			}
			_, err := io.CopyN(io.Discard, peer, int64(n+tt.size))
			read <- err
		}()
		start := time.Now()
		if err := c.WriteMessage(BinaryMessage, msg); err != nil {
			t.Fatalf("%s: write: %v", tt.name, err)
		}
		if err := <-read; err != nil {
			t.Fatalf("%s: peer read: %v", tt.name, err)
		}
		if !tt.wait {
			if len(calls) != 0 {
				t.Fatalf("%s: deadlines %v set for a write that did not wait", tt.name, calls)
			}
			continue
		}
		if len(calls) != 2 || calls[0].Before(start.Add(timeout)) || !calls[1].IsZero() {
			t.Fatalf("%s: deadlines %v, want one at least %v after the write began, then none", tt.name, calls, timeout)
		}
	}
}

// A write that waits longer than WriteTimeout fails with the deadline
// error, and the connection is closed with 1006.
func TestWriteDeadlineExpiresWhileWaiting(t *testing.T) {
	a, peer := tcpConnPair(t)
	a.(*net.TCPConn).SetWriteBuffer(16 << 10)
	peer.(*net.TCPConn).SetReadBuffer(16 << 10)
	c := newConn(a, bufio.NewReader(a), nil, false, resolveSettings(0, 50*time.Millisecond, -1, 0, 0, nil), "")
	// The peer never reads.
	err := c.WriteMessage(BinaryMessage, make([]byte, 8<<20))
	if !errors.Is(err, os.ErrDeadlineExceeded) || CloseStatus(err) != StatusAbnormalClosure {
		t.Fatalf("write error %v, want the deadline and 1006", err)
	}
	<-c.Closed()
	if err := c.WriteMessage(BinaryMessage, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after timeout: %v", err)
	}
}
