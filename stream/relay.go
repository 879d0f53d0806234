package stream

import (
	"context"
	"crypto/rand"
	"errors"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Relay carries messages between the instances of a program that run
// behind a load balancer, so that a Hub or an SSEBroker on one instance
// reaches the clients connected to the others. A message published to a
// topic reaches every subscriber of that topic, on every instance, this
// one included: Hub and SSEBroker tag what they publish with a random
// instance ID and sequence number, drop the copies of their own messages
// and of messages received twice, and count the ones that never arrived
// (see RelayStats).
//
// A Relay may lose messages (at-most-once, like Redis Pub/Sub); an
// OrderedRelay keeps them in a log.
//
// Implementations must be safe for concurrent use.
type Relay interface {
	// Publish sends msg to the subscribers of topic. The relay does not
	// keep msg after Publish returns. An error means msg may not have
	// been sent; the caller retries it. Hub and SSEBroker call Publish
	// from one goroutine per topic, in order, and cancel ctx when they
	// stop.
	Publish(ctx context.Context, topic string, msg []byte) error
	// Subscribe arranges for deliver to be called with every message
	// published to topic from now on until ctx is done, and returns once
	// the subscription is in place (or why it could not be made). deliver
	// is called from one goroutine at a time, with the messages of each
	// publisher in the order they were published; it must not keep msg
	// after it returns. A relay that loses its connection reconnects by
	// itself; what is published meanwhile may be lost.
	Subscribe(ctx context.Context, topic string, deliver func(msg []byte)) error
}

// RelayMessage is a message of an OrderedRelay's log.
type RelayMessage struct {
	// ID names the message in its topic's log. IDs are unique within a
	// topic and follow the order of the log; an SSEBroker sends them to
	// its clients as event IDs. They must not contain CR, LF, NUL or '~'
	// (which marks the provisional IDs of events delivered during an
	// outage).
	ID string
	// Data is the message as it was appended.
	Data []byte
}

// ErrRelayGap is returned (wrapped) by OrderedRelay.Read when the message
// to read after is not in the log: it was trimmed, or never was there.
var ErrRelayGap = errors.New("stream: relay: message not in the log")

// ErrRelayBacklog is returned (wrapped) by SSEBroker.Publish when the
// broker has an OrderedRelay and more events than its RelayQueue are
// waiting to be appended to it, for example while the relay is
// unreachable.
var ErrRelayBacklog = errors.New("stream: relay: backlog full")

// OrderedRelay is a Relay that also keeps each topic in a log (for
// example a Redis stream), gives each message an ID and delivers the log
// in one order to every instance. An SSEBroker whose Relay is an
// OrderedRelay uses it that way: its events reach subscribers, here as
// elsewhere, in the order of the log, with the log's IDs as event IDs, so
// that a client that reconnects to any instance resumes where it left
// off. Hub uses only the Relay methods.
//
// While Append fails, a broker does not hold its own events back: it
// delivers each to its own subscribers at once, with a provisional ID
// "<newest log ID delivered here>~<instance>.<first>.<n>", and keeps
// retrying the Append. Once the relay is back, the other instances
// deliver those events with their log IDs and this one skips them. A
// client holding a provisional ID resumes on another instance from the
// log ID it starts with, skipping the events of the first instance it
// already has.
type OrderedRelay interface {
	Relay
	// Append adds msg to the end of topic's log and returns its ID. An
	// error means msg may or may not have been added; the caller retries
	// it, and receivers drop the second copy.
	Append(ctx context.Context, topic string, msg []byte) (id string, err error)
	// Follow arranges for deliver to be called with every message of
	// topic's log that comes after the message with ID after (after ""
	// means: after the newest message now), in log order, from one
	// goroutine at a time, until ctx is done. It returns once following
	// is in place, with the ID of the message it follows from: after, or
	// when after is "" the newest message's ID ("" for an empty log). A
	// relay that loses its connection resumes after the last message it
	// delivered, so that nothing the log still holds is skipped.
	Follow(ctx context.Context, topic, after string, deliver func(RelayMessage)) (from string, err error)
	// Read returns, oldest first, at most limit messages of topic's log
	// that come after the message with ID after and not after the one
	// with ID through ("" through gives none). It returns an error
	// wrapping ErrRelayGap when after is not in the log.
	Read(ctx context.Context, topic, after, through string, limit int) ([]RelayMessage, error)
}

// RelayBatcher is an optional interface of a Relay or OrderedRelay that
// sends several messages in one round trip. When more than one message is
// waiting, Hub and SSEBroker hand them over together (up to 128 at a
// time) instead of calling Publish or Append for each.
type RelayBatcher interface {
	// PublishBatch is Publish for msgs, in order. An error means any of
	// them may not have been sent; the caller retries them all, and
	// receivers drop the second copies.
	PublishBatch(ctx context.Context, topic string, msgs [][]byte) error
	// AppendBatch is Append for msgs, in order, without the IDs. Errors
	// are as for PublishBatch.
	AppendBatch(ctx context.Context, topic string, msgs [][]byte) error
}

// RelayStats are the relay counters of a Hub or SSEBroker. They only grow.
type RelayStats struct {
	// Sent counts messages handed to the relay.
	Sent uint64 `json:"sent"`
	// Received counts messages from the relay delivered here.
	Received uint64 `json:"received"`
	// Lost counts messages of other instances that never arrived: gaps in
	// their sequence numbers, as an at-most-once relay gives when its
	// connection breaks.
	Lost uint64 `json:"lost"`
	// Duplicates counts messages that arrived twice and were delivered
	// once.
	Duplicates uint64 `json:"duplicates"`
	// Dropped counts messages of this instance never handed to the
	// relay: its queue (RelayQueue) was full, or it was stopped first.
	Dropped uint64 `json:"dropped"`
	// Errors counts failed relay calls (each retry counts) and messages
	// that could not be decoded.
	Errors uint64 `json:"errors"`
}

// Defaults for the relay settings of HubConfig and SSEBrokerConfig.
const (
	DefaultRelayQueue = 1024
	defaultRelayTopic = "stream"
	relayBackoffMin   = 50 * time.Millisecond
	relayBackoffMax   = 2 * time.Second
	relayReadLimit    = 512
	relayBatchMax     = 128
	// relayMaxOrigins bounds the instances whose sequence numbers are
	// tracked; older ones are forgotten first.
	relayMaxOrigins = 1024
)

// relayCounters back RelayStats.
type relayCounters struct {
	sent, received, lost, duplicates, dropped, errors atomic.Uint64
}

func (c *relayCounters) stats() RelayStats {
	return RelayStats{
		Sent:       c.sent.Load(),
		Received:   c.received.Load(),
		Lost:       c.lost.Load(),
		Duplicates: c.duplicates.Load(),
		Dropped:    c.dropped.Load(),
		Errors:     c.errors.Load(),
	}
}

// relayOrigin is a random instance ID.
type relayOrigin [16]byte

func newRelayOrigin() relayOrigin {
	var o relayOrigin
	rand.Read(o[:]) // never fails (crypto/rand.Read documents it)
	return o
}

// relayBackoff sleeps before attempt n (from 0) of a failed call,
// doubling from relayBackoffMin to relayBackoffMax with jitter, and
// reports whether ctx is still live.
func relayBackoff(ctx context.Context, n int) bool {
	d := relayBackoffMin << min(n, 10)
	d = min(d, relayBackoffMax)
	d = d/2 + mrand.N(d/2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// relayPump hands messages to a relay from one goroutine, in the order
// they were queued, retrying each failed call with backoff until it
// succeeds or the pump stops. Its queue is bounded.
type relayPump struct {
	origin relayOrigin
	limit  int
	send   relaySend
	c      *relayCounters

	mu   sync.Mutex
	seq  uint64
	q    [][]byte
	down bool          // the last call failed; guarded by mu
	wake chan struct{} // the queue became non-empty
	room chan struct{} // the pump took messages off the queue

	// local, when set, is called with each message that waits while the
	// relay fails: those queued when a call first fails, then each one
	// pushed until a call succeeds again. Calls are in queue order, one
	// at a time (lmu).
	local func(msg []byte)
	lmu   sync.Mutex
}

// relaySend hands msgs to a relay in order and returns how many it did,
// with the error that stopped it.
type relaySend func(ctx context.Context, msgs [][]byte) (int, error)

// relaySender returns the relaySend of a relay: one batch call when it is
// a RelayBatcher, else one call of one per message.
func relaySender(topic string, one func(ctx context.Context, topic string, msg []byte) error, batch func(ctx context.Context, topic string, msgs [][]byte) error) relaySend {
	if batch != nil {
		return func(ctx context.Context, msgs [][]byte) (int, error) {
			if len(msgs) == 1 {
				if err := one(ctx, topic, msgs[0]); err != nil {
					return 0, err
				}
				return 1, nil
			}
			if err := batch(ctx, topic, msgs); err != nil {
				return 0, err
			}
			return len(msgs), nil
		}
	}
	return func(ctx context.Context, msgs [][]byte) (int, error) {
		for i, m := range msgs {
			if err := one(ctx, topic, m); err != nil {
				return i, err
			}
		}
		return len(msgs), nil
	}
}

func newRelayPump(origin relayOrigin, limit int, c *relayCounters, send relaySend) *relayPump {
	if limit <= 0 {
		limit = DefaultRelayQueue
	}
	return &relayPump{origin: origin, limit: limit, send: send, c: c,
		wake: make(chan struct{}, 1), room: make(chan struct{}, 1)}
}

// push numbers the next message, encodes it with build and queues it. When
// the queue is full it refuses the message: with keepSeq the number stays
// unused (nobody learns of the message), otherwise it is consumed and
// counted as dropped, so that receivers see the gap.
func (p *relayPump) push(keepSeq bool, build func(dst []byte, origin relayOrigin, seq uint64) []byte) bool {
	if p.local != nil {
		p.lmu.Lock()
		defer p.lmu.Unlock()
	}
	p.mu.Lock()
	if len(p.q) >= p.limit {
		if !keepSeq {
			p.seq++
			p.c.dropped.Add(1)
		}
		p.mu.Unlock()
		return false
	}
	p.seq++
	msg := build(nil, p.origin, p.seq)
	p.q = append(p.q, msg)
	wake := len(p.q) == 1
	down := p.down
	p.mu.Unlock()
	if down && p.local != nil {
		p.local(msg)
	}
	if wake {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// run sends queued messages until ctx is done; what is left is counted as
// dropped.
func (p *relayPump) run(ctx context.Context) {
	var batch [][]byte
	for {
		select {
		case <-p.wake:
		case <-ctx.Done():
			p.mu.Lock()
			p.c.dropped.Add(uint64(len(p.q)))
			p.q = nil
			p.mu.Unlock()
			return
		}
		for {
			p.mu.Lock()
			batch, p.q = p.q, batch[:0]
			p.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			select {
			case p.room <- struct{}{}:
			default:
			}
			for i, fails := 0, 0; i < len(batch); {
				n, err := p.send(ctx, batch[i:min(len(batch), i+relayBatchMax)])
				p.c.sent.Add(uint64(n))
				i += n
				if err == nil {
					fails = 0
					p.setUp()
					continue
				}
				p.c.errors.Add(1)
				p.setDown(batch[i:])
				if !relayBackoff(ctx, fails) {
					p.c.dropped.Add(uint64(len(batch) - i))
					clear(batch)
					p.mu.Lock()
					p.c.dropped.Add(uint64(len(p.q)))
					p.q = nil
					p.mu.Unlock()
					return
				}
				fails++
			}
			clear(batch)
		}
	}
}

// setDown marks the relay as failing. The first time, the messages not
// yet handed over (unsent, the rest of the batch being sent, then the
// queue) go to p.local.
func (p *relayPump) setDown(unsent [][]byte) {
	if p.local == nil {
		return
	}
	p.lmu.Lock()
	defer p.lmu.Unlock()
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		return
	}
	p.down = true
	queued := slices.Clone(p.q)
	p.mu.Unlock()
	for _, m := range unsent {
		p.local(m)
	}
	for _, m := range queued {
		p.local(m)
	}
}

// setUp marks the relay as working again after a call succeeded.
func (p *relayPump) setUp() {
	if p.local == nil {
		return
	}
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// relaySeen tracks the sequence numbers received from each instance, to
// drop duplicates and count gaps.
type relaySeen struct {
	mu   sync.Mutex
	last map[relayOrigin]relaySeenEntry
	tick uint64
}

type relaySeenEntry struct {
	seq, tick uint64
}

// check reports whether the message numbered seq from origin is new, and
// how many of origin's messages were skipped before it.
func (t *relaySeen) check(origin relayOrigin, seq uint64) (fresh bool, lost uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.last == nil {
		t.last = make(map[relayOrigin]relaySeenEntry)
	}
	t.tick++
	e, ok := t.last[origin]
	if ok && seq <= e.seq {
		return false, 0
	}
	if ok {
		lost = seq - e.seq - 1
	} else if len(t.last) >= relayMaxOrigins {
		t.forgetOldest()
	}
	t.last[origin] = relaySeenEntry{seq: seq, tick: t.tick}
	return true, lost
}

// forgetOldest drops the half of the origins heard from least recently.
func (t *relaySeen) forgetOldest() {
	ticks := make([]uint64, 0, len(t.last))
	for _, e := range t.last {
		ticks = append(ticks, e.tick)
	}
	slices.Sort(ticks)
	cut := ticks[len(ticks)/2]
	for o, e := range t.last {
		if e.tick < cut {
			delete(t.last, o)
		}
	}
}

// relayStart runs start (a Subscribe or Follow call) until it succeeds or
// ctx is done, counting failures and backing off between them.
func relayStart(ctx context.Context, c *relayCounters, start func() error) bool {
	for n := 0; ; n++ {
		err := start()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		c.errors.Add(1)
		if !relayBackoff(ctx, n) {
			return false
		}
	}
}
