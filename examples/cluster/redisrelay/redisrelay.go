// Package redisrelay carries the messages of stream.Hub and
// stream.SSEBroker between the instances of a program through Redis.
//
// A *Relay is a stream.OrderedRelay. An SSEBroker given it appends its
// events to a Redis stream (XADD with an approximate MAXLEN) and every
// instance reads that stream (XREAD) in the same order: the stream IDs
// ("1700000000000-0") are the events' SSE IDs, so a browser that
// reconnects to another instance resumes with no gap, and an event
// published while Redis is unreachable reaches its own instance's clients
// at once (with a provisional ID), waits in the broker's queue and is
// appended, and so reaches the other instances, once Redis is back.
//
// A Hub uses the Relay methods Publish and Subscribe, which Config.Broadcast
// maps to Redis Pub/Sub (at-most-once: what a subscriber misses while its
// connection is down is lost, and counted by the receiving Hub in
// HubStats.Relay.Lost) or to Redis Streams (nothing is lost while the
// stream holds it).
//
// Every loop that talks to Redis reconnects with backoff after an error,
// so a Redis restart interrupts delivery between instances only; each
// instance keeps serving its own clients meanwhile.
package redisrelay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stdrealtime/realtime/stream"
)

// Mode selects how Publish and Subscribe carry messages.
type Mode int

const (
	// PubSub uses PUBLISH and SUBSCRIBE: lowest latency, at-most-once.
	PubSub Mode = iota
	// Streams uses XADD and XREAD, like the ordered methods: a subscriber
	// whose connection breaks resumes after the last message it received.
	Streams
)

// String returns "pubsub" or "streams".
func (m Mode) String() string {
	if m == Streams {
		return "streams"
	}
	return "pubsub"
}

// Config configures a Relay. The zero value is usable.
type Config struct {
	// Prefix is put before each topic to form the Redis key or channel
	// ("" = "realtime:").
	Prefix string
	// Broadcast is how Publish and Subscribe carry messages (default
	// PubSub).
	Broadcast Mode
	// MaxLen is the approximate number of messages kept per stream
	// (0 = 10000). A client that reconnects with an ID older than the
	// stream holds is told of the gap.
	MaxLen int64
	// Block bounds each XREAD wait (0 = 2s).
	Block time.Duration
	// Logger receives a line when a loop loses Redis (warn) and when it
	// is back (info); nil logs nothing.
	Logger *slog.Logger
}

// Stats are a Relay's counters.
type Stats struct {
	// Errors counts failed Redis calls.
	Errors uint64 `json:"errors"`
	// Recoveries counts loops that reached Redis again after failing.
	Recoveries uint64 `json:"recoveries"`
	// Appended counts messages added to streams; Published messages sent
	// with PUBLISH.
	Appended  uint64 `json:"appended"`
	Published uint64 `json:"published"`
	// Read counts messages read from streams and Pub/Sub channels.
	Read uint64 `json:"read"`
	// Loops is the number of Subscribe and Follow loops running now.
	Loops int64 `json:"loops"`
}

const (
	defaultPrefix = "realtime:"
	defaultMaxLen = 10000
	defaultBlock  = 2 * time.Second
	readCount     = 256
	backoffMin    = 50 * time.Millisecond
	backoffMax    = 2 * time.Second
	dataField     = "d"
)

// Relay is a stream.OrderedRelay on Redis. Its methods are safe for
// concurrent use; the goroutines started by Subscribe and Follow end with
// their context.
type Relay struct {
	c   *redis.Client
	cfg Config
	log *slog.Logger

	errors, recoveries, appended, published, read atomic.Uint64
	loops                                         atomic.Int64
}

var (
	_ stream.OrderedRelay = (*Relay)(nil)
	_ stream.RelayBatcher = (*Relay)(nil)
)

// New returns a Relay on the Redis server of c. The caller keeps c and
// closes it after the hubs and brokers using the relay have stopped.
func New(c *redis.Client, cfg Config) *Relay {
	if cfg.Prefix == "" {
		cfg.Prefix = defaultPrefix
	}
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = defaultMaxLen
	}
	if cfg.Block <= 0 {
		cfg.Block = defaultBlock
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{c: c, cfg: cfg, log: log}
}

// Stats returns a snapshot of the counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Errors:     r.errors.Load(),
		Recoveries: r.recoveries.Load(),
		Appended:   r.appended.Load(),
		Published:  r.published.Load(),
		Read:       r.read.Load(),
		Loops:      r.loops.Load(),
	}
}

func (r *Relay) key(topic string) string { return r.cfg.Prefix + topic }

// Publish sends msg with PUBLISH, or appends it to the topic's stream
// under Streams.
func (r *Relay) Publish(ctx context.Context, topic string, msg []byte) error {
	if r.cfg.Broadcast == Streams {
		_, err := r.Append(ctx, topic, msg)
		return err
	}
	if err := r.c.Publish(ctx, r.key(topic), msg).Err(); err != nil {
		r.errors.Add(1)
		return fmt.Errorf("redisrelay: publish %s: %w", topic, err)
	}
	r.published.Add(1)
	return nil
}

// Subscribe delivers what is published to topic from now on. Under
// PubSub it SUBSCRIBEs and resubscribes after a broken connection, losing
// what was published meanwhile; under Streams it follows the topic's
// stream.
func (r *Relay) Subscribe(ctx context.Context, topic string, deliver func([]byte)) error {
	if r.cfg.Broadcast == Streams {
		_, err := r.Follow(ctx, topic, "", func(m stream.RelayMessage) { deliver(m.Data) })
		return err
	}
	ps := r.c.Subscribe(ctx, r.key(topic))
	if _, err := ps.Receive(ctx); err != nil { // the subscription's confirmation
		ps.Close()
		r.errors.Add(1)
		return fmt.Errorf("redisrelay: subscribe %s: %w", topic, err)
	}
	// A blocked read does not watch ctx: closing the PubSub ends it.
	stop := context.AfterFunc(ctx, func() { ps.Close() })
	r.loops.Add(1)
	go func() {
		defer r.loops.Add(-1)
		defer stop()
		var lost loopHealth
		for n := 0; ; {
			msg, err := ps.ReceiveMessage(ctx)
			if err != nil {
				if ctx.Err() != nil || errors.Is(err, redis.ErrClosed) {
					return
				}
				r.failed(&lost, "subscribe", topic, err)
				if !sleep(ctx, n) {
					return
				}
				n++
				continue
			}
			n = 0
			r.recovered(&lost, "subscribe", topic)
			r.read.Add(1)
			deliver([]byte(msg.Payload))
		}
	}()
	return nil
}

// PublishBatch is Publish for msgs, sent in one pipeline.
func (r *Relay) PublishBatch(ctx context.Context, topic string, msgs [][]byte) error {
	if r.cfg.Broadcast == Streams {
		return r.AppendBatch(ctx, topic, msgs)
	}
	key := r.key(topic)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.Publish(ctx, key, m)
		}
		return nil
	})
	if err != nil {
		r.errors.Add(1)
		return fmt.Errorf("redisrelay: publish %s: %w", topic, err)
	}
	r.published.Add(uint64(len(msgs)))
	return nil
}

// AppendBatch is Append for msgs, sent in one pipeline.
func (r *Relay) AppendBatch(ctx context.Context, topic string, msgs [][]byte) error {
	key := r.key(topic)
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, m := range msgs {
			p.XAdd(ctx, r.xaddArgs(key, m))
		}
		return nil
	})
	if err != nil {
		r.errors.Add(1)
		return fmt.Errorf("redisrelay: append %s: %w", topic, err)
	}
	r.appended.Add(uint64(len(msgs)))
	return nil
}

func (r *Relay) xaddArgs(key string, msg []byte) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: key, MaxLen: r.cfg.MaxLen, Approx: true, Values: []any{dataField, msg}}
}

// Append adds msg to the topic's stream with XADD, trimming it to about
// MaxLen messages, and returns the stream ID.
func (r *Relay) Append(ctx context.Context, topic string, msg []byte) (string, error) {
	id, err := r.c.XAdd(ctx, r.xaddArgs(r.key(topic), msg)).Result()
	if err != nil {
		r.errors.Add(1)
		return "", fmt.Errorf("redisrelay: append %s: %w", topic, err)
	}
	r.appended.Add(1)
	return id, nil
}

// Follow delivers the topic's stream after the ID after (after "": after
// its newest entry, or "0-0" for an empty stream), reading it with XREAD
// on a connection of its own.
// After an error it reconnects with backoff and reads on from the last ID
// it delivered.
func (r *Relay) Follow(ctx context.Context, topic, after string, deliver func(stream.RelayMessage)) (string, error) {
	key := r.key(topic)
	from := after
	if after == "" {
		last, err := r.c.XRevRangeN(ctx, key, "+", "-", 1).Result()
		if err != nil {
			r.errors.Add(1)
			return "", fmt.Errorf("redisrelay: follow %s: %w", topic, err)
		}
		from = streamStart
		if len(last) == 1 {
			from = last[0].ID
		}
	} else if !validID(after) {
		return "", fmt.Errorf("redisrelay: follow %s: %q is not a stream ID", topic, after)
	}
	r.loops.Add(1)
	go func() {
		defer r.loops.Add(-1)
		r.follow(ctx, topic, key, from, deliver)
	}()
	return from, nil
}

func (r *Relay) follow(ctx context.Context, topic, key, last string, deliver func(stream.RelayMessage)) {
	if last == "" {
		last = "0-0"
	}
	var (
		conn     *redis.Conn
		clientID atomic.Int64 // of conn, once known
		lost     loopHealth
	)
	// A blocked XREAD does not watch ctx: CLIENT UNBLOCK, sent on another
	// connection, ends it. (Closing conn from here would race with it.)
	stop := context.AfterFunc(ctx, func() {
		if id := clientID.Load(); id != 0 {
			uctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			r.c.ClientUnblock(uctx, id)
		}
	})
	defer stop()
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for n := 0; ctx.Err() == nil; {
		var res []redis.XStream
		var err error
		if conn == nil {
			conn = r.c.Conn()
			var id int64
			if id, err = conn.ClientID(ctx).Result(); err == nil {
				clientID.Store(id)
			}
		}
		if err == nil && ctx.Err() == nil {
			res, err = conn.XRead(ctx, &redis.XReadArgs{Streams: []string{key, last}, Count: readCount, Block: r.cfg.Block}).Result()
		}
		if errors.Is(err, redis.Nil) {
			r.recovered(&lost, "follow", topic)
			n = 0
			continue // nothing new within Block, or unblocked
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.failed(&lost, "follow", topic, err)
			clientID.Store(0)
			conn.Close()
			conn = nil
			if !sleep(ctx, n) {
				return
			}
			n++
			continue
		}
		n = 0
		r.recovered(&lost, "follow", topic)
		for _, s := range res {
			for _, m := range s.Messages {
				last = m.ID
				r.read.Add(1)
				deliver(stream.RelayMessage{ID: m.ID, Data: messageData(m)})
			}
		}
	}
}

// Read returns the entries of the topic's stream after after, up to and
// including through, at most limit. It checks first that after is in the
// stream; if not, the error wraps stream.ErrRelayGap. after "0-0" (the
// start of a stream that was empty) is in the stream while nothing has
// been trimmed from it.
func (r *Relay) Read(ctx context.Context, topic, after, through string, limit int) ([]stream.RelayMessage, error) {
	if !validID(after) || (through != "" && !validID(through)) {
		return nil, fmt.Errorf("redisrelay: read %s after %.40q: %w", topic, after, stream.ErrRelayGap)
	}
	key := r.key(topic)
	if after == streamStart {
		return r.readFromStart(ctx, topic, key, through, limit)
	}
	var at, rng *redis.XMessageSliceCmd
	_, err := r.c.Pipelined(ctx, func(p redis.Pipeliner) error {
		at = p.XRangeN(ctx, key, after, after, 1)
		if through != "" {
			rng = p.XRangeN(ctx, key, "("+after, through, int64(limit))
		}
		return nil
	})
	if err != nil {
		r.errors.Add(1)
		return nil, fmt.Errorf("redisrelay: read %s: %w", topic, err)
	}
	if len(at.Val()) == 0 {
		return nil, fmt.Errorf("redisrelay: read %s after %s: %w", topic, after, stream.ErrRelayGap)
	}
	if rng == nil {
		return nil, nil
	}
	out := make([]stream.RelayMessage, 0, len(rng.Val()))
	for _, m := range rng.Val() {
		out = append(out, stream.RelayMessage{ID: m.ID, Data: messageData(m)})
	}
	r.read.Add(uint64(len(out)))
	return out, nil
}

// streamStart is the ID before every entry of a stream.
const streamStart = "0-0"

// readFromStart is Read after "0-0": it checks with XINFO STREAM (Redis
// 7) that the stream still holds every entry ever added to it.
func (r *Relay) readFromStart(ctx context.Context, topic, key, through string, limit int) ([]stream.RelayMessage, error) {
	info, err := r.c.XInfoStream(ctx, key).Result()
	if err != nil && strings.Contains(err.Error(), "no such key") {
		return nil, nil // still empty
	}
	if err != nil {
		r.errors.Add(1)
		return nil, fmt.Errorf("redisrelay: read %s: %w", topic, err)
	}
	if info.EntriesAdded != info.Length {
		return nil, fmt.Errorf("redisrelay: read %s from its start: %d of %d entries were trimmed: %w",
			topic, info.EntriesAdded-info.Length, info.EntriesAdded, stream.ErrRelayGap)
	}
	if through == "" {
		return nil, nil
	}
	msgs, err := r.c.XRangeN(ctx, key, "-", through, int64(limit)).Result()
	if err != nil {
		r.errors.Add(1)
		return nil, fmt.Errorf("redisrelay: read %s: %w", topic, err)
	}
	out := make([]stream.RelayMessage, 0, len(msgs))
	for _, m := range msgs {
		out = append(out, stream.RelayMessage{ID: m.ID, Data: messageData(m)})
	}
	r.read.Add(uint64(len(out)))
	return out, nil
}

func messageData(m redis.XMessage) []byte {
	switch v := m.Values[dataField].(type) {
	case string:
		return []byte(v)
	case []byte:
		return v
	}
	return nil
}

// validID reports whether id has the form of a stream ID: "<ms>-<seq>".
func validID(id string) bool {
	ms, seq, ok := strings.Cut(id, "-")
	return ok && digits(ms) && digits(seq) && len(ms) <= 20 && len(seq) <= 20
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// loopHealth remembers when a loop lost Redis, for its log lines.
type loopHealth struct {
	since time.Time
}

func (r *Relay) failed(h *loopHealth, op, topic string, err error) {
	r.errors.Add(1)
	if h.since.IsZero() {
		h.since = time.Now()
		r.log.Warn("redis relay: lost redis, retrying", "op", op, "topic", topic, "err", err)
	}
}

func (r *Relay) recovered(h *loopHealth, op, topic string) {
	if !h.since.IsZero() {
		r.recoveries.Add(1)
		r.log.Info("redis relay: redis is back", "op", op, "topic", topic, "after", time.Since(h.since).Round(time.Millisecond))
		h.since = time.Time{}
	}
}

// sleep waits before retry n (from 0), with exponential backoff and
// jitter, and reports whether ctx is still live.
func sleep(ctx context.Context, n int) bool {
	d := min(backoffMin<<min(n, 10), backoffMax)
	d = d/2 + rand.N(d/2)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
