package stream

import (
	"bufio"
	"bytes"
	"compress/flate"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

// FuzzDeflateExtensions feeds arbitrary Sec-WebSocket-Extensions lines
// (separated by newlines) to both sides of the negotiation. Nothing may
// panic, and whatever the server accepts must be a response its own
// client accepts with the same agreement.
func FuzzDeflateExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		"permessage-deflate; server_no_context_takeover; client_no_context_takeover",
		"permessage-deflate; server_max_window_bits=10, permessage-deflate",
		`permessage-deflate; server_max_window_bits="15"; client_max_window_bits=9`,
		"x-webkit-deflate-frame, permessage-deflate;;",
		"permessage-deflate; server_no_context_takeover; server_no_context_takeover\npermessage-deflate",
		`a; b="\"", c`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines := strings.Split(s, "\n")
		for _, el := range parseExtensions(lines) {
			if el.err == nil && el.name == "" {
				t.Fatalf("element without a name: %#v", el)
			}
		}
		h := http.Header{"Sec-Websocket-Extensions": lines}
		for _, mode := range []CompressionMode{CompressionDisabled, CompressionNoContextTakeover, CompressionContextTakeover} {
			resp, agreed, ok := acceptDeflate(h, mode)
			if ok {
				if mode == CompressionDisabled {
					t.Fatal("accepted while disabled")
				}
				got, cok, err := checkDeflateResponse([]string{resp}, CompressionContextTakeover)
				if err != nil || !cok || got != agreed {
					t.Fatalf("own response %q rejected: %+v %v %v (server %+v)", resp, got, cok, err, agreed)
				}
			}
			checkDeflateResponse(lines, mode)
		}
	})
}

// FuzzDeflateRead reads arbitrary bytes as the payload of a compressed
// message, whole and split into fragments with a ping between them. The
// read must end with a message no longer than the read limit or with a
// close status, never a panic. A message that is read must begin with
// what a plain inflate of the payload and the 4-byte tail gives: the
// reader decodes the same bytes and then an empty final block, which
// adds output only to a stream that was damaged anyway.
func FuzzDeflateRead(f *testing.F) {
	var buf bytes.Buffer
	for _, in := range []string{"", "hello", strings.Repeat("abc", 500), strings.Repeat("\x00", 5000), "caf\xc3\xa9 \xff"} {
		for _, level := range []int{flate.BestSpeed, flate.BestCompression, flate.HuffmanOnly} {
			buf.Reset()
			fw, _ := flate.NewWriter(&buf, level)
			fw.Write([]byte(in))
			fw.Flush()
			f.Add(bytes.Clone(buf.Bytes()[:buf.Len()-4]), uint8(1), false)
			f.Add(bytes.Clone(buf.Bytes()[:buf.Len()-4]), uint8(3), true)
		}
	}
	f.Add([]byte{0xff, 0x00, 0x12}, uint8(1), false)
	const limit = 1024
	f.Fuzz(func(t *testing.T, payload []byte, parts uint8, text bool) {
		key := [4]byte{9, 8, 7, 6}
		op := wsframe.OpBinary
		if text {
			op = wsframe.OpText
		}
		n := max(int(parts%8), 1)
		size := (len(payload) + n - 1) / n
		var wire []byte
		for i := range n {
			lo, hi := min(i*size, len(payload)), min((i+1)*size, len(payload))
			var rsv byte
			o := wsframe.OpContinuation
			if i == 0 {
				rsv, o = rsv1, op
			}
			wire = appendMaskedFrame(wire, i == n-1, rsv, o, key, payload[lo:hi])
			if i == 0 && n > 1 {
				wire = appendMaskedFrame(wire, true, 0, wsframe.OpPing, key, []byte("p"))
			}
		}
		tr := byteTransport{Reader: bytes.NewReader(wire), Writer: io.Discard}
		c := newConn(tr, bufio.NewReaderSize(tr, 64), nil, false, resolveSettings(limit, -1, -1, 0, 0, nil), "")
		c.enableDeflate(deflateConfig{mode: CompressionNoContextTakeover, threshold: 0, level: 1}, deflateAgreement{true, true})
		_, got, err := c.ReadMessage()
		if err != nil {
			if CloseStatus(err) < 0 {
				t.Fatalf("error without close status: %v", err)
			}
			c.Close()
			return
		}
		if len(got) > limit {
			t.Fatalf("message of %d bytes past the limit", len(got))
		}
		ref, _ := io.ReadAll(io.LimitReader(flate.NewReader(io.MultiReader(bytes.NewReader(payload), bytes.NewReader(deflateTail[:]))), limit+1))
		if !bytes.HasPrefix(got, ref) {
			t.Fatalf("inflated %q, plain inflate gives %q", got, ref)
		}
		c.Close()
	})
}

// appendMaskedFrame encodes a client frame.
func appendMaskedFrame(dst []byte, fin bool, rsv byte, op wsframe.Opcode, key [4]byte, p []byte) []byte {
	dst = wsframe.AppendHeader(dst, wsframe.Header{Fin: fin, Rsv: rsv, Opcode: op, Masked: true, Key: key, Length: int64(len(p))})
	start := len(dst)
	dst = append(dst, p...)
	wsframe.Mask(key, 0, dst[start:])
	return dst
}
