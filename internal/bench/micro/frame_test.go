package micro

import (
	"context"
	"io"
	"testing"

	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"

	"github.com/stdrealtime/realtime/stream"
)

// Frame write and read on the server side of a connection upgraded in
// memory: write is one binary message of the given size to a discarding
// conn; read is one masked client message of that size, unmasked and
// returned as each library's usual read call does. Ours is read two ways:
// ReadMessage, which returns a new slice like gorilla's and coder's calls,
// and AppendMessage into a reused buffer ("ours-append"), like the gobwas
// loop and gws.

// oursMicroConfig is the benchmark servers' configuration of ours.
var oursMicroConfig = stream.WSConfig{ReadLimit: 1 << 20, ReadIdleTimeout: -1}

// oursUpgrade upgrades an in-memory connection with package stream.
func oursUpgrade(b *testing.B, conn *memConn) *stream.WebSocketConn {
	w, r := upgradeRequest(conn)
	c, err := stream.Upgrade(w, r, oursMicroConfig)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func BenchmarkFrameWrite(b *testing.B) {
	for _, sz := range sizes {
		p := payloadOf(sz.n)
		b.Run("ours/"+sz.name, func(b *testing.B) {
			c := oursUpgrade(b, newMemConn(nil, 0))
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(stream.BinaryMessage, p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("gorilla/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(nil, 0))
			c, err := (&gorilla.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}).Upgrade(w, r, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(gorilla.BinaryMessage, p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("coder/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(nil, -1))
			c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionDisabled})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			ctx := context.Background()
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Write(ctx, coder.MessageBinary, p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("gws/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(nil, 0))
			c, err := gws.NewUpgrader(&gws.BuiltinEventHandler{}, &gws.ServerOption{ReadBufferSize: 4096}).Upgrade(w, r)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(gws.OpcodeBinary, p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("gobwas/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(nil, 0))
			_, rw, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				b.Fatal(err)
			}
			h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(sz.n)}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if err := ws.WriteHeader(rw.Writer, h); err != nil {
					b.Fatal(err)
				}
				rw.Writer.Write(p)
				if err := rw.Writer.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkFrameRead(b *testing.B) {
	for _, sz := range sizes {
		frame := clientFrame(payloadOf(sz.n))
		b.Run("ours/"+sz.name, func(b *testing.B) {
			c := oursUpgrade(b, newMemConn(frame, -1))
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, m, err := c.ReadMessage(); err != nil || len(m) != sz.n {
					b.Fatal(err)
				}
			}
		})
		b.Run("ours-append/"+sz.name, func(b *testing.B) {
			c := oursUpgrade(b, newMemConn(frame, -1))
			var buf []byte
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if _, buf, err = c.AppendMessage(buf[:0]); err != nil || len(buf) != sz.n {
					b.Fatal(err)
				}
			}
		})
		b.Run("gorilla/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(frame, -1))
			c, err := (&gorilla.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}).Upgrade(w, r, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, m, err := c.ReadMessage(); err != nil || len(m) != sz.n {
					b.Fatal(err)
				}
			}
		})
		b.Run("coder/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(frame, -1))
			c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: coder.CompressionDisabled})
			if err != nil {
				b.Fatal(err)
			}
			defer c.CloseNow()
			c.SetReadLimit(1 << 20)
			ctx := context.Background()
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				if _, m, err := c.Read(ctx); err != nil || len(m) != sz.n {
					b.Fatal(err)
				}
			}
		})
		b.Run("gws/"+sz.name, func(b *testing.B) {
			// gws reads in its ReadLoop and calls OnMessage: feed exactly
			// b.N frames and time the loop until the conn runs dry.
			h := &gwsCounter{}
			up := gws.NewUpgrader(h, &gws.ServerOption{ReadBufferSize: 4096, ReadMaxPayloadSize: 1 << 20})
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			b.StopTimer()
			w, r := upgradeRequest(newMemConn(frame, b.N))
			c, err := up.Upgrade(w, r)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			c.ReadLoop()
			b.StopTimer()
			if h.n != b.N {
				b.Fatalf("read %d messages of %d", h.n, b.N)
			}
		})
		b.Run("gobwas/"+sz.name, func(b *testing.B) {
			w, r := upgradeRequest(newMemConn(frame, -1))
			_, rw, _, err := ws.UpgradeHTTP(r, w)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, sz.n)
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				h, err := ws.ReadHeader(rw.Reader)
				if err != nil || h.Length != int64(sz.n) {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(rw.Reader, buf); err != nil {
					b.Fatal(err)
				}
				ws.Cipher(buf, h.Mask, 0)
			}
		})
	}
}

// gwsCounter counts the messages gws delivers.
type gwsCounter struct {
	gws.BuiltinEventHandler
	n int
}

func (h *gwsCounter) OnMessage(c *gws.Conn, m *gws.Message) {
	h.n++
	_ = m.Close()
}
