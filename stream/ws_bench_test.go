package stream

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

var benchSizes = []int{16, 1 << 10, 64 << 10}

func benchName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}

// loopReader replays one frame forever.
type loopReader struct {
	frame []byte
	off   int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.frame[l.off:])
	l.off = (l.off + n) % len(l.frame)
	return n, nil
}

// BenchmarkReadMessage measures ReadMessage on an in-memory transport;
// the one allocation per op is the returned payload.
func BenchmarkReadMessage(b *testing.B) {
	for _, role := range []string{"server", "client"} {
		for _, size := range benchSizes {
			b.Run(role+"/"+benchName(size), func(b *testing.B) {
				client := role == "client"
				frame := wstest.AppendFrame(nil, true, 0, wsframe.OpBinary, !client, [4]byte{1, 2, 3, 4}, make([]byte, size))
				tr := byteTransport{Reader: &loopReader{frame: frame}, Writer: io.Discard}
				c := newConn(tr, bufio.NewReaderSize(tr, 4096), nil, client, resolveSettings(0, -1, -1, 0, 0, nil), "")
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := c.ReadMessage(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWriteMessage measures WriteMessage to a TCP peer that discards
// (server: one writev; client: masked copy).
func BenchmarkWriteMessage(b *testing.B) {
	for _, role := range []string{"server", "client"} {
		for _, size := range benchSizes {
			b.Run(role+"/"+benchName(size), func(b *testing.B) {
				a, peer := tcpConnPair(b)
				go io.Copy(io.Discard, peer)
				c := newConn(a, bufio.NewReader(a), nil, role == "client", resolveSettings(0, 0, -1, 0, 0, nil), "")
				defer c.teardown(ErrClosed)
				p := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.WriteMessage(BinaryMessage, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkEchoLoopback is a full round trip: Dial client to Upgrade
// echo server over loopback.
func BenchmarkEchoLoopback(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(benchName(size), func(b *testing.B) {
			sc, cc := benchPair(b)
			go echoLoop(sc)
			p := bytes.Repeat([]byte("x"), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := cc.WriteBinary(p); err != nil {
					b.Fatal(err)
				}
				if _, _, err := cc.ReadMessage(); err != nil {
					b.Fatal(err)
				}
			}
			cc.Close()
		})
	}
}

func benchPair(b *testing.B) (*WebSocketConn, *WebSocketConn) {
	a, peer := tcpConnPair(b)
	set := resolveSettings(64<<20, 0, -1, 0, 0, nil)
	sc := newConn(peer, bufio.NewReader(peer), nil, false, set, "")
	cc := newConn(a, bufio.NewReader(a), nil, true, set, "")
	return sc, cc
}

// BenchmarkUpgrade measures the server's handshake over loopback: a
// client sends an upgrade request, reads the 101 and resets the
// connection, whose reader then fails, as a connection-rate load does.
// Allocations are the server's and the client's together.
func BenchmarkUpgrade(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, WSConfig{ReadIdleTimeout: -1})
		if err != nil {
			return
		}
		defer c.Close()
		c.ReadMessage()
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	req := []byte("GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " +
		wstest.Key + "\r\nSec-WebSocket-Version: 13\r\n\r\n")
	buf := make([]byte, 512)
	b.ReportAllocs()
	for b.Loop() {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := nc.Write(req); err != nil {
			b.Fatal(err)
		}
		n, err := nc.Read(buf)
		if err != nil || !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 101 ")) {
			b.Fatalf("response %q, %v", buf[:n], err)
		}
		nc.(*net.TCPConn).SetLinger(0)
		nc.Close()
	}
}

// BenchmarkAppendMessage measures the server's steady-state read of small
// messages into a reused slice: from memory with keepalive off and on
// (on, every frame counts as activity), and from a TCP peer that keeps
// the socket full, so that most reads find many frames buffered, with
// keepalive off and on.
func BenchmarkAppendMessage(b *testing.B) {
	for _, size := range []int{16, 1 << 10} {
		for _, text := range []bool{false, true} {
			op, kind := wsframe.OpBinary, "binary"
			if text {
				op, kind = wsframe.OpText, "text"
			}
			frame := wstest.AppendFrame(nil, true, 0, op, true, [4]byte{1, 2, 3, 4}, bytes.Repeat([]byte("x"), size))
			for _, idle := range []time.Duration{-1, 0} {
				name := "mem/" + kind + "/" + benchName(size)
				if idle == 0 {
					name = "mem-keepalive/" + kind + "/" + benchName(size)
				}
				b.Run(name, func(b *testing.B) {
					tr := byteTransport{Reader: &loopReader{frame: frame}, Writer: io.Discard}
					c := newConn(tr, bufio.NewReaderSize(tr, 4096), nil, false, resolveSettings(0, -1, idle, 0, 0, nil), "")
					defer c.teardown(ErrClosed)
					benchAppend(b, c, size)
				})
			}
			for _, idle := range []time.Duration{-1, 0} {
				name := "tcp/" + kind + "/" + benchName(size)
				if idle == 0 {
					name = "tcp-keepalive/" + kind + "/" + benchName(size)
				}
				b.Run(name, func(b *testing.B) {
					a, peer := tcpConnPair(b)
					batch := bytes.Repeat(frame, max(1, 16<<10/len(frame)))
					go func() {
						for {
							if _, err := peer.Write(batch); err != nil {
								return
							}
						}
					}()
					c := newConn(a, bufio.NewReader(a), nil, false, resolveSettings(0, 0, idle, 0, 0, nil), "")
					defer c.teardown(ErrClosed)
					benchAppend(b, c, size)
				})
			}
		}
	}
}

func benchAppend(b *testing.B, c *WebSocketConn, size int) {
	var p []byte
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if _, p, err = c.AppendMessage(p[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
