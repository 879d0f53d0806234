package wsframe

import "encoding/binary"

// Mask XORs b in place with the masking key as RFC 6455 §5.3 describes,
// where pos is the index of b[0] within the frame payload (only pos mod 4
// matters). It returns the position after b, so a payload can be masked
// in pieces. Masking and unmasking are the same operation. The bulk of b
// is processed eight bytes at a time.
func Mask(key [4]byte, pos int, b []byte) int {
	end := pos + len(b)
	// Small inputs: byte at a time.
	if len(b) < 16 {
		for i := range b {
			b[i] ^= key[(pos+i)&3]
		}
		return end
	}
	// Bring pos to a multiple of 4 so the 64-bit key lines up with b.
	for pos&3 != 0 {
		b[0] ^= key[pos&3]
		b = b[1:]
		pos++
	}
	k32 := binary.LittleEndian.Uint32(key[:])
	k64 := uint64(k32) | uint64(k32)<<32
	for len(b) >= 32 {
		binary.LittleEndian.PutUint64(b[0:8], binary.LittleEndian.Uint64(b[0:8])^k64)
		binary.LittleEndian.PutUint64(b[8:16], binary.LittleEndian.Uint64(b[8:16])^k64)
		binary.LittleEndian.PutUint64(b[16:24], binary.LittleEndian.Uint64(b[16:24])^k64)
		binary.LittleEndian.PutUint64(b[24:32], binary.LittleEndian.Uint64(b[24:32])^k64)
		b = b[32:]
	}
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
	return end
}
