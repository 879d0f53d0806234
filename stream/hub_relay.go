package stream

import (
	"context"
	"sync"
)

// hubRelay connects a Hub to the hubs of other instances through a Relay
// (HubConfig.Relay). Messages are delivered here first and handed to the
// relay by a pump goroutine; messages from other instances are delivered
// here as if sent locally, but not relayed again.
type hubRelay struct {
	relay  Relay
	topic  string
	origin relayOrigin
	pump   *relayPump
	seen   relaySeen
	c      relayCounters

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startRelay starts the relay goroutines of a new hub.
func (h *Hub) startRelay(cfg HubConfig) {
	if cfg.Relay == nil {
		return
	}
	r := &hubRelay{relay: cfg.Relay, topic: cfg.RelayTopic, origin: newRelayOrigin()}
	if r.topic == "" {
		r.topic = defaultRelayTopic + ".hub"
	}
	var batch func(context.Context, string, [][]byte) error
	if rb, ok := r.relay.(RelayBatcher); ok {
		batch = rb.PublishBatch
	}
	r.pump = newRelayPump(r.origin, cfg.RelayQueue, &r.c, relaySender(r.topic, r.relay.Publish, batch))
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	h.rel = r
	r.wg.Go(func() { r.pump.run(ctx) })
	r.wg.Go(func() {
		relayStart(ctx, &r.c, func() error { return r.relay.Subscribe(ctx, r.topic, h.relayIn) })
	})
}

// stopRelay ends the relay goroutines; the relay may still call relayIn
// for a moment, which the stopped hub refuses.
func (h *Hub) stopRelay() {
	if h.rel != nil {
		h.rel.cancel()
		h.rel.wg.Wait()
	}
}

// relayOut queues a message that was sent here for the other instances.
// Callers hold sendMu for kinds other than sendID, so that the relay gets
// messages in the order local connections do.
func (h *Hub) relayOut(kind sendKind, key string, mt MessageType, msg []byte) {
	rk := relayKindAll
	switch kind {
	case sendRoom:
		rk = relayKindRoom
	case sendID:
		rk = relayKindID
	}
	h.rel.pump.push(false, func(dst []byte, origin relayOrigin, seq uint64) []byte {
		return appendRelayHub(dst, origin, seq, rk, mt, key, msg)
	})
}

// relayIn delivers a message from the relay to this hub's connections.
func (h *Hub) relayIn(msg []byte) {
	r := h.rel
	env, err := decodeRelayEnvelope(msg)
	if err != nil || env.kind == relayKindEvent {
		r.c.errors.Add(1)
		return
	}
	if env.origin == r.origin {
		return // our own, already delivered here
	}
	fresh, lost := r.seen.check(env.origin, env.seq)
	if lost > 0 {
		r.c.lost.Add(lost)
	}
	if !fresh {
		r.c.duplicates.Add(1)
		return
	}
	kind := sendAll
	switch env.kind {
	case relayKindRoom:
		kind = sendRoom
	case relayKindID:
		kind = sendID
	}
	r.c.received.Add(1)
	_ = h.sendLocal(kind, string(env.key), env.mt, env.payload, nil, false)
}
