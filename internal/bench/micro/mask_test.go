package micro

import (
	"testing"

	"github.com/gobwas/ws"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

// Masking (RFC 6455 section 5.3): XOR of a payload with a 4-byte key.
// gobwas exports its routine; gorilla and gws keep theirs unexported, so
// a byte-at-a-time loop stands in as the reference. Ours is the routine
// package stream unmasks with (internal/wsframe).

func BenchmarkMask(b *testing.B) {
	key := [4]byte{0x12, 0x34, 0x56, 0x78}
	for _, sz := range sizes {
		p := payloadOf(sz.n)
		b.Run("ours/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				wsframe.Mask(key, 0, p)
			}
		})
		b.Run("gobwas/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				ws.Cipher(p, key, 0)
			}
		})
		b.Run("bytewise/"+sz.name, func(b *testing.B) {
			b.SetBytes(int64(sz.n))
			b.ReportAllocs()
			for b.Loop() {
				for i := range p {
					p[i] ^= key[i&3]
				}
			}
		})
	}
}

func TestMaskRoutinesAgree(t *testing.T) {
	key := [4]byte{0xde, 0xad, 0xbe, 0xef}
	for _, n := range []int{0, 1, 3, 4, 7, 8, 15, 16, 33, 1000} {
		for off := range 4 {
			a, b, c := payloadOf(n), payloadOf(n), payloadOf(n)
			ws.Cipher(a, key, off)
			for i := range b {
				b[i] ^= key[(i+off)&3]
			}
			if got := wsframe.Mask(key, off, c); got != off+n {
				t.Fatalf("n=%d offset=%d: ours returned position %d", n, off, got)
			}
			if string(a) != string(b) || string(c) != string(b) {
				t.Fatalf("n=%d offset=%d: gobwas, ours and bytewise masking differ", n, off)
			}
		}
	}
}
