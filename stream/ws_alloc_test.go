package stream

import (
	"bufio"
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// tcpConnPair returns both ends of a loopback TCP connection.
func tcpConnPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-ch
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); peer.Close() })
	return a, peer
}

// TestSteadyStateAllocs checks that reading into a reused buffer and
// writing frames allocate nothing once a connection is warm.
func TestSteadyStateAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are meaningless under -race")
	}
	const runs = 100
	set := resolveSettings(1<<20, 0, -1, 0, 0, nil)
	key := [4]byte{1, 2, 3, 4}

	t.Run("AppendMessage/tcp/16B", func(t *testing.T) {
		a, peer := tcpConnPair(t)
		frame := wstest.AppendFrame(nil, true, 0, wsframe.OpBinary, true, key, bytes.Repeat([]byte("x"), 16))
		c := newConn(a, bufio.NewReader(a), nil, false, set, "")
		var buf []byte
		allocs := testing.AllocsPerRun(runs, func() {
			// One frame at a time, so that the read buffer empties (and
			// goes back to its pool) after every message.
			if _, err := peer.Write(frame); err != nil {
				t.Fatal(err)
			}
			var err error
			if _, buf, err = c.AppendMessage(buf[:0]); err != nil || len(buf) != 16 {
				t.Fatalf("AppendMessage: %d bytes, %v", len(buf), err)
			}
		})
		if allocs != 0 {
			t.Errorf("AppendMessage over TCP: %v allocs per message, want 0", allocs)
		}
	})

	for _, size := range []int{16, 1 << 10, 64 << 10} {
		t.Run("AppendMessage/memory/"+benchName(size), func(t *testing.T) {
			frame := wstest.AppendFrame(nil, true, 0, wsframe.OpText, true, key, bytes.Repeat([]byte("é"), size/2))
			tr := byteTransport{Reader: &loopReader{frame: frame}, Writer: io.Discard}
			c := newConn(tr, bufio.NewReader(tr), nil, false, set, "")
			var buf []byte
			allocs := testing.AllocsPerRun(runs, func() {
				var err error
				if _, buf, err = c.AppendMessage(buf[:0]); err != nil || len(buf) != size {
					t.Fatalf("AppendMessage: %d bytes, %v", len(buf), err)
				}
			})
			if allocs != 0 {
				t.Errorf("AppendMessage: %v allocs per message, want 0", allocs)
			}
		})
	}

	t.Run("write/tcp", func(t *testing.T) {
		a, peer := tcpConnPair(t)
		sink := make([]byte, 64<<10)
		go func() {
			for {
				if _, err := peer.Read(sink); err != nil {
					return
				}
			}
		}()
		c := newConn(a, bufio.NewReader(a), nil, false, set, "")
		p := make([]byte, 1<<10)
		if allocs := testing.AllocsPerRun(runs, func() {
			if err := c.WriteMessage(BinaryMessage, p); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("WriteMessage: %v allocs per message, want 0", allocs)
		}
		frame := appendServerFrame(nil, BinaryMessage, p[:64])
		batch := [][]byte{frame, frame, frame, frame, frame, frame, frame}
		if allocs := testing.AllocsPerRun(runs, func() {
			if err := c.writeFrames(batch); err != nil {
				t.Fatal(err)
			}
		}); allocs != 0 {
			t.Errorf("writeFrames of %d frames: %v allocs per batch, want 0", len(batch), allocs)
		}
		if !bytes.Equal(batch[0], frame) {
			t.Error("writeFrames modified its frames")
		}
	})

	// A compressed message is built whole in the codec's output buffer,
	// which is kept for the next one: incompressible data, whose output is
	// larger than its input, included.
	random := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{7}).Read(random)
	for _, tc := range []struct {
		name string
		mode CompressionMode
		p    []byte
	}{
		{"json", CompressionNoContextTakeover, jsonMessages(1)[0]},
		{"64KiB-random", CompressionNoContextTakeover, random},
		{"json/context", CompressionContextTakeover, jsonMessages(1)[0]},
		{"64KiB-random/context", CompressionContextTakeover, random},
	} {
		t.Run("write/deflate/"+tc.name, func(t *testing.T) {
			var cw countingWriter
			tr := byteTransport{Reader: bytes.NewReader(nil), Writer: &cw}
			c := newConn(tr, bufio.NewReader(tr), nil, false, set, "")
			noCtx := tc.mode == CompressionNoContextTakeover
			c.enableDeflate(deflateConfig{mode: tc.mode, threshold: 64, level: DefaultCompressionLevel}, deflateAgreement{noCtx, noCtx})
			if allocs := testing.AllocsPerRun(runs, func() {
				if err := c.WriteMessage(BinaryMessage, tc.p); err != nil {
					t.Fatal(err)
				}
			}); allocs != 0 {
				t.Errorf("WriteMessage of %d bytes: %v allocs per message, want 0", len(tc.p), allocs)
			}
			if cw.n == 0 {
				t.Fatal("nothing written")
			}
		})
	}
}

// TestAppendMessage checks that AppendMessage appends whole messages
// (fragmented, compressed or not) after what dst holds, and that
// ReadMessage returns the same bytes.
func TestAppendMessage(t *testing.T) {
	big := bytes.Repeat([]byte("abcdefgh"), 16<<10) // 128 KiB, compressible
	tests := []struct {
		name string
		mode CompressionMode
		msg  []byte
		frag bool
	}{
		{"empty", CompressionDisabled, []byte{}, false},
		{"small", CompressionDisabled, []byte("hello"), false},
		{"large", CompressionDisabled, big, false},
		{"fragmented", CompressionDisabled, big, true},
		{"compressed", CompressionNoContextTakeover, big, false},
		{"compressed/takeover", CompressionContextTakeover, big, false},
		{"compressed/fragmented", CompressionNoContextTakeover, big, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sc, cc := dialPair(t, WSConfig{Compression: tt.mode, CompressionThreshold: -1}, DialConfig{Compression: tt.mode, CompressionThreshold: -1})
			send := func() {
				if !tt.frag {
					if err := cc.WriteBinary(tt.msg); err != nil {
						t.Fatal(err)
					}
					return
				}
				w, err := cc.NextWriter(BinaryMessage)
				if err != nil {
					t.Fatal(err)
				}
				for p := tt.msg; len(p) > 0; p = p[min(len(p), 5000):] {
					if _, err := w.Write(p[:min(len(p), 5000)]); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
			}
			go func() {
				for range 3 {
					send()
				}
			}()
			mt, got, err := sc.ReadMessage()
			if err != nil || mt != BinaryMessage || got == nil || !bytes.Equal(got, tt.msg) {
				t.Fatalf("ReadMessage: type %v, %d bytes (nil %v), %v; want %d bytes", mt, len(got), got == nil, err, len(tt.msg))
			}
			buf := []byte("prefix")
			for i := range 2 {
				mt, buf, err = sc.AppendMessage(buf[:6])
				if err != nil || mt != BinaryMessage {
					t.Fatalf("AppendMessage %d: type %v, %v", i, mt, err)
				}
				if string(buf[:6]) != "prefix" || !bytes.Equal(buf[6:], tt.msg) {
					t.Fatalf("AppendMessage %d: got %d bytes, want prefix and %d bytes", i, len(buf), len(tt.msg))
				}
			}
		})
	}
}

// TestReadBufferReleasedWhenIdle checks that a TCP connection holds no read
// buffer once it has read everything that arrived, and that frames trickling
// in a byte at a time (read with and without a buffer) come out whole.
func TestReadBufferReleasedWhenIdle(t *testing.T) {
	a, peer := tcpConnPair(t)
	c := newConn(a, bufio.NewReader(a), nil, false, resolveSettings(1<<20, 0, -1, 0, 0, nil), "")
	defer c.teardown(ErrClosed)
	key := [4]byte{9, 8, 7, 6}
	msgs := [][]byte{[]byte("one"), bytes.Repeat([]byte("2"), 300), bytes.Repeat([]byte("3"), 70000)}
	var wire []byte
	for _, m := range msgs {
		wire = wstest.AppendFrame(wire, true, 0, wsframe.OpBinary, true, key, m)
	}
	errc := make(chan error, 1)
	go func() {
		// The first two frames byte by byte, the large one whole.
		small := len(wire) - 70000 - 14
		for i := range small {
			if _, err := peer.Write(wire[i : i+1]); err != nil {
				errc <- err
				return
			}
		}
		_, err := peer.Write(wire[small:])
		errc <- err
	}()
	for i, want := range msgs {
		_, got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c.readMu.Lock()
	held := c.r.buf != nil
	c.readMu.Unlock()
	if held {
		t.Error("read buffer still held with nothing buffered")
	}
}
