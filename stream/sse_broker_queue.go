package stream

import "strconv"

// SlowPolicy says what an SSEBroker does with a subscriber whose queue is
// full when an event is published to it.
//
// A subscriber that asked to block (?slow=block or X-SSE-Slow: block) is
// exempt: it makes the publisher wait instead.
type SlowPolicy int

const (
	// DropOldest discards the oldest queued event to make room. The
	// subscriber then receives a gap event (see SSEBrokerConfig.GapEvent)
	// before the next event it is sent, saying how many it lost.
	DropOldest SlowPolicy = iota
	// DisconnectSlow ends the stream of a subscriber whose queue is full.
	// A browser's EventSource reconnects by itself and, when the broker
	// keeps a replay ring, resumes from its last event ID.
	DisconnectSlow
	// KeepLatest keeps only the newest queued event per key (see
	// SSEBrokerConfig.Key): publishing an event removes a queued event
	// with the same key and queues the new one at the back. It suits
	// values where only the latest matters: prices, progress, presence.
	// When the queue is still full, the oldest event is dropped as with
	// DropOldest.
	KeepLatest
)

// String returns the policy's name.
func (p SlowPolicy) String() string {
	switch p {
	case DropOldest:
		return "drop-oldest"
	case DisconnectSlow:
		return "disconnect"
	case KeepLatest:
		return "keep-latest"
	}
	return "SlowPolicy(" + strconv.Itoa(int(p)) + ")"
}

// sseItem is one queued event: its encoded bytes, shared read-only with
// every other subscriber and the replay ring, and its KeepLatest key. The
// bytes are held through one pointer per event, made once per publish, so
// that a queue slot costs a word rather than a slice header.
type sseItem struct {
	b   *[]byte
	key string
}

// sseQueue is a FIFO ring of events. Its backing arrays grow on demand up
// to the limit passed to push, so an idle subscriber holds almost nothing.
// Keys are kept apart, in an array made only once an item has one, so that
// a queue without KeepLatest holds just the events.
type sseQueue struct {
	bufs []*[]byte // the items' bytes
	keys []string  // the items' keys, parallel to bufs; nil until one has a key
	head int
	n    int
}

// slot maps a logical position (0 = oldest) to an index in q.bufs.
func (q *sseQueue) slot(i int) int {
	i += q.head
	if i >= len(q.bufs) {
		i -= len(q.bufs)
	}
	return i
}

// push appends it unless the queue already holds limit items.
func (q *sseQueue) push(it sseItem, limit int) bool {
	if q.n == len(q.bufs) {
		if q.n >= limit {
			return false
		}
		q.grow(limit)
	}
	j := q.slot(q.n)
	q.bufs[j] = it.b
	if it.key != "" && q.keys == nil {
		q.keys = make([]string, len(q.bufs))
	}
	if q.keys != nil {
		q.keys[j] = it.key
	}
	q.n++
	return true
}

func (q *sseQueue) grow(limit int) {
	c := min(max(2*len(q.bufs), 4), limit)
	bufs := make([]*[]byte, c)
	var keys []string
	if q.keys != nil {
		keys = make([]string, c)
	}
	for i := range q.n {
		j := q.slot(i)
		bufs[i] = q.bufs[j]
		if keys != nil {
			keys[i] = q.keys[j]
		}
	}
	q.bufs, q.keys, q.head = bufs, keys, 0
}

// dropOldest removes the oldest item; the queue must not be empty.
func (q *sseQueue) dropOldest() {
	q.bufs[q.head] = nil
	if q.keys != nil {
		q.keys[q.head] = ""
	}
	q.head = q.slot(1)
	q.n--
}

// removeKey removes the item with the given key, if one is queued, keeping
// the order of the rest. Keys are unique in the queue, since every push in
// KeepLatest mode first removes its key.
func (q *sseQueue) removeKey(key string) bool {
	if q.keys == nil {
		return false
	}
	for i := range q.n {
		if q.keys[q.slot(i)] != key {
			continue
		}
		for j := i; j < q.n-1; j++ {
			to, from := q.slot(j), q.slot(j+1)
			q.bufs[to], q.keys[to] = q.bufs[from], q.keys[from]
		}
		last := q.slot(q.n - 1)
		q.bufs[last], q.keys[last] = nil, ""
		q.n--
		return true
	}
	return false
}

// reset empties the queue and releases its references to the events.
func (q *sseQueue) reset() {
	clear(q.bufs)
	clear(q.keys)
	q.head, q.n = 0, 0
}

// appendTo appends the bytes of every queued item, oldest first, to dst,
// empties the queue and releases its references to the events.
func (q *sseQueue) appendTo(dst []byte) []byte {
	for i := range q.n {
		j := q.slot(i)
		dst = append(dst, *q.bufs[j]...)
		q.bufs[j] = nil
		if q.keys != nil {
			q.keys[j] = ""
		}
	}
	q.head, q.n = 0, 0
	return dst
}
