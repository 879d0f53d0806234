package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"testing/iotest"

	"github.com/stdrealtime/realtime/internal/wsframe"
	"github.com/stdrealtime/realtime/internal/wstest"
)

// TestReadWholeFramesAsInPieces checks that messages read from a stream
// whose frames are buffered whole (read by the short way for a small
// unfragmented frame) come out exactly as from the same stream read a
// byte at a time (where the general frame reader does everything): the
// same types, payloads and final close status, in both roles.
func TestReadWholeFramesAsInPieces(t *testing.T) {
	const limit = 300
	type frame struct {
		fin  bool
		op   wsframe.Opcode
		p    string
		flip bool // masked the wrong way for the role
	}
	bin := func(p string) frame { return frame{fin: true, op: wsframe.OpBinary, p: p} }
	txt := func(p string) frame { return frame{fin: true, op: wsframe.OpText, p: p} }
	rep := func(n int) string { return string(bytes.Repeat([]byte("ab"), n)[:n]) }
	tests := []struct {
		name   string
		frames []frame
		raw    []byte // appended after frames
	}{
		{"empty binary and text", []frame{bin(""), txt("")}, nil},
		{"sizes around the length encodings", []frame{bin(rep(1)), bin(rep(16)), bin(rep(125)), bin(rep(126)), txt(rep(127)), bin(rep(limit))}, nil},
		{"over the read limit", []frame{bin(rep(3)), bin(rep(limit + 1))}, nil},
		{"text with multi-byte code points", []frame{txt("héllo €𝄞"), txt("\U0010FFFF"), txt("ok")}, nil},
		{"text with invalid UTF-8", []frame{txt("fine"), txt("ab\xc0\xafcd")}, nil},
		{"text ending inside a code point", []frame{txt("ab\xe2\x82")}, nil},
		{"text with a surrogate", []frame{txt("\xed\xa0\x80")}, nil},
		{"fragmented between whole ones", []frame{bin("a"), {op: wsframe.OpText, p: "fr"}, {op: wsframe.OpPing, fin: true, p: "p"}, {fin: true, p: "ag"}, txt("b")}, nil},
		{"ping and pong between messages", []frame{bin("x"), {fin: true, op: wsframe.OpPing}, {fin: true, op: wsframe.OpPong, p: "12345678"}, bin("y")}, nil},
		{"masked the wrong way", []frame{bin("x"), {fin: true, op: wsframe.OpBinary, p: "y", flip: true}}, nil},
		{"reserved opcode", []frame{bin("x"), {fin: true, op: 3, p: "y"}}, nil},
		{"RSV1 without deflate", []frame{bin("x")}, []byte{0xc2, 0}},
		{"close", []frame{bin("x"), {fin: true, op: wsframe.OpClose, p: "\x03\xe8bye"}, bin("never")}, nil},
		{"16-bit length not minimal", []frame{bin("x")}, []byte{0x82, 126, 0, 5, 'h', 'e', 'l', 'l', 'o'}},
		{"truncated frame", []frame{bin("x")}, []byte{0x82, 5, 'h'}},
	}
	for _, tc := range tests {
		for _, client := range []bool{false, true} {
			role := "server"
			if client {
				role = "client"
			}
			t.Run(tc.name+"/"+role, func(t *testing.T) {
				var wire []byte
				for i, f := range tc.frames {
					wire = wstest.AppendFrame(wire, f.fin, 0, f.op, client == f.flip, [4]byte{byte(i), 0xa5, 0x3c, 0xff}, []byte(f.p))
				}
				raw := tc.raw
				if raw != nil && !client {
					// Mask bit and a zero key, which leaves the payload as is.
					raw = append([]byte{raw[0], raw[1] | 0x80}, raw[2:]...)
					hl := wsframe.HeaderLen(raw[0], raw[1]) - 4
					raw = append(append(append([]byte(nil), raw[:hl]...), 0, 0, 0, 0), raw[hl:]...)
				}
				wire = append(wire, raw...)
				whole := readAllMessages(t, bytes.NewReader(wire), client, limit)
				pieces := readAllMessages(t, iotest.OneByteReader(bytes.NewReader(wire)), client, limit)
				if whole != pieces {
					t.Errorf("read whole:\n%s\nread a byte at a time:\n%s", whole, pieces)
				}
			})
		}
	}
}

// readAllMessages reads messages with AppendMessage, after a prefix, until an
// error, and describes what it read.
func readAllMessages(t *testing.T, r io.Reader, client bool, limit int64) string {
	t.Helper()
	tr := byteTransport{Reader: r, Writer: io.Discard}
	c := newConn(tr, nil, nil, client, resolveSettings(limit, -1, -1, 0, 0, nil), "")
	var out bytes.Buffer
	for {
		mt, p, err := c.AppendMessage([]byte("pre:"))
		if err != nil {
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf("read error %v is not a *CloseError", err)
			}
			fmt.Fprintf(&out, "error %d %q", ce.Code, ce.Reason)
			st := c.Stats()
			fmt.Fprintf(&out, "; %d messages, %d bytes in", st.MessagesIn, st.BytesIn)
			return out.String()
		}
		if !bytes.HasPrefix(p, []byte("pre:")) {
			t.Fatalf("AppendMessage lost its prefix: %q", p)
		}
		fmt.Fprintf(&out, "%d %q\n", mt, p)
	}
}
