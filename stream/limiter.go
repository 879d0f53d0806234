package stream

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLimiterRetryAfter is the Retry-After a Limiter sends when
// LimiterConfig.RetryAfter is 0.
const DefaultLimiterRetryAfter = 5 * time.Second

// LimiterConfig configures a Limiter. The zero value limits nothing.
type LimiterConfig struct {
	// MaxConns caps the connections held at once, all clients together;
	// 0 means no cap.
	MaxConns int
	// MaxPerIP caps the connections held at once by one client address,
	// as ClientIP names it; 0 means no cap.
	MaxPerIP int
	// RetryAfter is sent in the Retry-After header of a refused
	// WebSocket upgrade, rounded up to whole seconds; 0 means 5 s. An
	// SSEBroker's refusals use its ShedRetry instead, as an
	// EventSource follows "retry:", not Retry-After.
	RetryAfter time.Duration
	// ClientIP names the client of a request for MaxPerIP; nil means the
	// host part of r.RemoteAddr. Behind a reverse proxy every request
	// comes from the proxy: a ClientIP that reads X-Forwarded-For must
	// take the address the trusted proxy appended (the last one), and
	// only when r.RemoteAddr is that proxy, since clients can send any
	// X-Forwarded-For they like. It is called once per Acquire.
	ClientIP func(*http.Request) string
}

// Limiter caps the number of WebSocket connections and SSE subscribers a
// server holds at once, overall and per client address. Set it as
// WSConfig.Limiter and SSEBrokerConfig.Limiter (one Limiter may serve
// both, and any number of handlers), or call Acquire from a handler.
// All methods are safe for concurrent use.
type Limiter struct {
	set LimiterConfig

	mu    sync.Mutex
	total int
	perIP map[string]int // client address → connections held

	refusedTotal atomic.Uint64
	refusedIP    atomic.Uint64
}

// LimiterStats are a Limiter's counters.
type LimiterStats struct {
	// Active is the number of connections held now.
	Active int
	// Clients is the number of client addresses holding one.
	Clients int
	// RefusedTotal counts requests refused because MaxConns was reached,
	// RefusedPerIP those refused because their client held MaxPerIP.
	RefusedTotal uint64
	RefusedPerIP uint64
}

// NewLimiter returns a Limiter configured by cfg.
func NewLimiter(cfg LimiterConfig) *Limiter {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultLimiterRetryAfter
	}
	return &Limiter{set: cfg, perIP: make(map[string]int)}
}

// Acquire takes a seat for the client of r. When ok, release gives it
// back; release may be called any number of times, from any goroutine,
// and only the first call counts. When the server or the client is at its
// cap, ok is false and release is nil. A nil *Limiter grants every
// request.
func (l *Limiter) Acquire(r *http.Request) (release func(), ok bool) {
	if l == nil {
		return func() {}, true
	}
	ip := l.clientIP(r)
	l.mu.Lock()
	if l.set.MaxConns > 0 && l.total >= l.set.MaxConns {
		l.mu.Unlock()
		l.refusedTotal.Add(1)
		return nil, false
	}
	n := l.perIP[ip]
	if l.set.MaxPerIP > 0 && n >= l.set.MaxPerIP {
		l.mu.Unlock()
		l.refusedIP.Add(1)
		return nil, false
	}
	l.total++
	l.perIP[ip] = n + 1
	l.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { l.release(ip) }) }, true
}

func (l *Limiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip)
	}
}

// clientIP names r's client.
func (l *Limiter) clientIP(r *http.Request) string {
	if l.set.ClientIP != nil {
		return l.set.ClientIP(r)
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Stats returns a snapshot of the limiter's counters.
func (l *Limiter) Stats() LimiterStats {
	l.mu.Lock()
	active, clients := l.total, len(l.perIP)
	l.mu.Unlock()
	return LimiterStats{
		Active:       active,
		Clients:      clients,
		RefusedTotal: l.refusedTotal.Load(),
		RefusedPerIP: l.refusedIP.Load(),
	}
}

// retryAfter is the Retry-After header value, in whole seconds.
func (l *Limiter) retryAfter() string {
	s := (l.set.RetryAfter + time.Second - 1) / time.Second
	return strconv.FormatInt(int64(s), 10)
}
