package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"time"

	"github.com/stdrealtime/realtime/internal/wsframe"
)

var errPongTimeout = errors.New("keepalive: no pong within PongTimeout")

// keepalive runs on the connection's timer: after ReadIdleTimeout with
// nothing received it sends a ping, and if no pong follows within
// PongTimeout it closes the connection. Reads only store a timestamp; the
// timer re-arms itself for the time that remains, so there is no
// goroutine or ticker per connection.
func (c *WebSocketConn) keepalive() {
	if c.isClosed() {
		return
	}
	now := c.now()
	if c.kaAwaiting.Load() {
		if c.lastPong.Load() < c.kaPingAt.Load() {
			if c.frameMu.TryLock() {
				// Best effort; a blocked writer must not hold up the close.
				c.frameMu.Unlock()
				c.sendClose(StatusGoingAway, "keepalive timeout")
			}
			c.teardown(&CloseError{Code: StatusAbnormalClosure, Err: errPongTimeout})
			return
		}
		c.kaAwaiting.Store(false)
	}
	if idle := time.Duration(now - c.lastRead.Load()); idle < c.set.idle {
		c.timer.Reset(c.set.idle - idle)
		return
	}
	c.kaPingAt.Store(now)
	c.kaAwaiting.Store(true)
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], c.pingSeq.Add(1))
	c.writeControl(wsframe.OpPing, p[:])
	c.timer.Reset(c.set.pongTimeout)
}

// gotPong records a pong and hands it to the Ping call waiting for it.
func (c *WebSocketConn) gotPong(p []byte) {
	now := c.now()
	c.lastPong.Store(now)
	if len(p) != 8 {
		return
	}
	seq := binary.BigEndian.Uint64(p)
	c.pingMu.Lock()
	ch := c.pings[seq]
	delete(c.pings, seq)
	c.pingMu.Unlock()
	if ch != nil {
		ch <- now
	}
}

// Ping sends a ping and waits for the matching pong, returning the
// round-trip time, which Stats also reports as LastRTT. It needs a
// goroutine reading the connection, since pongs are handled by the
// reader. Safe from any goroutine.
func (c *WebSocketConn) Ping(ctx context.Context) (time.Duration, error) {
	seq := c.pingSeq.Add(1)
	ch := make(chan int64, 1)
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[uint64]chan int64)
	}
	c.pings[seq] = ch
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, seq)
		c.pingMu.Unlock()
	}()
	var p [8]byte
	binary.BigEndian.PutUint64(p[:], seq)
	start := c.now()
	if err := c.writeControl(wsframe.OpPing, p[:]); err != nil {
		return 0, err
	}
	select {
	case at := <-ch:
		rtt := time.Duration(at - start)
		c.lastRTT.Store(int64(rtt))
		return rtt, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.closed:
		if err := c.closedErr(); err != nil {
			return 0, err
		}
		return 0, ErrClosed
	}
}
