package stream

import (
	"bufio"
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// benchModes are the compression settings the benchmarks compare.
var benchModes = []struct {
	name  string
	mode  CompressionMode
	level int
}{
	{"off", CompressionDisabled, 0},
	{"nocontext", CompressionNoContextTakeover, flate.BestSpeed},
	{"context", CompressionContextTakeover, flate.BestSpeed},
	{"nocontext-level6", CompressionNoContextTakeover, 6},
	{"context-level6", CompressionContextTakeover, 6},
}

// jsonMessages is a deterministic JSON workload: chat messages and
// market updates of 100-400 bytes with repeated keys and varying values.
func jsonMessages(n int) [][]byte {
	users := []string{"ann", "bob", "carla", "dmitri", "eve", "farah"}
	words := []string{"hello", "the", "deploy", "is", "green", "again", "lunch?", "yes", "reviewing", "PR", "merged", "thanks", "see", "you", "at", "standup"}
	out := make([][]byte, n)
	x := uint32(2463534242)
	next := func() int {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return int(x >> 1)
	}
	for i := range out {
		if i%2 == 0 {
			text := ""
			for range 5 + next()%20 {
				text += words[next()%len(words)] + " "
			}
			out[i] = fmt.Appendf(nil, `{"type":"chat","id":%d,"room":"general","user":%q,"text":%q,"ts":"2024-05-01T12:%02d:%02dZ","reactions":[]}`,
				100000+i, users[next()%len(users)], text, next()%60, next()%60)
		} else {
			out[i] = fmt.Appendf(nil, `{"type":"quote","symbol":"SYM%d","bid":%d.%02d,"ask":%d.%02d,"volume":%d,"exchange":"XNYS","seq":%d}`,
				next()%50, 100+next()%50, next()%100, 100+next()%50, next()%100, next()%1000000, i)
		}
	}
	return out
}

// countingWriter counts bytes written.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkDeflateJSONWire writes the JSON workload from a server
// connection and reports the bytes that reach the wire per message and
// the ratio of uncompressed to wire size (frame headers included).
func BenchmarkDeflateJSONWire(b *testing.B) {
	msgs := jsonMessages(1000)
	var payload int64
	for _, m := range msgs {
		payload += int64(len(m))
	}
	for _, bm := range benchModes {
		b.Run(bm.name, func(b *testing.B) {
			var cw countingWriter
			tr := byteTransport{Reader: bytes.NewReader(nil), Writer: &cw}
			c := newConn(tr, bufio.NewReader(tr), nil, false, resolveSettings(0, -1, -1, 0, 0, nil), "")
			if bm.mode != CompressionDisabled {
				noCtx := bm.mode == CompressionNoContextTakeover
				c.enableDeflate(deflateConfig{mode: bm.mode, threshold: 64, level: bm.level}, deflateAgreement{noCtx, noCtx})
			}
			b.SetBytes(payload)
			b.ReportAllocs()
			var rounds int64
			for b.Loop() {
				for _, m := range msgs {
					if err := c.WriteMessage(TextMessage, m); err != nil {
						b.Fatal(err)
					}
				}
				rounds++
			}
			b.ReportMetric(float64(cw.n)/float64(rounds*int64(len(msgs))), "wire-B/msg")
			b.ReportMetric(float64(payload*rounds)/float64(cw.n), "ratio")
		})
	}
}

// BenchmarkDeflateEcho is a compressed round trip over loopback TCP:
// client writes, server echoes, client reads, for a JSON message, a
// larger text payload, and random bytes that deflate cannot shrink,
// where compression is pure cost.
func BenchmarkDeflateEcho(b *testing.B) {
	msgs := jsonMessages(64)
	var big []byte
	for _, m := range jsonMessages(1000) {
		big = append(big, m...)
	}
	random := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(random)
	payloads := []struct {
		name string
		mt   MessageType
		msgs [][]byte
	}{
		{"json", TextMessage, msgs},
		{"64KiB", TextMessage, [][]byte{big[:64<<10]}},
		{"64KiB-random", BinaryMessage, [][]byte{random}},
	}
	for _, pl := range payloads {
		for _, bm := range benchModes {
			b.Run(pl.name+"/"+bm.name, func(b *testing.B) {
				sc, cc := benchPair(b)
				if bm.mode != CompressionDisabled {
					noCtx := bm.mode == CompressionNoContextTakeover
					dc := deflateConfig{mode: bm.mode, threshold: 64, level: bm.level}
					sc.enableDeflate(dc, deflateAgreement{noCtx, noCtx})
					cc.enableDeflate(dc, deflateAgreement{noCtx, noCtx})
				}
				go echoLoop(sc)
				var size int64
				for _, m := range pl.msgs {
					size += int64(len(m))
				}
				b.SetBytes(size / int64(len(pl.msgs)))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					m := pl.msgs[i%len(pl.msgs)]
					i++
					if err := cc.WriteMessage(pl.mt, m); err != nil {
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
}

// BenchmarkDeflateConnMemory measures the heap a server connection holds
// once it has sent and received one compressed message, with and without
// context takeover, reported as heap-B/conn (the connection itself and
// its buffers included; the "off" case is the baseline).
func BenchmarkDeflateConnMemory(b *testing.B) {
	const conns = 40
	msg := bytes.Repeat([]byte(`{"type":"chat","user":"ann","text":"hello"}`), 20)
	pc := newPeerCompressor(false)
	key := [4]byte{1, 2, 3, 4}
	compressed := appendMaskedFrame(nil, true, rsv1, wsframe.OpText, key, pc.compress(msg))
	plain := appendMaskedFrame(nil, true, 0, wsframe.OpText, key, msg)
	for _, bm := range benchModes {
		b.Run(bm.name, func(b *testing.B) {
			in := compressed
			if bm.mode == CompressionDisabled {
				in = plain
			}
			open := func() *WebSocketConn {
				tr := byteTransport{Reader: bytes.NewReader(in), Writer: io.Discard}
				c := newConn(tr, bufio.NewReader(tr), nil, false, resolveSettings(0, -1, -1, 0, 0, nil), "")
				if bm.mode != CompressionDisabled {
					noCtx := bm.mode == CompressionNoContextTakeover
					c.enableDeflate(deflateConfig{mode: bm.mode, threshold: 64, level: bm.level}, deflateAgreement{noCtx, noCtx})
				}
				if _, _, err := c.ReadMessage(); err != nil {
					b.Fatal(err)
				}
				if err := c.WriteMessage(TextMessage, msg); err != nil {
					b.Fatal(err)
				}
				return c
			}
			var perConn float64
			for b.Loop() {
				keep := make([]*WebSocketConn, conns)
				var before, after runtime.MemStats
				open() // fill the pools, which all connections share
				runtime.GC()
				runtime.ReadMemStats(&before)
				for i := range keep {
					keep[i] = open()
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perConn = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / conns
				runtime.KeepAlive(keep)
			}
			b.ReportMetric(perConn, "heap-B/conn")
		})
	}
}

// BenchmarkDeflateRead measures reading compressed messages (no context
// takeover) from an in-memory transport into a reused buffer: inflating
// and feeding the decompressor, without the network. The frames are
// masked, as a server reads them.
func BenchmarkDeflateRead(b *testing.B) {
	var big []byte
	for _, m := range jsonMessages(200) {
		big = append(big, m...)
	}
	pc := newPeerCompressor(false)
	for _, pl := range []struct {
		name string
		p    []byte
	}{
		{"json", jsonMessages(1)[0]},
		{"16KiB", big[:16<<10]},
	} {
		b.Run(pl.name, func(b *testing.B) {
			frame := wstest.AppendFrame(nil, true, rsv1, wsframe.OpText, true, [4]byte{1, 2, 3, 4}, pc.compress(pl.p))
			tr := byteTransport{Reader: &loopReader{frame: frame}, Writer: io.Discard}
			c := newConn(tr, bufio.NewReaderSize(tr, 4096), nil, false, resolveSettings(1<<20, -1, -1, 0, 0, nil), "")
			c.enableDeflate(deflateConfig{mode: CompressionNoContextTakeover, threshold: 64, level: DefaultCompressionLevel}, deflateAgreement{true, true})
			b.SetBytes(int64(len(pl.p)))
			b.ReportAllocs()
			var buf []byte
			for b.Loop() {
				var err error
				if _, buf, err = c.AppendMessage(buf[:0]); err != nil || len(buf) != len(pl.p) {
					b.Fatalf("AppendMessage: %d bytes, %v", len(buf), err)
				}
			}
		})
	}
}
