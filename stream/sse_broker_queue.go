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
// every other subscriber and the replay ring, and its KeepLatest key.
type sseItem struct {
	b   []byte
	key string
}

// sseQueue is a FIFO ring of events. Its backing array grows on demand up
// to the limit passed to push, so an idle subscriber holds almost nothing.
type sseQueue struct {
	items []sseItem
	head  int
	n     int
}

// slot maps a logical position (0 = oldest) to an index in q.items.
func (q *sseQueue) slot(i int) int {
	i += q.head
	if i >= len(q.items) {
		i -= len(q.items)
	}
	return i
}

// push appends it unless the queue already holds limit items.
func (q *sseQueue) push(it sseItem, limit int) bool {
	if q.n == len(q.items) {
		if q.n >= limit {
			return false
		}
		q.grow(limit)
	}
	q.items[q.slot(q.n)] = it
	q.n++
	return true
}

func (q *sseQueue) grow(limit int) {
	c := min(max(2*len(q.items), 4), limit)
	items := make([]sseItem, c)
	for i := range q.n {
		items[i] = q.items[q.slot(i)]
	}
	q.items, q.head = items, 0
}

// dropOldest removes the oldest item; the queue must not be empty.
func (q *sseQueue) dropOldest() {
	q.items[q.head] = sseItem{}
	q.head = q.slot(1)
	q.n--
}

// removeKey removes the item with the given key, if one is queued, keeping
// the order of the rest. Keys are unique in the queue, since every push in
// KeepLatest mode first removes its key.
func (q *sseQueue) removeKey(key string) bool {
	for i := range q.n {
		if q.items[q.slot(i)].key != key {
			continue
		}
		for j := i; j < q.n-1; j++ {
			q.items[q.slot(j)] = q.items[q.slot(j+1)]
		}
		q.items[q.slot(q.n-1)] = sseItem{}
		q.n--
		return true
	}
	return false
}

// reset empties the queue and releases its references to the events.
func (q *sseQueue) reset() {
	clear(q.items)
	q.head, q.n = 0, 0
}

// appendTo appends the bytes of every queued item, oldest first, to dst,
// empties the queue and releases its references to the events.
func (q *sseQueue) appendTo(dst []byte) []byte {
	for i := range q.n {
		j := q.slot(i)
		dst = append(dst, q.items[j].b...)
		q.items[j] = sseItem{}
	}
	q.head, q.n = 0, 0
	return dst
}
