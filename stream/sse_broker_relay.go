package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// sseRelay connects an SSEBroker to the brokers of other instances
// (SSEBrokerConfig.Relay).
//
// With a plain Relay, an event is delivered here first and handed to the
// relay by a pump goroutine; events of other instances are delivered here
// as if published locally, with IDs of this broker.
//
// With an OrderedRelay, Publish only queues the event for the relay. A
// follower delivers the relay's log, this instance's events included, in
// log order and with the log's IDs as event IDs, so that every instance
// sends the same events with the same IDs in the same order. A client that
// resumes with an ID this broker's replay ring does not hold is caught up
// from the relay's log (see relayCatchUp).
type sseRelay struct {
	relay   Relay
	ordered OrderedRelay // nil for a plain Relay
	topic   string
	origin  relayOrigin
	pump    *relayPump
	seen    relaySeen
	c       relayCounters

	ctx    context.Context // ends with Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	ready  chan struct{} // closed once the follower is in place (ordered)

	// With an OrderedRelay, guarded by b.mu: lastLog is the ID of the
	// newest message of the log delivered here (or skipped, see
	// relayOutage), "" until the follower is in place; lastLogSeq is the
	// broker's seq when lastLog was set. Ring entries after lastLogSeq
	// are provisional.
	lastLog    string
	lastLogSeq uint64
	outage     relayOutage
}

// startRelay sets up the relay of a new broker and starts its goroutines.
func (b *SSEBroker) startRelay(cfg SSEBrokerConfig) {
	if cfg.Relay == nil {
		return
	}
	r := &sseRelay{relay: cfg.Relay, topic: cfg.RelayTopic, origin: newRelayOrigin(), ready: make(chan struct{})}
	r.ordered, _ = cfg.Relay.(OrderedRelay)
	if r.topic == "" {
		r.topic = defaultRelayTopic + ".sse"
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	b.rel = r
	if r.ordered != nil {
		// The ring must hold at least the newest event: its ID is the
		// position new subscribers start from.
		b.replay.limit = max(b.replay.limit, 1)
		var batch func(context.Context, string, [][]byte) error
		if rb, ok := r.relay.(RelayBatcher); ok {
			batch = rb.AppendBatch
		}
		appendOne := func(ctx context.Context, topic string, msg []byte) error {
			_, err := r.ordered.Append(ctx, topic, msg)
			return err
		}
		r.pump = newRelayPump(r.origin, cfg.RelayQueue, &r.c, relaySender(r.topic, appendOne, batch))
		r.pump.local = b.relayProvisional
		r.wg.Go(func() {
			relayStart(r.ctx, &r.c, func() error {
				from, err := r.ordered.Follow(r.ctx, r.topic, "", b.relayInOrdered)
				if err == nil {
					b.mu.Lock()
					r.lastLog, r.lastLogSeq = from, b.seq
					b.mu.Unlock()
					close(r.ready)
				}
				return err
			})
		})
	} else {
		var batch func(context.Context, string, [][]byte) error
		if rb, ok := r.relay.(RelayBatcher); ok {
			batch = rb.PublishBatch
		}
		r.pump = newRelayPump(r.origin, cfg.RelayQueue, &r.c, relaySender(r.topic, r.relay.Publish, batch))
		close(r.ready)
		r.wg.Go(func() {
			relayStart(r.ctx, &r.c, func() error { return r.relay.Subscribe(r.ctx, r.topic, b.relayInPlain) })
		})
	}
	r.wg.Go(func() { r.pump.run(r.ctx) })
}

// stopRelay ends the relay goroutines of a closed broker.
func (b *SSEBroker) stopRelay() {
	if b.rel != nil {
		b.rel.cancel()
		b.rel.wg.Wait()
	}
}

// relayStats returns the relay counters, zero without a relay.
func (b *SSEBroker) relayStats() RelayStats {
	if b.rel == nil {
		return RelayStats{}
	}
	return b.rel.c.stats()
}

// publishOut publishes an event given to Publish or PublishContext: here
// and through a plain relay, or through an ordered relay only.
func (b *SSEBroker) publishOut(ctx context.Context, e Event, bound time.Duration) error {
	r := b.rel
	if r == nil || r.ordered == nil {
		from := publishLocal
		if r != nil {
			from = publishRelayed
		}
		return b.publish(ctx, e, bound, from)
	}
	e.ID = "" // the relay's log gives it one
	build := func(dst []byte, origin relayOrigin, seq uint64) []byte {
		return appendRelayEvent(dst, origin, seq, e)
	}
	var timeout <-chan time.Time
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("stream: sse publish: %w", err)
		}
		if b.isClosed() {
			return fmt.Errorf("stream: sse publish: %w", ErrClosed)
		}
		if r.pump.push(true, build) {
			return nil
		}
		if bound < 0 {
			return fmt.Errorf("stream: sse publish: %w", ErrRelayBacklog)
		}
		if bound > 0 && timeout == nil {
			t := time.NewTimer(bound)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-r.pump.room:
		case <-timeout:
			return fmt.Errorf("stream: sse publish: %w", ErrRelayBacklog)
		case <-ctx.Done():
		case <-b.done:
		}
	}
}

// relayOut queues an event published here for a plain relay; the caller
// holds pubSem, so that the relay gets events in the local order.
func (b *SSEBroker) relayOut(e Event) {
	b.rel.pump.push(false, func(dst []byte, origin relayOrigin, seq uint64) []byte {
		return appendRelayEvent(dst, origin, seq, e)
	})
}

// relayEvent decodes an envelope and reports whether it is an event not
// seen before.
func (r *sseRelay) relayEvent(msg []byte, seen *relaySeen, own bool) (relayEnvelope, bool) {
	env, err := decodeRelayEnvelope(msg)
	if err != nil || env.kind != relayKindEvent {
		r.c.errors.Add(1)
		return env, false
	}
	if !own && env.origin == r.origin {
		return env, false // our own, already delivered here
	}
	fresh, lost := seen.check(env.origin, env.seq)
	if lost > 0 {
		r.c.lost.Add(lost)
	}
	if !fresh {
		r.c.duplicates.Add(1)
		return env, false
	}
	return env, true
}

// relayInPlain delivers an event from a plain relay here.
func (b *SSEBroker) relayInPlain(msg []byte) {
	r := b.rel
	env, ok := r.relayEvent(msg, &r.seen, false)
	if !ok {
		return
	}
	r.c.received.Add(1)
	_ = b.publish(r.ctx, env.event, b.blockTimeout, publishLocal)
}

// relayInOrdered delivers an event of an ordered relay's log here, with
// the log's ID; an event of this instance that was already delivered
// here during an outage only moves lastLog on.
func (b *SSEBroker) relayInOrdered(m RelayMessage) {
	r := b.rel
	env, ok := r.relayEvent(m.Data, &r.seen, true)
	if !ok {
		return
	}
	r.c.received.Add(1)
	if env.origin == r.origin && r.outage.take(env.seq) {
		b.mu.Lock()
		r.lastLog, r.lastLogSeq = m.ID, b.seq
		b.mu.Unlock()
		return
	}
	e := env.event
	e.ID = m.ID
	_ = b.publish(r.ctx, e, b.blockTimeout, publishFromLog)
}

// waitRelayReady waits until an ordered relay's follower is in place, so
// that the broker knows its position in the log. It reports false if ctx
// ended first.
func (b *SSEBroker) waitRelayReady(ctx context.Context) bool {
	if b.rel == nil {
		return true
	}
	select {
	case <-b.rel.ready:
		return true
	case <-b.done:
		return true
	case <-ctx.Done():
		return false
	}
}

// relayStartLocked sets the ID a new subscriber of a broker with an
// ordered relay starts from: lastLog when nothing was delivered here
// after it, else the newest event's (a provisional one). With neither,
// the subscriber is given no starting ID. b.mu is held.
func (b *SSEBroker) relayStartLocked(res *sseResume) {
	r := b.rel
	if r == nil || r.ordered == nil {
		return
	}
	if r.lastLogSeq == b.seq {
		res.newestID = r.lastLog
	}
	res.noStartID = res.newestID == ""
}

// relayResumeLocked prepares the resume of a subscriber whose Last-Event-ID
// the replay ring does not hold, from an ordered relay's log: s joins
// gated, and relayCatchUp sends it what the log holds between its ID and
// lastLog, then the provisional events delivered here since. A
// provisional ID resumes from the log position it names (see
// provisionalLogID). b.mu is held.
func (b *SSEBroker) relayResumeLocked(lastID string, s *sseSub, res sseResume) sseResume {
	r := b.rel
	after := provisionalLogID(lastID)
	if after == "" {
		res.gap, res.missed = true, -1
		b.resumeGaps.Add(1)
		return res
	}
	res.relay = true
	res.relayAfter, res.relayThrough = after, r.lastLog
	res.relayHeld, _ = parseProvisionalID(lastID)
	if r.lastLogSeq < b.seq {
		accept := s.accepts
		if s.filter == nil {
			accept = nil
		}
		res.replay = b.replay.after(r.lastLogSeq, accept)
	}
	s.gate, s.gateID = sseGatePending, after
	s.gated.Store(true)
	return res
}

// Gates of a subscriber that resumes from an ordered relay's log.
const (
	sseGateOpen    = iota
	sseGatePending // catching up: live events are queued, unless the resume ID comes by
	sseGateSkip    // ahead of this instance: live events are dropped up to the resume ID
)

// gatePass reports whether a gated subscriber skips the live event id.
func (s *sseSub) gatePass(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch s.gate {
	case sseGatePending:
		if id != s.gateID {
			return false
		}
		// The client already holds everything queued so far.
		s.q.reset()
		s.lost = 0
		s.openGateLocked()
		return true
	case sseGateSkip:
		if id == s.gateID {
			s.openGateLocked()
		}
		return true
	}
	return false
}

func (s *sseSub) openGateLocked() {
	s.gate = sseGateOpen
	s.gated.Store(false)
}

// endCatchUp opens the gate after a catch-up; with ahead, the client holds
// events this instance has not delivered yet, so the queue is dropped and
// live events are skipped up to the client's ID.
func (s *sseSub) endCatchUp(ahead bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != sseGatePending {
		return
	}
	if !ahead {
		s.openGateLocked()
		return
	}
	s.q.reset()
	s.lost = 0
	s.gate = sseGateSkip
}

// relayCatchUp sends a resuming subscriber, from the relay's log, the
// events after its Last-Event-ID up to the newest event delivered here
// when it joined; the live events after that are in its queue. If the
// client is ahead of this instance (its ID is in the log but not yet
// delivered here), it is sent nothing until the live events pass its ID.
// If its ID is not in the log it is sent a gap event.
func (s *sseSub) relayCatchUp(ctx context.Context, res sseResume) error {
	b, r := s.b, s.b.rel
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.ctx, cancel)
	defer stop()

	after, through := res.relayAfter, res.relayThrough
	if after == through {
		b.resumed.Add(1)
		s.endCatchUp(false)
		return s.sendProvisional(nil, 0, res)
	}
	var seen relaySeen
	var buf []byte
	var n uint64
	first := true
	for fails := 0; ; {
		msgs, err := r.ordered.Read(ctx, r.topic, after, through, relayReadLimit)
		if err != nil {
			if b.isClosed() {
				return errSSEBrokerClosed
			}
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, ErrRelayGap) {
				// Not in the log: trimmed, or never was there.
				b.resumeGaps.Add(1)
				s.endCatchUp(false)
				buf = b.appendGap(buf, -1, "resume", true, res)
				break
			}
			r.c.errors.Add(1)
			if !relayBackoff(ctx, fails) {
				return nil
			}
			fails++
			// The client has its headers and waits: heartbeats keep
			// proxies from cutting it off while the log is out of reach.
			if _, err := s.heartbeatIfIdle(); err != nil {
				return err
			}
			continue
		}
		fails = 0
		if first {
			first = false
			b.resumed.Add(1)
			if len(msgs) == 0 {
				s.endCatchUp(true)
				return nil
			}
		}
		for _, m := range msgs {
			env, ok := r.relayEvent(m.Data, &seen, true)
			e := env.event
			if !ok || !s.accepts(sseEventName(e)) || res.relayHeld.has(env.origin, env.seq) {
				continue
			}
			e.ID = m.ID
			var err error
			if buf, err = s.appendBatched(buf, nil); err != nil {
				return err
			}
			buf = AppendEvent(buf, e)
			n++
		}
		if len(msgs) == 0 {
			s.endCatchUp(false)
			return s.sendProvisional(buf, n, res)
		}
		after = msgs[len(msgs)-1].ID
		if after == through || len(msgs) < relayReadLimit {
			s.endCatchUp(false)
			return s.sendProvisional(buf, n, res)
		}
	}
	s.delivered += n
	b.delivered.Add(n)
	return s.write(buf)
}

// sendProvisional ends a catch-up: it writes buf, holding n events from
// the log, and the provisional events of res.replay.
func (s *sseSub) sendProvisional(buf []byte, n uint64, res sseResume) error {
	for _, e := range res.replay {
		var err error
		if buf, err = s.appendBatched(buf, e.b); err != nil {
			return err
		}
		n++
	}
	s.delivered += n
	s.b.delivered.Add(n)
	return s.write(buf)
}
