package load

import (
	"encoding/binary"
	"encoding/hex"
	"time"
)

// A stamped payload starts with 32 hex digits: a sequence number and the
// time it was sent (nanoseconds since the process's clock base), so that it
// is valid text for every protocol, Server-Sent Events included. The rest is
// filler.

const stampLen = 32

var clockBase = time.Now()

func now() int64 { return int64(time.Since(clockBase)) }

// stamp writes seq and ts into the first stampLen bytes of p.
func stamp(p []byte, seq uint64, ts int64) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], seq)
	binary.BigEndian.PutUint64(b[8:], uint64(ts))
	hex.Encode(p[:stampLen], b[:])
}

// unstamp reads what stamp wrote; ok is false when p is not stamped.
func unstamp(p []byte) (seq uint64, ts int64, ok bool) {
	if len(p) < stampLen {
		return 0, 0, false
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], p[:stampLen]); err != nil {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(b[:8]), int64(binary.BigEndian.Uint64(b[8:])), true
}

// filler returns n bytes of printable text.
func filler(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = 'a' + byte(i%26)
	}
	return p
}
