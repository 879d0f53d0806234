package wsframe

import (
	"errors"
	"strconv"
	"testing"
)

func TestDecodeRoundTrip(t *testing.T) {
	tests := []Header{
		{Fin: true, Opcode: OpText, Length: 0},
		{Fin: true, Opcode: OpBinary, Length: 125},
		{Fin: false, Opcode: OpText, Length: 126},
		{Fin: true, Opcode: OpContinuation, Length: 0xffff},
		{Fin: true, Opcode: OpBinary, Length: 0x10000, Masked: true, Key: [4]byte{1, 2, 3, 4}},
		{Fin: true, Opcode: OpPing, Length: 125, Masked: true, Key: [4]byte{9, 8, 7, 6}},
		{Fin: true, Opcode: OpClose, Rsv: 5, Length: 2},
		{Fin: true, Opcode: OpBinary, Length: 1<<63 - 1},
	}
	for _, want := range tests {
		b := AppendHeader(nil, want)
		if n := HeaderLen(b[0], b[1]); n != len(b) {
			t.Fatalf("%+v: HeaderLen = %d, encoded %d bytes", want, n, len(b))
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatalf("%+v: Decode: %v", want, err)
		}
		if got != want {
			t.Fatalf("Decode = %+v, want %+v", got, want)
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want error
	}{
		{"reserved data opcode", []byte{0x83, 0}, ErrReservedOpcode},
		{"reserved control opcode", []byte{0x8b, 0}, ErrReservedOpcode},
		{"control too long", []byte{0x89, 126, 0, 126}, ErrControlTooLong},
		{"fragmented ping", []byte{0x09, 0}, ErrControlFragmented},
		{"fragmented close", []byte{0x08, 2}, ErrControlFragmented},
		{"16-bit non-minimal", []byte{0x82, 126, 0, 125}, ErrNonMinimalLength},
		{"64-bit non-minimal", []byte{0x82, 127, 0, 0, 0, 0, 0, 0, 0xff, 0xff}, ErrNonMinimalLength},
		{"64-bit top bit", []byte{0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0}, ErrLengthMostSigBit},
		{"short buffer", []byte{0x82, 126, 1}, ErrHeaderLenMismatch},
		{"one byte", []byte{0x82}, ErrHeaderLenMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(% x) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

func naiveMask(key [4]byte, pos int, b []byte) {
	for i := range b {
		b[i] ^= key[(pos+i)%4]
	}
}

func TestMaskMatchesNaive(t *testing.T) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for n := 0; n < 100; n++ {
		for pos := 0; pos < 5; pos++ {
			a := make([]byte, n)
			for i := range a {
				a[i] = byte(i * 7)
			}
			b := append([]byte(nil), a...)
			naiveMask(key, pos, a)
			if end := Mask(key, pos, b); end != pos+n {
				t.Fatalf("Mask returned %d, want %d", end, pos+n)
			}
			if string(a) != string(b) {
				t.Fatalf("n=%d pos=%d: Mask differs from byte-wise masking", n, pos)
			}
		}
	}
}

func TestMaskInPieces(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	a := make([]byte, 1000)
	for i := range a {
		a[i] = byte(i)
	}
	b := append([]byte(nil), a...)
	naiveMask(key, 0, a)
	pos := 0
	for _, cut := range []int{3, 17, 64, 1, 915} {
		pos = Mask(key, pos, b[pos:pos+cut])
	}
	if string(a) != string(b) {
		t.Fatal("masking in pieces differs from masking at once")
	}
}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 1024, 64 << 10} {
		buf := make([]byte, size)
		key := [4]byte{1, 2, 3, 4}
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				Mask(key, 1, buf)
			}
		})
	}
}

func sizeName(n int) string {
	if n >= 1<<10 {
		return strconv.Itoa(n>>10) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
