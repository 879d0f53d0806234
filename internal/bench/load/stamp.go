package load

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
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

// jsonRecordWords are the short strings of jsonPayload's records.
var jsonRecordWords = []string{
	"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
	"india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
}

// jsonPayload returns exactly n bytes of JSON text: an array of records
// with the same keys, varying numbers and short strings, as an API would
// send, the last one padded with a note of words to fill n. It is the same
// for the same n. Under 64 bytes it is filler(n).
func jsonPayload(n int) []byte {
	if n < 64 {
		return filler(n)
	}
	x := uint32(2463534242) // xorshift32: deterministic and cheap
	next := func() uint32 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		return x
	}
	word := func() string { return jsonRecordWords[next()%uint32(len(jsonRecordWords))] }
	p := make([]byte, 0, n)
	p = append(p, '[')
	for id := 1; ; id++ {
		rec := fmt.Sprintf(`{"id":%d,"user":"%s_%d","action":"%s","score":%d.%02d,"ts":%d,"tags":["%s","%s"],"active":%t}`,
			10000+id, word(), next()%1000, word(), next()%1000, next()%100, 1718000000000+int64(next()%100000000), word(), word(), next()%2 == 0)
		sep := 0
		if id > 1 {
			sep = 1
		}
		// Room for this record, the separator, a last padding record and
		// the closing bracket.
		if len(p)+sep+len(rec)+len(`,{"note":""}`)+1 > n {
			break
		}
		if sep == 1 {
			p = append(p, ',')
		}
		p = append(p, rec...)
	}
	if len(p) > 1 {
		p = append(p, ',')
	}
	p = append(p, `{"note":"`...)
	for room := n - len(p) - len(`"}]`); room > 0; {
		w := word()
		if len(w)+1 > room {
			w = w[:room-1] // room ≥ 1: cut the word, keep the space
		}
		p = append(p, w...)
		p = append(p, ' ')
		room -= len(w) + 1
	}
	return append(p, `"}]`...)
}
