package load

import (
	"bufio"
	"bytes"
	"testing"
)

func TestStampRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		seq uint64
		ts  int64
	}{{0, 0}, {1, 12345}, {1<<64 - 1, 1<<63 - 1}} {
		p := filler(64)
		stamp(p, tt.seq, tt.ts)
		seq, ts, ok := unstamp(p)
		if !ok || seq != tt.seq || ts != tt.ts {
			t.Fatalf("unstamp(stamp(%d, %d)) = %d, %d, %v", tt.seq, tt.ts, seq, ts, ok)
		}
	}
	if _, _, ok := unstamp([]byte("short")); ok {
		t.Fatal("unstamp accepted a short payload")
	}
}

// TestWSFrameHeaders checks the three payload length encodings of
// RFC 6455 section 5.2 and the masking of section 5.3.
func TestWSFrameHeaders(t *testing.T) {
	mask := [4]byte{1, 2, 3, 4}
	for _, tt := range []struct {
		n      int
		header []byte
	}{
		{0, []byte{0x82, 0x80}},
		{125, []byte{0x82, 0x80 | 125}},
		{126, []byte{0x82, 0x80 | 126, 0, 126}},
		{65535, []byte{0x82, 0x80 | 126, 0xFF, 0xFF}},
		{65536, []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 1, 0, 0}},
	} {
		payload := filler(tt.n)
		f := appendWSFrame(nil, 0x2, payload, mask)
		if !bytes.HasPrefix(f, tt.header) {
			t.Fatalf("%d bytes: header % x, want % x", tt.n, f[:len(tt.header)], tt.header)
		}
		body := f[len(tt.header)+4:]
		for i := range body {
			body[i] ^= mask[i&3]
		}
		if !bytes.Equal(body, payload) {
			t.Fatalf("%d bytes: unmasked payload differs", tt.n)
		}
	}
}

func TestReadWSReassemblesAndSkipsControl(t *testing.T) {
	// Server frames: "he" (text, not final), a pong, "llo" (continuation,
	// final), then a close.
	in := []byte{0x01, 2, 'h', 'e', 0x8A, 0, 0x80, 3, 'l', 'l', 'o', 0x88, 0}
	c := &Conn{proto: WebSocket, r: bufio.NewReader(bytes.NewReader(in))}
	got, err := c.ReadMessage()
	if err != nil || string(got) != "hello" {
		t.Fatalf("ReadMessage = %q, %v", got, err)
	}
	if _, err := c.ReadMessage(); err != errClosed {
		t.Fatalf("after close frame: %v", err)
	}
}

func TestReadSSE(t *testing.T) {
	in := ": comment\n\nid: 1\ndata: a\ndata: b\n\nevent: x\ndata:c\r\n\r\n"
	c := &Conn{proto: SSE, r: bufio.NewReader(bytes.NewReader([]byte(in)))}
	for _, want := range []string{"a\nb", "c"} {
		got, err := c.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q", got, err, want)
		}
	}
}
