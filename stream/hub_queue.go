package stream

import (
	"sync"
	"sync/atomic"
	"time"
)

// hubFrame is one message encoded once as a complete server frame. The
// same *hubFrame is queued for every recipient; its bytes are never
// modified after newHubFrame, so writers share them without copying.
type hubFrame struct {
	b   []byte      // header and payload
	hdr int         // header length: b[hdr:] is the payload
	mt  MessageType // for connections that cannot take encoded frames
	w   *hubWaiter  // nil unless a sender waits for the writes

	zmu sync.Mutex
	z   []hubDeflated // compressed forms, one per flate level asked for
}

// hubDeflated is a hubFrame's message compressed once at one flate level,
// for every connection that negotiated permessage-deflate without context
// takeover at that level. b is nil when compressing failed or did not
// make the frame smaller; such connections get the plain frame, which
// RFC 7692 §6 allows (an uncompressed message has RSV1 clear).
type hubDeflated struct {
	level int
	b     []byte
}

// forConn returns the bytes to write to the server connection c: the
// compressed frame when c takes frames compressed afresh and the message
// reaches its threshold, else the plain frame. Each level is compressed
// once per message, whatever the number of connections. Connections with
// context takeover get the plain frame: their compressor's window is
// their own, so a shared compressed frame would desynchronise it.
func (f *hubFrame) forConn(c *WebSocketConn) []byte {
	level, threshold, ok := c.broadcastDeflate()
	if !ok || len(f.b)-f.hdr < threshold {
		return f.b
	}
	f.zmu.Lock()
	defer f.zmu.Unlock()
	for _, z := range f.z {
		if z.level == level {
			if z.b == nil {
				return f.b
			}
			return z.b
		}
	}
	b, err := appendCompressedServerFrame(nil, f.mt, f.b[f.hdr:], level)
	if err != nil || len(b) >= len(f.b) {
		b = nil
	}
	f.z = append(f.z, hubDeflated{level: level, b: b})
	if b == nil {
		return f.b
	}
	return b
}

func newHubFrame(mt MessageType, msg []byte, w *hubWaiter) *hubFrame {
	b := appendServerFrame(make([]byte, 0, len(msg)+10), mt, msg)
	return &hubFrame{b: b, hdr: len(b) - len(msg), mt: mt, w: w}
}

// hubWaiter tells BroadcastWait when every queued copy of its frame has
// been written or discarded. pending counts the copies plus the sender's
// own hold.
type hubWaiter struct {
	pending atomic.Int64
	dropped atomic.Bool
	done    chan struct{}
}

func (w *hubWaiter) release(ok bool) {
	if !ok {
		w.dropped.Store(true)
	}
	if w.pending.Add(-1) == 0 {
		close(w.done)
	}
}

// queued records that one more copy of f was queued.
func (f *hubFrame) queued() {
	if f.w != nil {
		f.w.pending.Add(1)
	}
}

// finished records that one queued copy of f was written (sent true),
// discarded because its connection closed (sent true: nothing was lost
// to slowness), or dropped by the slow policy (sent false).
func (f *hubFrame) finished(sent bool) {
	if f.w != nil {
		f.w.release(sent)
	}
}

// hubConn is a registered connection and its outgoing queue.
type hubConn struct {
	hub *Hub
	c   *WebSocketConn

	// Guarded by hub.mu.
	id    string
	idx   int            // position in hub.conns
	rooms map[string]int // room name → position in the room's list

	// Guarded by mu.
	mu      sync.Mutex
	q       []*hubFrame // waiting, oldest first
	qBytes  int
	spare   []*hubFrame   // the last batch's array, reused for q
	writing bool          // a writer goroutine is running
	gone    bool          // no new messages: unregistered, closed or failed
	drained chan struct{} // if set, closed when the writer ends

	bufs [][]byte // owned by the writer
}

// hubKeepCap is the largest batch array a connection keeps between
// bursts; larger ones are left to the garbage collector so that an idle
// connection costs little.
const hubKeepCap = 16

// enqueue queues f for the connection, applying the slow policy when
// the queue is full, and starts a writer if none is running. It returns
// true when the DisconnectSlow policy requires the connection to be closed;
// f is then not queued and the connection takes no more messages.
func (hc *hubConn) enqueue(f *hubFrame) (disconnect bool) {
	h := hc.hub
	s := &h.set
	hc.mu.Lock()
	if hc.gone {
		hc.mu.Unlock()
		return false
	}
	if len(hc.q) >= s.queueLen || hc.qBytes+len(f.b) > s.queueBytes {
		if s.policy == DisconnectSlow {
			dropped := hc.q
			hc.q, hc.qBytes, hc.gone = nil, 0, true
			hc.mu.Unlock()
			for _, old := range dropped {
				old.finished(false)
			}
			if f.w != nil {
				f.w.dropped.Store(true)
			}
			h.drops.Add(uint64(len(dropped)) + 1)
			return true
		}
		n := 0
		for len(hc.q) > 0 && (len(hc.q) >= s.queueLen || hc.qBytes+len(f.b) > s.queueBytes) {
			old := hc.q[0]
			hc.q[0] = nil
			hc.q = hc.q[1:]
			hc.qBytes -= len(old.b)
			old.finished(false)
			n++
		}
		h.drops.Add(uint64(n))
	}
	f.queued()
	hc.q = append(hc.q, f)
	hc.qBytes += len(f.b)
	start := !hc.writing
	hc.writing = true
	hc.mu.Unlock()
	if start {
		h.work.Add(1)
		go hc.drain()
	}
	return false
}

// drain is the connection's writer. It runs while the queue is non-empty,
// each time taking everything queued and writing it in one vectored
// write, and ends when the queue is empty or the connection fails.
func (hc *hubConn) drain() {
	h := hc.hub
	defer h.work.Done()
	var batch []*hubFrame
	for {
		hc.mu.Lock()
		if batch != nil && cap(batch) <= hubKeepCap {
			hc.spare = batch[:0]
		}
		if len(hc.q) == 0 {
			hc.writing = false
			hc.signalDrained()
			hc.mu.Unlock()
			return
		}
		batch, hc.q, hc.spare, hc.qBytes = hc.q, hc.spare, nil, 0
		hc.mu.Unlock()

		err := hc.write(batch)
		if err == nil {
			// Counted before the waiters are released, so a
			// BroadcastWait that returns sees its message counted.
			h.deliveries.Add(uint64(len(batch)))
		}
		for i, f := range batch {
			f.finished(true)
			batch[i] = nil
		}
		if err != nil {
			// The connection failed or was closed and takes nothing
			// more; its OnClose callback removes it from the hub.
			hc.mu.Lock()
			rest := hc.q
			hc.q, hc.qBytes, hc.gone, hc.writing = nil, 0, true, false
			hc.signalDrained()
			hc.mu.Unlock()
			for _, f := range rest {
				f.finished(true)
			}
			return
		}
	}
}

// signalDrained wakes a Stop waiting for the writer; hc.mu is held.
func (hc *hubConn) signalDrained() {
	if hc.drained != nil {
		close(hc.drained)
		hc.drained = nil
	}
}

// closeFlushed stops new messages for hc, gives its writer up to the
// connection's CloseTimeout to send what is queued, and closes the
// connection with code and reason.
func (hc *hubConn) closeFlushed(code StatusCode, reason string) {
	hc.mu.Lock()
	hc.gone = true
	var wait chan struct{}
	if hc.writing {
		wait = make(chan struct{})
		hc.drained = wait
	}
	hc.mu.Unlock()
	if wait != nil {
		t := time.NewTimer(hc.c.set.closeTimeout)
		select {
		case <-wait:
		case <-t.C:
		}
		t.Stop()
	}
	closeConn(hc.c, code, reason)
}

// write sends a batch: a server connection takes the encoded frames in
// one vectored write; a client connection, whose frames must be masked,
// sends each payload as a message.
func (hc *hubConn) write(batch []*hubFrame) error {
	if hc.c.client {
		for _, f := range batch {
			if err := hc.c.WriteMessage(f.mt, f.b[f.hdr:]); err != nil {
				return err
			}
		}
		return nil
	}
	bufs := hc.bufs[:0]
	for _, f := range batch {
		bufs = append(bufs, f.forConn(hc.c))
	}
	err := hc.c.writeFrames(bufs)
	clear(bufs)
	if cap(bufs) <= hubKeepCap {
		hc.bufs = bufs[:0]
	} else {
		hc.bufs = nil
	}
	return err
}
