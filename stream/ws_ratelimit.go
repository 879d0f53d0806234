package stream

import (
	"math"
	"strconv"
	"time"
)

// RatePolicy says what a connection does with a message that arrives
// over its RateLimit.
type RatePolicy int

const (
	// RateClose fails the connection with 1008 Policy Violation as soon
	// as the header of a message over the limit arrives.
	RateClose RatePolicy = iota
	// RateDrop reads the message over the limit and discards it: the
	// application never sees it and the connection stays open.
	RateDrop
)

// String returns the policy's name.
func (p RatePolicy) String() string {
	switch p {
	case RateClose:
		return "close"
	case RateDrop:
		return "drop"
	}
	return "RatePolicy(" + strconv.Itoa(int(p)) + ")"
}

// RateLimit bounds how fast the peer of a server connection may send
// data messages, as a token bucket: Burst messages may arrive back to
// back, after which they are let through at Messages per second. Control
// frames are not counted; pings are bounded separately (see
// WebSocketStats.PongsSkipped). The zero RateLimit limits nothing.
type RateLimit struct {
	// Messages is the sustained rate in messages per second; 0 or less
	// means no limit.
	Messages float64
	// Burst is the bucket's size; 0 means Messages rounded up (at
	// least 1).
	Burst int
	// Policy applies to each message over the limit; the zero value is
	// RateClose.
	Policy RatePolicy
}

// rateBucket is a connection's token bucket; only the reader touches it.
type rateBucket struct {
	perNano float64 // tokens added per nanosecond
	burst   float64
	tokens  float64
	last    int64 // WebSocketConn.now() of the last refill
	policy  RatePolicy
}

// newRateBucket returns the bucket for l, or nil when l limits nothing.
// The bucket starts full.
func newRateBucket(l RateLimit) *rateBucket {
	if !(l.Messages > 0) || math.IsInf(l.Messages, 1) {
		return nil
	}
	burst := float64(l.Burst)
	if l.Burst <= 0 {
		burst = max(1, math.Ceil(l.Messages))
	}
	return &rateBucket{
		perNano: l.Messages / float64(time.Second),
		burst:   burst,
		tokens:  burst,
		policy:  l.Policy,
	}
}

// take refills the bucket for the time since the last call and takes a
// token, reporting whether there was one.
func (b *rateBucket) take(now int64) bool {
	b.tokens = min(b.burst, b.tokens+float64(now-b.last)*b.perNano)
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// beginAdmitted is beginMessage for the application's reads: a message
// over the connection's RateLimit fails the connection or, under
// RateDrop, is discarded and the next one awaited. The reader holds
// readMu.
func (c *WebSocketConn) beginAdmitted() error {
	for {
		if err := c.beginMessage(); err != nil {
			return err
		}
		if c.rate == nil || c.rate.take(c.now()) {
			return nil
		}
		c.rateLimited.Add(1)
		if c.rate.policy != RateDrop {
			return c.fail(StatusPolicyViolation, "message rate limit exceeded")
		}
		// The message stays current; the next beginMessage discards it.
	}
}

// pingFollows reports whether the bytes already buffered after a ping
// start another ping frame, whose pong will answer for both. RFC 6455
// §5.5.3: "If an endpoint receives a Ping frame and has not yet sent
// Pong frame(s) in response to previous Ping frame(s), the endpoint MAY
// elect to send a Pong frame for only the most recently processed Ping
// frame." A peer that floods pings thus gets one pong per read of the
// transport rather than one per ping. It never reads the transport.
func (c *WebSocketConn) pingFollows() bool {
	if c.r.Buffered() < 2 {
		return false
	}
	b, err := c.r.Peek(2)
	// FIN set, no reserved bits, opcode ping (§5.2).
	if err != nil || b[0] != 0x89 {
		return false
	}
	c.pongsSkipped.Add(1)
	return true
}
