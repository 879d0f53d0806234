package wsframe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// FuzzDecode checks Decode against the wire format both ways. On
// arbitrary bytes it returns a ProtocolError or a header that re-encodes to
// exactly those bytes (so every accepted length is minimal and below
// 2^63), with the §5.5 limits on control frames. A header built from
// arbitrary fields encodes to HeaderLen bytes and decodes back to itself,
// or fails only on the rule it breaks.
func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, byte(0x82), uint64(1<<63), []byte{0, 0, 0, 0})
	f.Add([]byte{0x82, 127, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, byte(0x02), uint64(1<<63-1), []byte{1, 2, 3, 4})
	f.Add([]byte{0x82, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4}, byte(0xff), uint64(1<<64-1), []byte{9, 9, 9, 9})
	f.Add([]byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, byte(0x81), uint64(0xffff), []byte{})
	f.Add([]byte{0x82, 126, 0, 125}, byte(0x89), uint64(126), []byte{})
	f.Add([]byte{0x89, 0xfd, 1, 2, 3, 4}, byte(0x09), uint64(125), []byte{0, 0, 0, 0})
	f.Add([]byte{0xf3, 0}, byte(0x7b), uint64(0), []byte{})
	f.Add([]byte{0x88}, byte(0x88), uint64(2), []byte{})
	f.Fuzz(func(t *testing.T, b []byte, b0 byte, length uint64, key []byte) {
		h, err := Decode(b)
		if err != nil {
			var pe ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("Decode(% x): error %T %v", b, err, err)
			}
			if (len(b) < 2 || len(b) != HeaderLen(b[0], b[1])) != (err == ErrHeaderLenMismatch) {
				t.Fatalf("Decode(% x): %v", b, err)
			}
			if err == ErrLengthMostSigBit && binary.BigEndian.Uint64(b[2:10])>>63 == 0 {
				t.Fatalf("Decode(% x): %v", b, err)
			}
		} else {
			if h.Length < 0 || h.Opcode.IsControl() && (h.Length > MaxControlPayload || !h.Fin) {
				t.Fatalf("Decode(% x) accepted %+v", b, h)
			}
			if enc := AppendHeader(nil, h); !bytes.Equal(enc, b) {
				t.Fatalf("Decode(% x) = %+v, which encodes as % x", b, h, enc)
			}
		}

		// From fields.
		in := Header{
			Fin: b0&0x80 != 0, Rsv: (b0 >> 4) & 7, Opcode: Opcode(b0 & 0x0f),
			Masked: len(key) >= 4, Length: int64(length &^ (1 << 63)),
		}
		if in.Masked {
			copy(in.Key[:], key)
		}
		enc := AppendHeader(nil, in)
		if len(enc) != HeaderLen(enc[0], enc[1]) || len(enc) > MaxHeaderLen {
			t.Fatalf("%+v encodes as % x", in, enc)
		}
		out, err := Decode(enc)
		var want error
		switch {
		case in.Opcode > OpBinary && in.Opcode < OpClose || in.Opcode > OpPong:
			want = ErrReservedOpcode
		case in.Opcode.IsControl() && in.Length > MaxControlPayload:
			want = ErrControlTooLong
		case in.Opcode.IsControl() && !in.Fin:
			want = ErrControlFragmented
		}
		if err != want {
			t.Fatalf("%+v: Decode(% x) error %v, want %v", in, enc, err, want)
		}
		if err == nil && out != in {
			t.Fatalf("%+v came back as %+v", in, out)
		}
	})
}
