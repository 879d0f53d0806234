package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/stream"
)

// messageSizes straddle the frame header's length encodings (RFC 6455
// §5.2: 7-bit up to 125, 16-bit up to 65535, 64-bit beyond) and go up to
// 16 MiB.
var messageSizes = []int{0, 125, 126, 65535, 65536, 1 << 20, 16 << 20}

// compressedSizes replace messageSizes on compressed connections, up to
// 4 MiB: flate at level 6 under the race detector takes tens of seconds
// for 16 MiB, and the 64-bit length is covered at 4 MiB too.
var compressedSizes = []int{0, 125, 126, 65535, 65536, 1 << 20, 4 << 20}

// closeCases are close frames sent each way: the two common codes and the
// ends of the range for applications (§7.4.2), with reasons, one not
// ASCII. 1005 stands for a close frame with no body, which §7.1.5 reports
// as 1005; our side sends one for it only in answer.
var closeCases = []struct {
	code   int
	reason string
}{
	{1005, ""}, // a close frame without a body
	{1000, "bye"},
	{1001, "going away: restart"},
	{3000, "unauthorized"},
	{4999, "app-defined \u2713 \U0001F600"},
}

// utf8Text is text whose multi-byte characters are split by any
// fragmentation that ignores character boundaries.
var utf8Text = []byte(strings.Repeat("h\u00e9llo w\u00f6rld \u20ac \U0001F600 ", 1500))

// splitAt cuts p into pieces of n bytes, the last one shorter.
func splitAt(p []byte, n int) [][]byte {
	var parts [][]byte
	for len(p) > n {
		parts = append(parts, p[:n])
		p = p[n:]
	}
	return append(parts, p)
}

type wsCase struct {
	name string
	body func(t *testing.T, p pair)
}

var wsCases = []wsCase{
	{"sizes/text", func(t *testing.T, p pair) { exchangeSizes(t, p, stream.TextMessage) }},
	{"sizes/binary", func(t *testing.T, p pair) { exchangeSizes(t, p, stream.BinaryMessage) }},
	{"fragmented/ours", func(t *testing.T, p pair) {
		// NextWriter sends a fragment whenever its buffer fills, so
		// these writes reach the peer as several frames, splitting
		// characters of the text message.
		for _, m := range []struct {
			mt stream.MessageType
			p  []byte
		}{{stream.TextMessage, utf8Text}, {stream.BinaryMessage, pattern(100_000)}} {
			w, err := p.ours.c.NextWriter(m.mt)
			if err != nil {
				t.Fatal(err)
			}
			for _, part := range splitAt(m.p, 3001) {
				if _, err := w.Write(part); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			expectTheirs(t, p.theirs, m.mt, m.p)
		}
		// An empty message written through NextWriter.
		w, err := p.ours.c.NextWriter(stream.TextMessage)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		expectTheirs(t, p.theirs, stream.TextMessage, nil)
	}},
	{"fragmented/theirs", func(t *testing.T, p pair) {
		for _, m := range []struct {
			mt    stream.MessageType
			parts [][]byte
		}{
			{stream.TextMessage, splitAt(utf8Text, 1001)},
			{stream.BinaryMessage, splitAt(pattern(70_000), 9000)},
			{stream.BinaryMessage, [][]byte{nil, []byte("x"), nil}},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			err := p.theirs.sendFragments(ctx, m.mt, m.parts, false)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			p.ours.expect(t, m.mt, bytes.Join(m.parts, nil))
		}
	}},
	{"fragmented/theirs-ping-between", func(t *testing.T, p pair) {
		// §5.4: control frames may be injected in the middle of a
		// fragmented message, and §5.5.2 has us answer the ping. The
		// text barely compresses and its first part is larger than the
		// 64 KiB a flate writer takes in before it emits anything, so
		// that a peer compressing through a streaming writer has sent
		// a frame before its ping.
		want := noiseText(210_000)
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := p.theirs.sendFragments(ctx, stream.TextMessage, splitAt(want, 70_000), true); err != nil {
			t.Fatal(err)
		}
		p.ours.expect(t, stream.TextMessage, want)
	}},
	{"fragmented/ours-ping-between", func(t *testing.T, p pair) {
		// Our ping goes out between fragments of our message; the peer
		// answers it while it is in the middle of reading the message.
		want := pattern(20_000)
		w, err := p.ours.c.NextWriter(stream.BinaryMessage)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(want[:10_000]); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if _, err := p.ours.c.Ping(ctx); err != nil {
			t.Fatalf("Ping in the middle of a message: %v", err)
		}
		if _, err := w.Write(want[10_000:]); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		expectTheirs(t, p.theirs, stream.BinaryMessage, want)
	}},
	{"sizes/incompressible", func(t *testing.T, p pair) {
		// Payloads that deflate cannot shrink: compressed, they come
		// out a little larger than they went in.
		for _, n := range noiseSizes {
			exchange(t, p, stream.BinaryMessage, noise(n))
		}
		exchange(t, p, stream.TextMessage, noiseText(1<<20))
	}},
	{"burst/json", func(t *testing.T, p pair) {
		// Many small, similar messages each way, as a JSON feed sends:
		// with context takeover each is compressed against the ones
		// before it, so one lost or misordered message, or a window
		// that the two sides do not keep alike, garbles the rest.
		msgs := jsonFeed(300)
		for _, m := range msgs {
			if err := p.theirs.send(stream.TextMessage, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range msgs {
			p.ours.expect(t, stream.TextMessage, m)
		}
		for _, m := range msgs {
			if err := p.ours.c.WriteMessage(stream.TextMessage, m); err != nil {
				t.Fatal(err)
			}
		}
		for _, m := range msgs {
			expectTheirs(t, p.theirs, stream.TextMessage, m)
		}
	}},
	{"ping/ours", func(t *testing.T, p pair) {
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			rtt, err := p.ours.c.Ping(ctx)
			cancel()
			if err != nil {
				t.Fatalf("Ping: %v", err)
			}
			if rtt <= 0 {
				t.Fatalf("Ping: rtt %v", rtt)
			}
			if got := p.ours.c.Stats().LastRTT; got != rtt {
				t.Fatalf("Stats().LastRTT = %v, Ping returned %v", got, rtt)
			}
		}
		// The connection still carries data after the pings.
		p.ours.c.WriteString("after ping")
		expectTheirs(t, p.theirs, stream.TextMessage, []byte("after ping"))
	}},
	{"ping/theirs", func(t *testing.T, p pair) {
		for range 3 {
			ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
			err := p.theirs.ping(ctx)
			cancel()
			if err != nil {
				t.Fatalf("their ping: %v", err)
			}
		}
		if err := p.theirs.send(stream.TextMessage, []byte("after ping")); err != nil {
			t.Fatal(err)
		}
		p.ours.expect(t, stream.TextMessage, []byte("after ping"))
	}},
	{"invalid-utf8", func(t *testing.T, p pair) {
		// §8.1: invalid UTF-8 in a text message fails the connection,
		// and §7.4.1 gives 1007 for it.
		if err := p.theirs.send(stream.TextMessage, []byte{'o', 'k', 0xff, 0xfe}); err != nil {
			t.Fatal(err)
		}
		expectInvalidUTF8(t, p)
	}},
	{"invalid-utf8/fragmented", func(t *testing.T, p pair) {
		// A sequence started in one fragment and broken in the next.
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := p.theirs.sendFragments(ctx, stream.TextMessage, [][]byte{{'o', 'k', 0xe2, 0x82}, {0x28, 'x'}}, false); err != nil {
			t.Fatal(err)
		}
		expectInvalidUTF8(t, p)
	}},
	{"invalid-utf8/truncated", func(t *testing.T, p pair) {
		// A sequence cut off by the end of the message.
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := p.theirs.sendFragments(ctx, stream.TextMessage, [][]byte{{'o', 'k'}, {0xe2, 0x82}}, false); err != nil {
			t.Fatal(err)
		}
		expectInvalidUTF8(t, p)
	}},
}

// expectInvalidUTF8 checks that our side failed the connection with 1007
// and the peer saw that close.
func expectInvalidUTF8(t *testing.T, p pair) {
	t.Helper()
	err := p.ours.wait(t)
	if got := stream.CloseStatus(err); got != stream.StatusInvalidFramePayloadData {
		t.Fatalf("our reader: %v (status %v), want 1007", err, got)
	}
	var ce *stream.CloseError
	if !errors.As(err, &ce) || ce.Remote {
		t.Fatalf("our reader: %#v, want a local CloseError", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if e := p.theirs.end(ctx); e.code != 1007 {
		t.Fatalf("theirs ended with %+v, want close status 1007", e)
	}
}

func init() {
	for _, cc := range closeCases {
		wsCases = append(wsCases,
			wsCase{"close/ours/" + strconv.Itoa(cc.code), func(t *testing.T, p pair) {
				if cc.code == int(stream.StatusNoStatusReceived) {
					// CloseWithStatus refuses 1005; its own test covers that.
					if err := p.ours.c.CloseWithStatus(stream.StatusNoStatusReceived, ""); err == nil {
						t.Fatal("CloseWithStatus(1005) succeeded")
					}
					return
				}
				if err := p.ours.c.CloseWithStatus(stream.StatusCode(cc.code), cc.reason); err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				if e := p.theirs.end(ctx); e.code != cc.code || e.reason != cc.reason {
					t.Fatalf("theirs ended with %+v, want close %d %q", e, cc.code, cc.reason)
				}
				err := p.ours.wait(t)
				if got := stream.CloseStatus(err); got != stream.StatusCode(cc.code) {
					t.Fatalf("our reader: %v, want status %d", err, cc.code)
				}
			}},
			wsCase{"close/theirs/" + strconv.Itoa(cc.code), func(t *testing.T, p pair) {
				// A message sent just before the close still arrives.
				if err := p.theirs.send(stream.TextMessage, []byte("last")); err != nil {
					t.Fatal(err)
				}
				if err := p.theirs.close(cc.code, cc.reason); err != nil {
					t.Fatalf("their close: %v", err)
				}
				p.ours.expect(t, stream.TextMessage, []byte("last"))
				err := p.ours.wait(t)
				var ce *stream.CloseError
				if !errors.As(err, &ce) || !ce.Remote || int(ce.Code) != cc.code || ce.Reason != cc.reason {
					t.Fatalf("our reader: %v, want remote close %d %q", err, cc.code, cc.reason)
				}
				if got := stream.CloseStatus(err); got != stream.StatusCode(cc.code) {
					t.Fatalf("CloseStatus = %v, want %d", got, cc.code)
				}
				if !errors.Is(err, stream.ErrClosed) {
					t.Fatalf("errors.Is(%v, ErrClosed) is false", err)
				}
				// Our side answered: the peer saw the closing handshake
				// complete with our echo of its code.
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				if e := p.theirs.end(ctx); e.code != cc.code {
					t.Fatalf("theirs ended with %+v, want our close %d echoed", e, cc.code)
				}
				// Writing after the close fails with the close status.
				if err := p.ours.c.WriteString("late"); stream.CloseStatus(err) != stream.StatusCode(cc.code) {
					t.Fatalf("write after close: %v", err)
				}
			}},
		)
	}
}

// noiseSizes are the sizes of the incompressible messages, up to
// noiseMax.
var noiseSizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20, noiseMax}

// jsonFeed returns n JSON messages of 100 to 200 bytes that differ in
// their numbers, like updates to a dashboard.
func jsonFeed(n int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = jsonMessage(i)
	}
	return msgs
}

// jsonMessage is message i of jsonFeed. The browser page builds the same.
func jsonMessage(i int) []byte {
	return fmt.Appendf(nil, `{"type":"update","seq":%d,"room":"lobby-%d","user":{"id":%d,"name":"user%d"},"value":%d.%02d,"tags":["live","json"]}`,
		i, i%7, 1000+i*13%97, i*7%31, i*i%1000, i%100)
}

// exchange sends want from theirs to ours, then from ours to theirs.
func exchange(t *testing.T, p pair, mt stream.MessageType, want []byte) {
	t.Helper()
	if err := p.theirs.send(mt, want); err != nil {
		t.Fatalf("their send of %d bytes: %v", len(want), err)
	}
	p.ours.expect(t, mt, want)
	if err := p.ours.c.WriteMessage(mt, want); err != nil {
		t.Fatalf("our send of %d bytes: %v", len(want), err)
	}
	expectTheirs(t, p.theirs, mt, want)
}

// exchangeSizes sends a message of every size each way and checks it.
func exchangeSizes(t *testing.T, p pair, mt stream.MessageType) {
	sizes := messageSizes
	if p.compressed {
		sizes = compressedSizes
	}
	for _, n := range sizes {
		exchange(t, p, mt, pattern(n))
	}
	// A large message through NextWriter, written in one piece.
	w, err := p.ours.c.NextWriter(mt)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, bytes.NewReader(pattern(1<<20))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	expectTheirs(t, p.theirs, mt, pattern(1<<20))
}

// runCases runs every case against impl in both roles.
func runCases(t *testing.T, impl implementation) {
	for _, role := range []struct {
		name     string
		asClient bool
	}{{"their-client", true}, {"their-server", false}} {
		if impl.serverOnly && role.asClient {
			continue
		}
		t.Run(role.name, func(t *testing.T) {
			for _, tc := range wsCases {
				t.Run(tc.name, func(t *testing.T) {
					runPair(t, impl, role.asClient, tc.body)
				})
			}
		})
	}
}
