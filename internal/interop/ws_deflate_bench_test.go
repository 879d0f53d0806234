package interop

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/stdrealtime/realtime/stream"
)

// BenchmarkDeflatePeers compares permessage-deflate in package stream
// with gorilla/websocket and coder/websocket, each library talking to
// itself over loopback TCP: the client writes a message, the server
// echoes it, the client reads the echo. All compress at flate.BestSpeed
// (gorilla's and coder's only level) and every non-empty message, except
// "ours/context-level6", our default with context takeover. gorilla
// supports no context takeover only. Besides time and allocations it
// reports the bytes the client wrote to the socket per message, frame
// headers included (wire-B/msg), and payload bytes per wire byte (ratio).
func BenchmarkDeflatePeers(b *testing.B) {
	var feed []byte
	for i := 0; len(feed) < 64<<10; i++ {
		feed = append(feed, jsonMessage(i)...)
	}
	payloads := []struct {
		name string
		msgs [][]byte
	}{
		{"json", jsonFeed(256)},
		{"64KiB-json", [][]byte{feed[:64<<10]}},
		{"64KiB-random-text", [][]byte{noiseText(64 << 10)}},
	}
	peers := []struct {
		name string
		pair echoPair
	}{
		{"off/ours", oursEcho(stream.CompressionDisabled, 0)},
		{"off/gorilla", gorillaEcho(false)},
		{"off/coder", coderEcho(coder.CompressionDisabled)},
		{"nocontext/ours", oursEcho(stream.CompressionNoContextTakeover, 1)},
		{"nocontext/gorilla", gorillaEcho(true)},
		{"nocontext/coder", coderEcho(coder.CompressionNoContextTakeover)},
		{"context/ours", oursEcho(stream.CompressionContextTakeover, 1)},
		{"context/coder", coderEcho(coder.CompressionContextTakeover)},
		{"context-level6/ours", oursEcho(stream.CompressionContextTakeover, 6)},
	}
	for _, pl := range payloads {
		var size int64
		for _, m := range pl.msgs {
			size += int64(len(m))
		}
		for _, pe := range peers {
			b.Run(pl.name+"/"+pe.name, func(b *testing.B) {
				var conn *countingConn
				dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					conn = &countingConn{Conn: c}
					return conn, nil
				}
				send, recv, done := pe.pair(b, dial)
				defer done()
				start := conn.out.Load()
				b.SetBytes(size / int64(len(pl.msgs)))
				b.ReportAllocs()
				var n int64
				for b.Loop() {
					if err := send(pl.msgs[n%int64(len(pl.msgs))]); err != nil {
						b.Fatal(err)
					}
					if err := recv(); err != nil {
						b.Fatal(err)
					}
					n++
				}
				wire := conn.out.Load() - start
				b.ReportMetric(float64(wire)/float64(n), "wire-B/msg")
				b.ReportMetric(float64(size*n/int64(len(pl.msgs)))/float64(wire), "ratio")
			})
		}
	}
}

// dialFunc opens a client's TCP connection.
type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

// echoPair connects a client, dialling with dial, to an echo server of
// the same library, and returns the client's send and receive and a
// function that closes both.
type echoPair func(b *testing.B, dial dialFunc) (send func([]byte) error, recv func() error, done func())

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

// oursEcho pairs a stream.Dial client with a stream.Upgrade echo server,
// both with mode at level and a threshold that compresses every message.
func oursEcho(mode stream.CompressionMode, level int) echoPair {
	return func(b *testing.B, dial dialFunc) (func([]byte) error, func() error, func()) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := stream.Upgrade(w, r, stream.WSConfig{ReadLimit: readLimit, ReadIdleTimeout: -1,
				Compression: mode, CompressionLevel: level, CompressionThreshold: -1})
			if err != nil {
				return
			}
			for {
				mt, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, p); err != nil {
					return
				}
			}
		}))
		c, _, err := stream.Dial(context.Background(), wsURL(srv), stream.DialConfig{ReadLimit: readLimit, ReadIdleTimeout: -1,
			Compression: mode, CompressionLevel: level, CompressionThreshold: -1, NetDialContext: dial})
		if err != nil {
			b.Fatal(err)
		}
		if (c.Extensions() != "") != (mode != stream.CompressionDisabled) {
			b.Fatalf("negotiated %q", c.Extensions())
		}
		send := func(p []byte) error { return c.WriteMessage(stream.TextMessage, p) }
		recv := func() error { _, _, err := c.ReadMessage(); return err }
		return send, recv, func() { c.Close(); srv.Close() }
	}
}

// gorillaEcho pairs a gorilla client and echo server, compressing with
// gorilla's default level, flate.BestSpeed, when compress is set.
func gorillaEcho(compress bool) echoPair {
	return func(b *testing.B, dial dialFunc) (func([]byte) error, func() error, func()) {
		up := gorilla.Upgrader{EnableCompression: compress}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			c.SetReadLimit(readLimit)
			for {
				mt, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, p); err != nil {
					return
				}
			}
		}))
		d := gorilla.Dialer{EnableCompression: compress, NetDialContext: dial}
		c, resp, err := d.Dial(wsURL(srv), nil)
		if err != nil {
			b.Fatal(err)
		}
		if (resp.Header.Get("Sec-WebSocket-Extensions") != "") != compress {
			b.Fatalf("negotiated %q", resp.Header.Get("Sec-WebSocket-Extensions"))
		}
		c.SetReadLimit(readLimit)
		send := func(p []byte) error { return c.WriteMessage(gorilla.TextMessage, p) }
		recv := func() error { _, _, err := c.ReadMessage(); return err }
		return send, recv, func() { c.Close(); srv.Close() }
	}
}

// coderEcho pairs a coder client and echo server with mode, compressing
// every message of at least one byte.
func coderEcho(mode coder.CompressionMode) echoPair {
	return func(b *testing.B, dial dialFunc) (func([]byte) error, func() error, func()) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := coder.Accept(w, r, &coder.AcceptOptions{CompressionMode: mode, CompressionThreshold: 1})
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.SetReadLimit(readLimit)
			ctx := context.Background()
			for {
				mt, p, err := c.Read(ctx)
				if err != nil {
					return
				}
				if err := c.Write(ctx, mt, p); err != nil {
					return
				}
			}
		}))
		ctx := context.Background()
		hc := &http.Client{Transport: &http.Transport{DialContext: dial}}
		c, resp, err := coder.Dial(ctx, wsURL(srv), &coder.DialOptions{CompressionMode: mode, CompressionThreshold: 1, HTTPClient: hc})
		if err != nil {
			b.Fatal(err)
		}
		if (resp.Header.Get("Sec-WebSocket-Extensions") != "") != (mode != coder.CompressionDisabled) {
			b.Fatalf("negotiated %q", resp.Header.Get("Sec-WebSocket-Extensions"))
		}
		c.SetReadLimit(readLimit)
		send := func(p []byte) error { return c.Write(ctx, coder.MessageText, p) }
		recv := func() error { _, _, err := c.Read(ctx); return err }
		return send, recv, func() { c.CloseNow(); srv.Close() }
	}
}
