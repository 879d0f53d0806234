package stream

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Defaults applied to zero fields of HubConfig.
const (
	DefaultHubQueueLen   = 256
	DefaultHubQueueBytes = 1 << 20
)

// Errors returned by the hub's sending methods.
var (
	// ErrHubStopped is returned once Stop has been called.
	ErrHubStopped = errors.New("stream: hub: stopped")
	// ErrHubDropped means a message did not reach every connection it
	// was queued for: a full queue dropped it or disconnected its
	// connection for being too slow.
	ErrHubDropped = errors.New("stream: hub: message dropped for a slow connection")
	// ErrHubNoRecipient is returned by SendTo and SendMessageTo when no
	// registered connection carries the ID.
	ErrHubNoRecipient = errors.New("stream: hub send: no connection with that ID")

	errHubInvalidText = errors.New("stream: hub broadcast: text message is not valid UTF-8")
	errHubTooLarge    = errors.New("stream: hub broadcast: message larger than the queue's byte limit")
	errHubCloseStuck  = errors.New("stream: hub: close did not complete in time")
)

// HubConfig configures a Hub. The zero value is usable.
type HubConfig struct {
	// QueueLen is the most messages waiting for one connection, not
	// counting the batch being written; 0 means 256.
	QueueLen int
	// QueueBytes is the most encoded bytes waiting for one connection,
	// not counting the batch being written; 0 means 1 MiB. A message
	// whose frame is larger is refused by every sending method. Queued
	// frames are shared between connections, so this bounds what one
	// connection can hold on to, not a copy per connection.
	QueueBytes int
	// Policy is applied when a queue is full. DropOldest (the zero
	// value) discards the oldest queued messages to make room;
	// DisconnectSlow closes the connection with DisconnectCode and
	// DisconnectReason and discards everything queued for it. The hub
	// has no message keys, so KeepLatest acts as DropOldest.
	Policy SlowPolicy
	// DisconnectCode is the close status sent under the DisconnectSlow
	// policy: StatusPolicyViolation (1008) or StatusTryAgainLater (1013).
	// 0 or any other code means 1013.
	DisconnectCode StatusCode
	// DisconnectReason is the close reason sent under the
	// DisconnectSlow policy; "" means "too slow". A reason that is not valid UTF-8 or
	// longer than 123 bytes is replaced by the default.
	DisconnectReason string
	// MessageType is the type of the messages sent by Broadcast,
	// BroadcastWait, BroadcastTo and SendTo: TextMessage (the default
	// for 0) or BinaryMessage. Under TextMessage a message that is not
	// valid UTF-8 is refused, never sent (RFC 6455 §5.6).
	MessageType MessageType
	// RequestID, if set, gives the application ID with which Handler
	// registers each connection, from its upgrade request; see SendTo.
	RequestID func(*http.Request) string

	// Relay, when set, connects the hub to the hubs of other instances
	// of the program that use the same relay and RelayTopic: Broadcast,
	// BroadcastTo, SendTo and their variants deliver here at once, as
	// without a relay, and also reach the connections of the other
	// instances; their results speak of this instance's connections
	// only. Each message reaches each connection once. The messages of
	// one instance arrive elsewhere in the order they were sent there;
	// messages sent on different instances may interleave differently on
	// each. What the relay loses is counted in HubStats.Relay.Lost. The
	// hub runs two goroutines for the relay until Stop.
	Relay Relay
	// RelayTopic is the relay topic ("" = "stream.hub"); give each hub
	// of a program its own.
	RelayTopic string
	// RelayQueue bounds the messages waiting to be handed to the relay,
	// for example while it is unreachable (0 = 1024). A message sent when
	// it is full reaches only this instance; HubStats.Relay.Dropped
	// counts them.
	RelayQueue int
}

// hubSettings are the resolved configuration.
type hubSettings struct {
	queueLen   int
	queueBytes int
	policy     SlowPolicy
	code       StatusCode
	reason     string
	mt         MessageType
	requestID  func(*http.Request) string
}

func (cfg HubConfig) settings() hubSettings {
	s := hubSettings{
		queueLen:   cfg.QueueLen,
		queueBytes: cfg.QueueBytes,
		policy:     cfg.Policy,
		code:       cfg.DisconnectCode,
		reason:     cfg.DisconnectReason,
		mt:         cfg.MessageType,
		requestID:  cfg.RequestID,
	}
	if s.queueLen <= 0 {
		s.queueLen = DefaultHubQueueLen
	}
	if s.queueBytes <= 0 {
		s.queueBytes = DefaultHubQueueBytes
	}
	if s.policy != DisconnectSlow {
		s.policy = DropOldest
	}
	if s.code != StatusPolicyViolation && s.code != StatusTryAgainLater {
		s.code = StatusTryAgainLater
	}
	if s.reason == "" || len(s.reason) > 123 || !utf8.ValidString(s.reason) {
		s.reason = "too slow"
	}
	if s.mt != BinaryMessage {
		s.mt = TextMessage
	}
	return s
}

// Hub fans messages out to many WebSocket connections. Each connection
// has a bounded outgoing queue; a writer goroutine runs for a connection
// only while its queue is non-empty and sends everything queued in one
// vectored write. A message is encoded once and the same bytes are
// queued for every recipient. A connection that cannot keep up is dealt
// with by the configured SlowPolicy and never delays the others.
//
// With permessage-deflate (WSConfig.Compression), a message is compressed
// once per flate level for all the connections that negotiated no context
// takeover; connections with context takeover receive it uncompressed,
// since a shared compressed frame would break their compressor's window.
//
// Messages sent by one goroutine arrive at every connection in the order
// they were sent; Broadcast and BroadcastTo calls are also put in one
// order that every connection sees.
//
// A Hub needs no goroutine of its own: Run is optional. Several hubs may
// coexist and one connection may be registered with more than one. All
// methods are safe for concurrent use.
type Hub struct {
	set hubSettings

	sendMu sync.Mutex // orders Broadcast and BroadcastTo calls

	mu      sync.RWMutex // guards everything below
	conns   []*hubConn
	byConn  map[*WebSocketConn]*hubConn
	ids     map[string][]*hubConn
	rooms   map[string]*hubRoom
	stopped bool

	work     sync.WaitGroup // writers and slow-client closers
	stopping chan struct{}  // closed when Stop begins
	stopDone chan struct{}  // closed when Stop has finished

	broadcasts      atomic.Uint64
	deliveries      atomic.Uint64
	drops           atomic.Uint64
	slowDisconnects atomic.Uint64

	rel *hubRelay // nil without HubConfig.Relay
}

// HubStats are a Hub's counters.
type HubStats struct {
	// Connections is the number of registered connections.
	Connections int
	// Rooms is the number of rooms with at least one member.
	Rooms int
	// Broadcasts counts messages accepted by Broadcast, BroadcastTo,
	// SendTo and their variants.
	Broadcasts uint64
	// Deliveries counts messages written to a connection.
	Deliveries uint64
	// Drops counts messages a connection did not get because its queue
	// was full: dropped as the oldest, or discarded when the connection
	// was disconnected for slowness.
	Drops uint64
	// SlowDisconnects counts connections closed under the DisconnectSlow
	// policy.
	SlowDisconnects uint64
	// Relay are the relay counters; zero without HubConfig.Relay.
	Relay RelayStats
}

// NewHub returns a Hub configured by cfg; the zero HubConfig is usable.
func NewHub(cfg HubConfig) *Hub {
	h := &Hub{
		set:      cfg.settings(),
		byConn:   make(map[*WebSocketConn]*hubConn),
		ids:      make(map[string][]*hubConn),
		rooms:    make(map[string]*hubRoom),
		stopping: make(chan struct{}),
		stopDone: make(chan struct{}),
	}
	h.startRelay(cfg)
	return h
}

// Run blocks until Stop has finished. The hub does its work in the
// goroutines that call it and in per-connection writers, so calling Run
// is optional; it exists for programs that run components with a Run
// method. Safe to call from any number of goroutines.
func (h *Hub) Run() { <-h.stopDone }

// Stop refuses further messages and registrations, lets each registered
// connection's writer send what is already queued (for at most the
// connection's CloseTimeout), closes it with 1001 Going Away and returns
// once all of them are closed and the hub's goroutines have ended. A connection whose
// close cannot complete within its CloseTimeout is closed without the
// handshake. Later and concurrent calls wait for the same stop.
func (h *Hub) Stop() {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		<-h.stopDone
		return
	}
	h.stopped = true
	close(h.stopping)
	conns := h.conns
	h.conns = nil
	h.byConn = make(map[*WebSocketConn]*hubConn)
	h.ids = make(map[string][]*hubConn)
	h.rooms = make(map[string]*hubRoom)
	for _, hc := range conns {
		hc.rooms = nil
	}
	h.mu.Unlock()

	// A bounded number of closers work through the list in parallel;
	// each close takes at most the connection's CloseTimeout.
	work := make(chan *hubConn)
	var closers sync.WaitGroup
	for range min(len(conns), 64) {
		closers.Go(func() {
			for hc := range work {
				hc.closeFlushed(StatusGoingAway, "server shutting down")
			}
		})
	}
	for _, hc := range conns {
		work <- hc
	}
	close(work)
	closers.Wait()
	h.work.Wait()
	h.stopRelay()
	close(h.stopDone)
}

// closeConn closes c with code and reason. The close frame waits for a
// write in progress; if that write is stuck on a peer that does not
// read, the transport is closed after the connection's CloseTimeout so
// that the write, and the close, end.
func closeConn(c *WebSocketConn, code StatusCode, reason string) {
	t := time.AfterFunc(c.set.closeTimeout, func() {
		c.teardown(&CloseError{Code: code, Reason: reason, Err: errHubCloseStuck})
	})
	c.CloseWithStatus(code, reason)
	t.Stop()
	<-c.Closed()
}

// Register adds c to the hub with no application ID. See RegisterID.
func (h *Hub) Register(c *WebSocketConn) { h.RegisterID(c, "") }

// RegisterID adds c to the hub, carrying the application ID id ("" for
// none), which SendTo addresses; several connections may share an ID.
// Registering a connection again changes its ID. When c closes it leaves
// the hub and all its rooms by itself. After Stop, c is closed with 1001
// Going Away instead.
func (h *Hub) RegisterID(c *WebSocketConn, id string) {
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		go closeConn(c, StatusGoingAway, "server shutting down")
		return
	}
	if hc := h.byConn[c]; hc != nil {
		h.unindexID(hc)
		hc.id = id
		h.indexID(hc)
		h.mu.Unlock()
		return
	}
	hc := &hubConn{hub: h, c: c, id: id, idx: len(h.conns)}
	h.conns = append(h.conns, hc)
	h.byConn[c] = hc
	h.indexID(hc)
	h.mu.Unlock()
	// After the lock: OnClose runs f at once if c is already closed.
	c.OnClose(func() { h.remove(hc) })
}

// Unregister removes c from the hub and all its rooms; c stays open.
// Messages already queued for it are still written. It does nothing if c
// is not registered.
func (h *Hub) Unregister(c *WebSocketConn) {
	h.mu.RLock()
	hc := h.byConn[c]
	h.mu.RUnlock()
	if hc != nil {
		h.remove(hc)
	}
}

// remove takes hc out of the hub, its ID and its rooms, and stops new
// messages for it.
func (h *Hub) remove(hc *hubConn) {
	h.mu.Lock()
	if h.byConn[hc.c] == hc {
		delete(h.byConn, hc.c)
		last := len(h.conns) - 1
		moved := h.conns[last]
		h.conns[hc.idx] = moved
		moved.idx = hc.idx
		h.conns[last] = nil
		h.conns = h.conns[:last]
		h.unindexID(hc)
		h.leaveAll(hc)
	}
	h.mu.Unlock()
	hc.mu.Lock()
	hc.gone = true
	hc.mu.Unlock()
}

// indexID and unindexID maintain h.ids; h.mu is held.
func (h *Hub) indexID(hc *hubConn) {
	if hc.id != "" {
		h.ids[hc.id] = append(h.ids[hc.id], hc)
	}
}

func (h *Hub) unindexID(hc *hubConn) {
	if hc.id == "" {
		return
	}
	list := h.ids[hc.id]
	for i, x := range list {
		if x == hc {
			list[i] = list[len(list)-1]
			list[len(list)-1] = nil
			list = list[:len(list)-1]
			break
		}
	}
	if len(list) == 0 {
		delete(h.ids, hc.id)
	} else {
		h.ids[hc.id] = list
	}
}

// Count returns the number of registered connections.
func (h *Hub) Count() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.conns)
}

// Stats returns a snapshot of the hub's counters.
func (h *Hub) Stats() HubStats {
	h.mu.RLock()
	n, rooms := len(h.conns), len(h.rooms)
	h.mu.RUnlock()
	var rs RelayStats
	if h.rel != nil {
		rs = h.rel.c.stats()
	}
	return HubStats{
		Relay:           rs,
		Connections:     n,
		Rooms:           rooms,
		Broadcasts:      h.broadcasts.Load(),
		Deliveries:      h.deliveries.Load(),
		Drops:           h.drops.Load(),
		SlowDisconnects: h.slowDisconnects.Load(),
	}
}

// Broadcast queues msg for every registered connection and returns at
// once, without waiting for any client. It reports whether msg was
// queued for all of them: false if the hub is stopped, msg is not valid
// UTF-8 under the TextMessage type, its frame exceeds QueueBytes, or the
// DisconnectSlow policy closed a connection that could not take it. Under
// DropOldest a full queue loses its oldest messages instead and Broadcast
// still returns true; Stats counts the drops. msg is copied; the caller
// may reuse it.
func (h *Hub) Broadcast(msg []byte) bool {
	return h.send(sendAll, "", h.set.mt, msg, nil) == nil
}

// BroadcastWait queues msg for every registered connection like
// Broadcast, then waits until it has been written to each of them (or
// their connection closed) or ctx is done. It returns nil, ctx.Err(),
// ErrHubDropped if a full queue dropped msg for some connection, or the
// reason msg was refused. A message whose wait ends with ctx stays
// queued. Calling it for each message paces the sender to the slowest
// client instead of dropping.
func (h *Hub) BroadcastWait(ctx context.Context, msg []byte) error {
	w := &hubWaiter{done: make(chan struct{})}
	w.pending.Store(1) // the sender's own hold, released below
	if err := h.send(sendAll, "", h.set.mt, msg, w); err != nil && err != ErrHubDropped {
		return err
	}
	w.release(true)
	select {
	case <-w.done:
		if w.dropped.Load() {
			return ErrHubDropped
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SendTo queues msg for every connection registered with the application
// ID id and reports whether there was one and msg was queued for each;
// see Broadcast for the other reasons it returns false.
func (h *Hub) SendTo(id string, msg []byte) bool {
	return h.send(sendID, id, h.set.mt, msg, nil) == nil
}

// sendKind selects the recipients of a message.
type sendKind int

const (
	sendAll sendKind = iota
	sendRoom
	sendID
)

// send encodes msg once as a frame of type mt and queues it for the
// recipients chosen by kind and key, and hands it to the relay if there is
// one. A non-nil w is told about every queued copy.
func (h *Hub) send(kind sendKind, key string, mt MessageType, msg []byte, w *hubWaiter) error {
	return h.sendLocal(kind, key, mt, msg, w, h.rel != nil)
}

// sendLocal is send; with relay it also queues msg for the relay.
func (h *Hub) sendLocal(kind sendKind, key string, mt MessageType, msg []byte, w *hubWaiter, relay bool) error {
	if mt == TextMessage && !utf8.Valid(msg) {
		return errHubInvalidText
	}
	f := newHubFrame(mt, msg, w)
	if len(f.b) > h.set.queueBytes {
		return errHubTooLarge
	}
	if kind != sendID {
		h.sendMu.Lock()
		defer h.sendMu.Unlock()
	}
	h.mu.RLock()
	if h.stopped {
		h.mu.RUnlock()
		return ErrHubStopped
	}
	if relay {
		h.relayOut(kind, key, mt, msg)
	}
	var targets []*hubConn
	switch kind {
	case sendAll:
		targets = h.conns
	case sendRoom:
		if r := h.rooms[key]; r != nil {
			targets = r.list
		}
	case sendID:
		targets = h.ids[key]
		if len(targets) == 0 {
			h.mu.RUnlock()
			return ErrHubNoRecipient
		}
	}
	slow := 0
	for _, hc := range targets {
		if !hc.enqueue(f) {
			continue
		}
		// DisconnectSlow policy: close it outside the locks. Stop waits
		// for h.work, and cannot start while h.mu is read-locked.
		slow++
		h.work.Add(1)
		go h.closeSlow(hc)
	}
	h.mu.RUnlock()
	h.broadcasts.Add(1)
	if slow > 0 {
		h.slowDisconnects.Add(uint64(slow))
		return ErrHubDropped
	}
	return nil
}

// closeSlow removes a connection that could not keep up and closes it
// with the configured status.
func (h *Hub) closeSlow(hc *hubConn) {
	defer h.work.Done()
	h.remove(hc)
	closeConn(hc.c, h.set.code, h.set.reason)
}
