package stream

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SSEBrokerConfig configures an SSEBroker. The zero value is a working
// configuration; every zero field takes the default given beside it.
type SSEBrokerConfig struct {
	// Topic names the broker in its log lines.
	Topic string

	// DefaultBuf is the number of events queued per subscriber (0 = 64).
	// A client may ask for another size with ?buffer=N or X-SSE-Buffer;
	// it is clamped to [1, MaxBuf].
	DefaultBuf int
	// MaxBuf caps a subscriber's queue (0 = 1024).
	MaxBuf int

	// HeartbeatInterval is how long a stream may stay silent before the
	// broker writes a comment line, so that proxies and load balancers do
	// not close it (0 = 30s; negative = no heartbeat).
	HeartbeatInterval time.Duration

	// Replay is how many of the last events the broker keeps so that a
	// client that reconnects with a Last-Event-ID resumes without losing
	// any (0 = no replay). With Replay > 0 the broker gives every event
	// published without an ID one of its own, "<epoch>-<seq>", where epoch
	// is random per broker: a client carrying an ID from before a restart
	// is told it has a gap instead of being matched with the wrong event.
	// Events published with an ID keep it, and a client resuming with it
	// is matched too while the event is in the ring. A new subscriber is
	// sent its starting ID at once (an "id:" line with no event), so that
	// it resumes correctly even if it leaves before the first event; when
	// the newest event has an ID of its own, that is the starting ID, so
	// a publisher that republishes its last events with their IDs into a
	// new broker after a restart resumes such clients too.
	// The ring holds whole events, so its memory is Replay times the size
	// of the events published.
	Replay int

	// MaxSubscribers caps concurrent subscribers (0 = unlimited). A client
	// over the cap is answered 200 with a "retry:" of about ShedRetry and
	// an empty stream, so that a browser comes back later; any other
	// status would make EventSource give up for good.
	MaxSubscribers int
	// ShedRetry is the reconnection delay sent to clients that are turned
	// away, jittered by ±50% so that they do not return together
	// (0 = 5s).
	ShedRetry time.Duration
	// Limiter, when set, caps subscribers together with whatever else
	// shares it (WebSocket upgrades through WSConfig.Limiter, other
	// brokers), overall and per client address. A client it refuses is
	// answered like one over MaxSubscribers; a subscriber holds its seat
	// until its stream ends.
	Limiter *Limiter

	// Policy says what happens when a subscriber's queue is full
	// (the zero value is DropOldest).
	Policy SlowPolicy
	// Key returns the key of an event for the KeepLatest policy. Events
	// with an empty key never replace each other. Nil means the event's
	// name: "message", "error", "done" or Event.Name.
	Key func(Event) string
	// GapEvent is the name of the event that tells a subscriber it missed
	// events ("" = "gap"). Its data is JSON: {"dropped":N,"reason":R},
	// where R is "overflow" (its queue was full) or "resume" (its
	// Last-Event-ID is no longer in the replay ring). N is left out when it
	// is unknown: the ID is from another epoch, or was never published.
	// A "resume" gap carries the ID to resume from next time.
	GapEvent string

	// WriteTimeout bounds every write to a subscriber: a client that does
	// not take the bytes in time is disconnected and its seat reclaimed
	// (0 = 10s; negative = no bound). To save system calls on busy
	// streams the deadline moves only every eighth of it on HTTP/1, so a
	// stuck write is cut off between WriteTimeout and 9/8 of it.
	WriteTimeout time.Duration
	// BlockTimeout is how long Publish waits for a subscriber that asked
	// to block (?slow=block) and has no room; after it, that subscriber
	// loses the oldest event it has queued, as under DropOldest, and gets
	// a gap event (0 = 5s). PublishContext waits as long as its context
	// allows instead. Negative forbids clients to block: such a request is
	// answered 400.
	BlockTimeout time.Duration

	// Logger, when set, receives a line when a subscriber joins or leaves
	// (debug) and when one is disconnected or turned away (info).
	Logger *slog.Logger

	// Relay, when set, connects the broker to the brokers of other
	// instances of the program that use the same relay and RelayTopic:
	// an event published on any of them reaches the subscribers of all,
	// each once. The broker runs goroutines for the relay until Close.
	//
	// With a plain Relay (at-most-once), Publish delivers here at once
	// and hands the event to the relay; events of other instances arrive
	// with IDs of this broker (or the publisher's own), so a client that
	// reconnects to another instance resumes only with a publisher's own
	// IDs. SSEBrokerStats.Relay.Lost counts what the relay lost.
	//
	// With an OrderedRelay, Publish hands the event to the relay only,
	// and every instance delivers the relay's log in the same order with
	// the log's IDs as event IDs (an event's own ID is replaced): a
	// client that reconnects to any instance with Last-Event-ID resumes
	// with no gap and no duplicate, from this broker's replay ring or,
	// beyond it, from the log. While the relay is unreachable, events
	// wait in RelayQueue for it and reach this broker's subscribers at
	// once, with provisional IDs; the other instances deliver them once
	// the relay is back (see OrderedRelay).
	Relay Relay
	// RelayTopic is the relay topic ("" = "stream.sse"); give each broker
	// of a program its own.
	RelayTopic string
	// RelayQueue bounds the events waiting to be handed to the relay
	// (0 = 1024). When it is full, with a plain Relay the event reaches
	// only this instance (SSEBrokerStats.Relay.Dropped counts it); with an
	// OrderedRelay, Publish waits for room as it waits for blocking
	// subscribers, then fails with an error wrapping ErrRelayBacklog.
	RelayQueue int
}

const (
	defaultSSEBuf          = 64
	defaultSSEMaxBuf       = 1024
	defaultSSEHeartbeat    = 30 * time.Second
	defaultSSEWriteTimeout = 10 * time.Second
	defaultSSEBlockTimeout = 5 * time.Second
	defaultSSEShedRetry    = 5 * time.Second
	defaultSSEGapEvent     = "gap"
)

// SSEBroker fans Server-Sent Events out to many subscribers.
//
// Each subscriber is an HTTP request served by Subscribe (or ServeHTTP)
// with its own bounded queue, so one slow client never delays the others:
// what happens when its queue is full is set by the configured SlowPolicy,
// or, for a client that asked for it, the publisher waits. Each event is
// encoded once and the same bytes are queued to every subscriber. A
// subscriber with a backlog receives all of it in one write.
//
// With SSEBrokerConfig.Replay > 0, the broker keeps the last events and a
// client that reconnects with Last-Event-ID receives every event it missed,
// then the live ones, with no gap and no duplicate, however many
// publishers run meanwhile.
//
// Query parameters and headers a subscriber may send:
//
//	?event=a,b          only events named a or b ("message" for unnamed ones)
//	?buffer=N           X-SSE-Buffer: N       queue size, clamped to [1, MaxBuf]
//	?slow=block         X-SSE-Slow: block     make publishers wait instead of losing events
//	?subscriber_id=ID   X-Subscriber-ID: ID   a name for logs (1 to 64 of A-Z a-z 0-9 . _ : @ -)
//	?last_event_id=ID   Last-Event-ID: ID     resume after ID
//
// A query parameter wins over its header. A malformed value is answered
// 400 with a message. The event filter applies to replayed events too;
// gap events always pass it.
//
// All methods are safe for concurrent use. Events published by one
// goroutine reach every subscriber in that order, and all subscribers see
// events from different publishers in the same order.
type SSEBroker struct {
	topic        string
	epoch        string
	gapName      string
	defBuf       int
	maxBuf       int
	maxSubs      int
	limiter      *Limiter
	heartbeat    time.Duration
	born         time.Time // the origin of now
	writeTimeout time.Duration
	blockTimeout time.Duration
	shedRetry    time.Duration
	policy       SlowPolicy
	key          func(Event) string
	log          *slog.Logger

	// pubSem admits one publisher at a time to fan-out, and keeps it while
	// it waits for blocking subscribers, so that they receive events in
	// order. blocked and kicked are that publisher's scratch lists.
	pubSem  chan struct{}
	blocked []*sseSub
	kicked  []*sseSub

	done chan struct{}  // closed by Close
	wg   sync.WaitGroup // running subscribers

	mu     sync.Mutex
	closed bool
	seq    uint64 // seq of the last published event
	replay sseReplay
	subs   []*sseSub

	nsubs        atomic.Int64
	published    atomic.Uint64
	delivered    atomic.Uint64
	dropped      atomic.Uint64
	superseded   atomic.Uint64
	disconnected atomic.Uint64
	shed         atomic.Uint64
	resumed      atomic.Uint64
	resumeGaps   atomic.Uint64

	rel *sseRelay // nil without SSEBrokerConfig.Relay
}

// SSEBrokerStats is a snapshot of an SSEBroker's counters. The counters
// only grow, except Subscribers.
type SSEBrokerStats struct {
	// Subscribers is the number of streams open now.
	Subscribers int `json:"subscribers"`
	// Published counts events accepted by Publish, PublishContext and
	// PublishFrom; with a Relay, the events fanned out here, from any
	// instance.
	Published uint64 `json:"published"`
	// Delivered counts events written to subscribers (one per subscriber
	// per event, replayed events included).
	Delivered uint64 `json:"delivered"`
	// Dropped counts events subscribers lost because their queue was full.
	Dropped uint64 `json:"dropped"`
	// Superseded counts queued events replaced by a newer one with the same
	// key under KeepLatest.
	Superseded uint64 `json:"superseded"`
	// Disconnected counts subscribers the broker cut off: too slow under
	// DisconnectSlow, or a write that failed or timed out.
	Disconnected uint64 `json:"disconnected"`
	// Shed counts clients turned away because of MaxSubscribers or the
	// Limiter, or because the broker was closed.
	Shed uint64 `json:"shed"`
	// Resumed counts subscribers whose Last-Event-ID was found in the
	// replay ring; ResumeGaps those whose ID was not and who got a gap
	// event instead.
	Resumed    uint64 `json:"resumed"`
	ResumeGaps uint64 `json:"resume_gaps"`
	// Relay are the relay counters; zero without SSEBrokerConfig.Relay.
	Relay RelayStats `json:"relay"`
}

// NewSSEBroker returns a broker configured by cfg (see SSEBrokerConfig for
// the defaults). It starts no goroutine: subscribers run in their own
// request's goroutine.
func NewSSEBroker(cfg SSEBrokerConfig) *SSEBroker {
	b := &SSEBroker{
		topic:        cfg.Topic,
		epoch:        newSSEEpoch(),
		gapName:      cutField(cfg.GapEvent),
		defBuf:       cfg.DefaultBuf,
		maxBuf:       cfg.MaxBuf,
		maxSubs:      max(cfg.MaxSubscribers, 0),
		limiter:      cfg.Limiter,
		heartbeat:    cfg.HeartbeatInterval,
		writeTimeout: cfg.WriteTimeout,
		blockTimeout: cfg.BlockTimeout,
		shedRetry:    cfg.ShedRetry,
		policy:       cfg.Policy,
		key:          cfg.Key,
		log:          cfg.Logger,
		pubSem:       make(chan struct{}, 1),
		done:         make(chan struct{}),
		born:         time.Now(),
	}
	if b.gapName == "" {
		b.gapName = defaultSSEGapEvent
	}
	if b.maxBuf <= 0 {
		b.maxBuf = defaultSSEMaxBuf
	}
	b.maxBuf = min(b.maxBuf, math.MaxInt32) // a subscriber keeps its limit in 32 bits
	if b.defBuf <= 0 {
		b.defBuf = defaultSSEBuf
	}
	b.defBuf = min(b.defBuf, b.maxBuf)
	if b.heartbeat == 0 {
		b.heartbeat = defaultSSEHeartbeat
	}
	if b.writeTimeout == 0 {
		b.writeTimeout = defaultSSEWriteTimeout
	}
	if b.blockTimeout == 0 {
		b.blockTimeout = defaultSSEBlockTimeout
	}
	if b.shedRetry <= 0 {
		b.shedRetry = defaultSSEShedRetry
	}
	if b.key == nil {
		b.key = sseEventName
	}
	b.replay.limit = max(cfg.Replay, 0)
	if b.log != nil && b.topic != "" {
		b.log = b.log.With(slog.String("topic", b.topic))
	}
	b.startRelay(cfg)
	return b
}

// SubscriberCount returns the number of subscribers streaming now.
func (b *SSEBroker) SubscriberCount() int {
	return int(b.nsubs.Load())
}

// Stats returns a snapshot of the broker's counters.
func (b *SSEBroker) Stats() SSEBrokerStats {
	return SSEBrokerStats{
		Subscribers:  b.SubscriberCount(),
		Published:    b.published.Load(),
		Delivered:    b.delivered.Load(),
		Dropped:      b.dropped.Load(),
		Superseded:   b.superseded.Load(),
		Disconnected: b.disconnected.Load(),
		Shed:         b.shed.Load(),
		Resumed:      b.resumed.Load(),
		ResumeGaps:   b.resumeGaps.Load(),
		Relay:        b.relayStats(),
	}
}

// Publish sends e to every current subscriber whose filter accepts it and,
// with a replay ring, keeps it for resuming clients. It returns once e is
// queued everywhere; it does not wait for the clients to receive it.
//
// Publish waits only when subscribers that asked to block (?slow=block)
// have no room, and then at most SSEBrokerConfig.BlockTimeout in all;
// those still without room lose their oldest queued event and get a gap
// event. A client that stopped reading altogether is disconnected after
// WriteTimeout, which ends any wait for it. Publishers take turns, so one
// that waits holds the others back too: that is the backpressure such
// clients ask for.
//
// It returns an error wrapping ErrClosed, and publishes nothing, once the
// broker is closed.
func (b *SSEBroker) Publish(e Event) error {
	return b.publishOut(context.Background(), e, b.blockTimeout)
}

// PublishContext is Publish, but it waits for blocking subscribers as long
// as ctx allows instead of SSEBrokerConfig.BlockTimeout. A non-nil error
// means e was not published: ctx ended before it could be (the error wraps
// ctx.Err()), or the broker is closed (the error wraps ErrClosed). Once
// accepted, e is published even if ctx ends while PublishContext waits for
// a blocking subscriber; that subscriber then loses its oldest queued
// event and gets a gap event, and PublishContext returns nil.
func (b *SSEBroker) PublishContext(ctx context.Context, e Event) error {
	return b.publishOut(ctx, e, 0)
}

// PublishFrom publishes every event received from events, in order, until
// events is closed (it returns nil), ctx ends, or the broker is closed. It
// waits for blocking subscribers as PublishContext does.
func (b *SSEBroker) PublishFrom(ctx context.Context, events <-chan Event) error {
	for {
		select {
		case e, ok := <-events:
			if !ok {
				return nil
			}
			if err := b.PublishContext(ctx, e); err != nil {
				return err
			}
		case <-ctx.Done():
			return fmt.Errorf("stream: sse publish: %w", ctx.Err())
		case <-b.done:
			return fmt.Errorf("stream: sse publish: %w", ErrClosed)
		}
	}
}

// Close ends every stream and returns once every Subscribe call has
// returned. Events queued but not yet written are discarded: clients
// reconnect and, with a replay ring on the next broker, learn of the gap.
// A write in progress is given 100ms (at most its write timeout) to
// finish, so Close is prompt even when clients have stopped reading. Later
// Publish calls return an error wrapping ErrClosed, and later subscribers
// are answered like those over MaxSubscribers. Close is idempotent and
// returns nil.
func (b *SSEBroker) Close() error {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.done)
	}
	subs := slices.Clone(b.subs)
	b.mu.Unlock()
	grace := sseCloseGrace
	if b.writeTimeout > 0 {
		grace = min(grace, b.writeTimeout)
	}
	deadline := time.Now().Add(grace)
	for _, s := range subs {
		s.signal()
		s.interrupt(deadline)
	}
	b.wg.Wait()
	b.stopRelay()
	return nil
}

// Where an event given to publish comes from.
type publishFrom uint8

const (
	publishLocal   publishFrom = iota // here only
	publishRelayed                    // here, and queued for a plain relay
	publishFromLog                    // an ordered relay's log: e.ID is its ID
)

// publish fans e out here; from says whether it also goes to a plain
// relay, or comes from an ordered relay's log.
func (b *SSEBroker) publish(ctx context.Context, e Event, bound time.Duration, from publishFrom) error {
	relay := from == publishRelayed
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("stream: sse publish: %w", err)
	}
	if b.replay.limit == 0 && b.nsubs.Load() == 0 {
		// Nobody to send it to and nothing to keep: skip the encoding.
		select {
		case <-b.done:
			return fmt.Errorf("stream: sse publish: %w", ErrClosed)
		default:
		}
		b.published.Add(1)
		if relay {
			b.relayOut(e)
		}
		return nil
	}

	// Encode once, outside any lock, into one allocation that leaves room
	// in front for the id line the broker assigns under its lock.
	name := sseEventName(e)
	var key string
	if b.policy == KeepLatest {
		key = b.key(e)
	}
	assignID := b.replay.limit > 0 && e.ID == ""
	reserve := 0
	if assignID {
		reserve = maxSSEIDLineLen(b.epoch)
	}
	buf := AppendEvent(make([]byte, reserve, reserve+sseEncodedBound(e)), e)

	select {
	case b.pubSem <- struct{}{}:
	default:
		select {
		case b.pubSem <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("stream: sse publish: %w", ctx.Err())
		case <-b.done:
			return fmt.Errorf("stream: sse publish: %w", ErrClosed)
		}
	}
	defer func() { <-b.pubSem }()

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return fmt.Errorf("stream: sse publish: %w", ErrClosed)
	}
	b.seq++
	msg := buf[reserve:]
	if assignID {
		var line [64]byte
		l := append(appendSSEID(append(line[:0], "id: "...), b.epoch, b.seq), '\n')
		start := reserve - len(l)
		copy(buf[start:], l)
		msg = buf[start:]
	}
	if b.replay.limit > 0 {
		b.replay.add(sseEntry{seq: b.seq, b: msg, name: name, id: e.ID})
	}
	if from == publishFromLog {
		b.rel.lastLog, b.rel.lastLogSeq = e.ID, b.seq
	}
	it := sseItem{b: &msg, key: key}
	var dropped, superseded uint64
	blocked, kicked := b.blocked[:0], b.kicked[:0]
	for _, s := range b.subs {
		if s.gated.Load() && s.gatePass(e.ID) {
			continue
		}
		if !s.accepts(name) {
			continue
		}
		s.mu.Lock()
		if s.kicked {
			s.mu.Unlock()
			continue
		}
		wake := s.q.n == 0
		if key != "" && s.q.removeKey(key) {
			superseded++
		}
		if !s.q.push(it, int(s.limit)) {
			switch {
			case s.block:
				s.mu.Unlock()
				blocked = append(blocked, s)
				continue
			case b.policy == DisconnectSlow:
				s.kicked = true
				kicked = append(kicked, s)
				wake = true
			default:
				s.dropOldestLocked()
				s.q.push(it, int(s.limit))
				dropped++
			}
		}
		s.mu.Unlock()
		if wake {
			s.signal()
		}
	}
	b.mu.Unlock()
	b.published.Add(1)
	if relay {
		b.relayOut(e)
	}

	if len(kicked) > 0 {
		// Its writer is most likely stuck on the client: cut it short.
		now := time.Now()
		for _, s := range kicked {
			s.interrupt(now)
		}
		b.disconnected.Add(uint64(len(kicked)))
		clear(kicked)
	}
	b.kicked = kicked[:0]
	if len(blocked) > 0 {
		dropped += b.waitBlocked(ctx, blocked, it, bound)
		clear(blocked)
	}
	b.blocked = blocked[:0]
	if dropped > 0 {
		b.dropped.Add(dropped)
	}
	if superseded > 0 {
		b.superseded.Add(superseded)
	}
	return nil
}

// now is the time on the broker's clock, which subscribers keep their
// times in: the monotonic time since the broker was made.
func (b *SSEBroker) now() time.Duration { return time.Since(b.born) }

// waitBlocked queues it to each blocking subscriber as room appears. When
// ctx ends, bound (if positive) passes or the broker closes, the rest
// lose their oldest queued event instead. It returns how many did.
func (b *SSEBroker) waitBlocked(ctx context.Context, blocked []*sseSub, it sseItem, bound time.Duration) (dropped uint64) {
	var timeout <-chan time.Time
	if bound > 0 {
		t := time.NewTimer(bound)
		defer t.Stop()
		timeout = t.C
	}
	giveUp := false
	for _, s := range blocked {
		for {
			s.mu.Lock()
			if s.gone {
				s.mu.Unlock()
				break
			}
			wake := s.q.n == 0
			if s.q.push(it, int(s.limit)) {
				s.mu.Unlock()
				if wake {
					s.signal()
				}
				break
			}
			if giveUp {
				s.dropOldestLocked()
				s.q.push(it, int(s.limit))
				s.mu.Unlock()
				dropped++
				break
			}
			s.waiting = true
			s.mu.Unlock()
			select {
			case <-s.room:
			case <-s.done:
			case <-ctx.Done():
				giveUp = true
			case <-timeout:
				giveUp = true
			case <-b.done:
				giveUp = true
			}
		}
	}
	return dropped
}

// sseEventName returns the event type a client sees for e.
func sseEventName(e Event) string {
	switch e.Type {
	case Error:
		return "error"
	case Done:
		return "done"
	case Custom:
		if name := cutField(e.Name); name != "" {
			return name
		}
	}
	return "message"
}

// sseEncodedBound is at least len(AppendEvent(nil, e)).
func sseEncodedBound(e Event) int {
	n := len("event: error\n") + len(e.Name) + len("id: \n") + len(e.ID) + len("retry: \n") + 20 + len("\n")
	lines := 1 + strings.Count(e.Data, "\n") + strings.Count(e.Data, "\r")
	return n + len(e.Data) + lines*len("data: \n")
}
