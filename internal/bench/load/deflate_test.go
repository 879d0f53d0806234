package load

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
)

// TestDeflateMessageInflatesWithCompressFlate checks the client's
// compression against compress/flate's reader, given the tail RFC 7692
// section 7.2.2 says to append, and its decompression against messages
// compress/flate's writer makes at several levels, tail removed.
func TestDeflateMessageInflatesWithCompressFlate(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"one byte", []byte{'x'}},
		{"json 1 KiB", jsonPayload(1 << 10)},
		{"json 16 KiB", jsonPayload(16 << 10)},
		{"json 200 KB", jsonPayload(200_000)},
		{"incompressible", func() []byte {
			p := make([]byte, 5000)
			x := uint32(1)
			for i := range p {
				x = x*1664525 + 1013904223
				p[i] = byte(x >> 24)
			}
			return p
		}()},
	}
	var f inflater // reused across cases, as a connection reuses it
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Ours compresses, compress/flate inflates.
			msg := deflateMessage(nil, tt.payload)
			if bytes.HasSuffix(msg, []byte(deflateTail)) && len(tt.payload) > 0 {
				t.Fatalf("compressed message keeps the %x tail", deflateTail)
			}
			got, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(msg), strings.NewReader(inflateTail))))
			if err != nil || !bytes.Equal(got, tt.payload) {
				t.Fatalf("compress/flate inflates %d bytes (%v), want the %d sent", len(got), err, len(tt.payload))
			}
			// compress/flate compresses, ours inflates.
			for _, level := range []int{flate.BestSpeed, flate.DefaultCompression, flate.BestCompression, flate.HuffmanOnly} {
				var b bytes.Buffer
				fw, err := flate.NewWriter(&b, level)
				if err != nil {
					t.Fatal(err)
				}
				fw.Write(tt.payload)
				fw.Flush()
				in := bytes.TrimSuffix(b.Bytes(), []byte(deflateTail))
				got, err := f.inflate(bytes.Clone(in), maxMessage)
				if err != nil || !bytes.Equal(got, tt.payload) {
					t.Fatalf("level %d: inflate gives %d bytes (%v), want %d", level, len(got), err, len(tt.payload))
				}
			}
		})
	}
}

func TestInflateLimitAndCorruption(t *testing.T) {
	var f inflater
	big := deflateMessage(nil, make([]byte, 10_000))
	if _, err := f.inflate(big, 9_999); err == nil {
		t.Fatal("inflated 10,000 bytes with a limit of 9,999")
	}
	if _, err := f.inflate([]byte{0xff, 0xff, 0xff}, maxMessage); err == nil {
		t.Fatal("inflated corrupt data without an error")
	}
	// The reader recovers after errors.
	want := jsonPayload(1 << 10)
	if got, err := f.inflate(deflateMessage(nil, want), maxMessage); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after errors: %d bytes, %v", len(got), err)
	}
}

func TestCheckDeflateResponse(t *testing.T) {
	tests := []struct {
		values []string
		ok     bool
	}{
		{[]string{"permessage-deflate; server_no_context_takeover; client_no_context_takeover"}, true},
		{[]string{"permessage-deflate;server_no_context_takeover"}, true},
		{[]string{"Permessage-Deflate; Server_No_Context_Takeover; server_max_window_bits=12"}, true},
		{[]string{"", "permessage-deflate; server_no_context_takeover"}, true},
		{nil, false},
		{[]string{""}, false},
		{[]string{"permessage-deflate"}, false}, // server keeps its context
		{[]string{"permessage-deflate; client_no_context_takeover"}, false},                            // idem
		{[]string{"permessage-deflate; server_no_context_takeover; client_max_window_bits=10"}, false}, // not offered
		{[]string{"x-webkit-deflate-frame"}, false},
		{[]string{"permessage-deflate; server_no_context_takeover, permessage-deflate"}, false},
		{[]string{"permessage-deflate; server_no_context_takeover", "foo"}, false},
	}
	for _, tt := range tests {
		if err := checkDeflateResponse(tt.values); (err == nil) != tt.ok {
			t.Errorf("checkDeflateResponse(%q) = %v, want ok %v", tt.values, err, tt.ok)
		}
	}
}

// TestReadWSInflates checks that a compressed reply, whole or fragmented
// (RSV1 on the first frame only), comes back inflated and marked, and that
// RSV1 without permessage-deflate is refused.
func TestReadWSInflates(t *testing.T) {
	want := jsonPayload(300)
	msg := deflateMessage(nil, want)
	whole := append([]byte{0xC2, 126, byte(len(msg) >> 8), byte(len(msg))}, msg...)
	half := len(msg) / 2
	frag := append([]byte{0x42, byte(half)}, msg[:half]...)
	frag = append(frag, 0x89, 0) // a ping between the fragments
	frag = append(frag, 0x80, byte(len(msg)-half))
	frag = append(frag, msg[half:]...)
	for _, tt := range []struct {
		name string
		in   []byte
	}{{"whole", whole}, {"fragmented", frag}} {
		t.Run(tt.name, func(t *testing.T) {
			var sink bytes.Buffer
			c := &Conn{proto: WebSocket, deflate: true, r: bufio.NewReader(bytes.NewReader(tt.in)), nc: writeConn{w: &sink}}
			got, err := c.ReadMessage()
			if err != nil || !bytes.Equal(got, want) || !c.Compressed() {
				t.Fatalf("ReadMessage = %d bytes, %v, compressed %v", len(got), err, c.Compressed())
			}
			if c.RxBytes() != uint64(len(tt.in)) {
				t.Fatalf("RxBytes = %d, want %d", c.RxBytes(), len(tt.in))
			}
		})
	}
	c := &Conn{proto: WebSocket, r: bufio.NewReader(bytes.NewReader(whole))}
	if _, err := c.ReadMessage(); err == nil {
		t.Fatal("RSV1 accepted without permessage-deflate")
	}
	if !json.Valid(want) {
		t.Fatal("payload is not JSON")
	}
}

// writeConn is a net.Conn whose writes go to w; nothing else is used.
type writeConn struct {
	net.Conn
	w io.Writer
}

func (c writeConn) Write(p []byte) (int, error) { return c.w.Write(p) }

func TestJSONPayload(t *testing.T) {
	for _, n := range []int{0, 10, 63, 64, 65, 100, 127, 128, 200, 1 << 10, 16 << 10, 64 << 10} {
		p := jsonPayload(n)
		if len(p) != n {
			t.Fatalf("jsonPayload(%d) has %d bytes", n, len(p))
		}
		if n >= 64 && !json.Valid(p) {
			t.Fatalf("jsonPayload(%d) is not JSON: %s", n, p)
		}
		if !bytes.Equal(p, jsonPayload(n)) {
			t.Fatalf("jsonPayload(%d) differs from one call to the next", n)
		}
	}
}
