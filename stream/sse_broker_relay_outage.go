package stream

import (
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
)

// While an OrderedRelay fails, an SSEBroker does not hold its own events
// back until the log takes them: the pump hands each waiting event to
// relayProvisional, which delivers it here at once with a provisional ID
// and notes its sequence number. When the relay is back the event is
// appended to the log as usual; other instances deliver it then, with its
// log ID, and this one skips it, since its clients have it already.
//
// A provisional ID is "<log ID>~<instance>.<first>.<seq>": the ID of the
// newest message of the log delivered here before the event, the first
// 4 bytes of this instance's origin in hex, the number of the first event
// of this outage and the event's own number. A client that resumes with
// one on this instance is replayed from the ring like any other; on
// another instance, or once the ring no longer holds it, it resumes from
// the log after "<log ID>", skipping this instance's events numbered
// first to seq, which it has. The order in which instances deliver each
// other's events is the log's again from the first event after the
// outage.

// provisionalSep separates a provisional ID's log position from the rest.
// An OrderedRelay's IDs never contain it.
const provisionalSep = '~'

// relayProvisional delivers here an event of this instance that waits for
// the relay (relayPump.local).
func (b *SSEBroker) relayProvisional(msg []byte) {
	r := b.rel
	env, err := decodeRelayEnvelope(msg)
	if err != nil || env.kind != relayKindEvent {
		return // not ours to deliver; cannot happen for the pump's own messages
	}
	first := r.outage.add(env.seq)
	b.mu.Lock()
	base := r.lastLog
	b.mu.Unlock()
	e := env.event
	e.ID = appendProvisionalID(nil, base, provisionalOrigin(r.origin[:4]), first, env.seq)
	_ = b.publish(r.ctx, e, b.blockTimeout, publishLocal)
}

// provisionalOrigin is the part of an instance's origin a provisional ID
// carries.
type provisionalOrigin [4]byte

// appendProvisionalID appends "<base>~<origin in hex>.<first>.<seq>".
func appendProvisionalID(dst []byte, base string, origin provisionalOrigin, first, seq uint64) string {
	dst = append(dst, base...)
	dst = append(dst, provisionalSep)
	dst = hex.AppendEncode(dst, origin[:])
	dst = append(dst, '.')
	dst = strconv.AppendUint(dst, first, 10)
	dst = append(dst, '.')
	return string(strconv.AppendUint(dst, seq, 10))
}

// provisionalLogID returns the log position a Last-Event-ID names: the
// part of a provisional ID before its separator ("" when the event was
// delivered before any log position was known), or the ID itself.
func provisionalLogID(id string) string {
	if i := strings.IndexByte(id, provisionalSep); i >= 0 {
		return id[:i]
	}
	return id
}

// provisionalHeld is what a client holding a provisional ID has of its
// instance's events beyond the log position: numbers first to last.
type provisionalHeld struct {
	origin      provisionalOrigin
	first, last uint64
}

// parseProvisionalID returns what a provisional ID says its holder has,
// and false for any other ID.
func parseProvisionalID(id string) (provisionalHeld, bool) {
	var h provisionalHeld
	i := strings.IndexByte(id, provisionalSep)
	if i < 0 {
		return h, false
	}
	rest := id[i+1:]
	o, rest, ok1 := strings.Cut(rest, ".")
	f, l, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(o) != 2*len(h.origin) {
		return h, false
	}
	if _, err := hex.Decode(h.origin[:], []byte(o)); err != nil {
		return h, false
	}
	var err1, err2 error
	h.first, err1 = strconv.ParseUint(f, 10, 64)
	h.last, err2 = strconv.ParseUint(l, 10, 64)
	if err1 != nil || err2 != nil || h.first == 0 || h.first > h.last {
		return h, false
	}
	return h, true
}

// has reports whether the holder has the event numbered seq of origin.
func (h provisionalHeld) has(origin relayOrigin, seq uint64) bool {
	return h.last != 0 && provisionalOrigin(origin[:4]) == h.origin && seq >= h.first && seq <= h.last
}

// relayOutage holds the sequence numbers of the events of this instance
// delivered here provisionally and not seen in the log yet, as ranges.
// The log brings an instance's events in increasing order, so ranges
// below the number it brings are done with; what remains is bounded by
// the relay queue.
type relayOutage struct {
	mu     sync.Mutex
	ranges [][2]uint64 // [first, last], increasing
	run    [2]uint64   // the numbers added last without a gap: [first, last]
}

// add notes seq, which is above every number added before, and returns
// the first number of the run of consecutive numbers it ends.
func (o *relayOutage) add(seq uint64) (first uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.run[1] != 0 && o.run[1]+1 == seq {
		o.run[1] = seq
	} else {
		o.run = [2]uint64{seq, seq}
	}
	if n := len(o.ranges); n > 0 && o.ranges[n-1][1]+1 == seq {
		o.ranges[n-1][1] = seq
	} else {
		o.ranges = append(o.ranges, [2]uint64{seq, seq})
	}
	return o.run[0]
}

// take reports whether seq, an event of this instance arriving from the
// log, was delivered provisionally, and forgets the numbers below it.
func (o *relayOutage) take(seq uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	i := 0
	for i < len(o.ranges) && o.ranges[i][1] < seq {
		i++
	}
	if i > 0 {
		o.ranges = append(o.ranges[:0], o.ranges[i:]...)
	}
	if len(o.ranges) == 0 || seq < o.ranges[0][0] {
		return false
	}
	o.ranges[0][0] = seq + 1
	if o.ranges[0][0] > o.ranges[0][1] {
		o.ranges = o.ranges[1:]
	}
	return true
}
