package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on what a subscriber may ask for.
const (
	maxSSESubscriberIDLen = 64
	maxSSEFilterNames     = 16
	maxSSEFilterNameLen   = 128
	// A write buffer that grew past this is released after use rather
	// than kept for other writes.
	maxSSEKeptWriteBuf = 16 << 10
	// A queue whose backing array grew past this many events for a burst
	// gives it up once drained.
	maxSSEKeptQueue = 16
	// Replayed events are written in batches of about this size.
	sseReplayBatch = 32 << 10
	// Close gives writes in progress this long to finish, so that healthy
	// clients see their stream end cleanly.
	sseCloseGrace = 100 * time.Millisecond
)

var (
	errSSEBrokerClosed = errors.New("stream: sse subscribe: broker closed")
	errSSESlow         = fmt.Errorf("stream: sse subscribe: subscriber too slow, disconnected: %w", ErrClosed)
	sseHeartbeat       = []byte(":\n")
)

// sseSub is one subscriber. Publishers touch only the fields guarded by mu
// (and the channels); the rest belongs to the Subscribe goroutine.
type sseSub struct {
	b      *SSEBroker
	filter []string
	rc     *http.ResponseController
	w      http.ResponseWriter
	idx    int32 // position in b.subs, guarded by b.mu; -1 once removed
	limit  int32

	wake chan struct{} // the queue became non-empty, kicked, or a heartbeat is due
	// For a subscriber that blocks (nil otherwise): room is signalled when
	// the writer took the queue while a publisher waited, done is closed
	// when the subscriber leaves.
	room chan struct{}
	done chan struct{}

	unseat func() // gives the Limiter's seat back

	mu      sync.Mutex
	q       sseQueue
	lost    int    // events dropped since the last gap event
	dropped uint64 // events dropped in all
	gateID  string // the resume ID a gate waits for
	gate    uint8  // sseGateOpen, sseGatePending or sseGateSkip
	kicked  bool
	gone    bool
	waiting bool

	// Writer state. Times are on the broker's clock (SSEBroker.now).
	block     bool
	deadlines bool // set write deadlines
	reset     bool // clear the deadline after each write
	gated     atomic.Bool
	beat      atomic.Bool  // the heartbeat timer fired
	deadline  lazyDeadline // when the deadline moves, when not reset
	lastWrite time.Duration
	delivered uint64
}

// accepts reports whether the subscriber's filter lets events named name
// through.
func (s *sseSub) accepts(name string) bool {
	if s.filter == nil {
		return true
	}
	for _, f := range s.filter {
		if f == name {
			return true
		}
	}
	return false
}

func (s *sseSub) isKicked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kicked
}

// signal wakes the writer.
func (s *sseSub) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dropOldestLocked drops the oldest queued event; s.mu is held and the
// queue is full.
func (s *sseSub) dropOldestLocked() {
	s.q.dropOldest()
	s.lost++
	s.dropped++
}

// interrupt moves the deadline of a write in progress to deadline, for
// Close and DisconnectSlow.
func (s *sseSub) interrupt(deadline time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.gone {
		// Best effort; the writer also checks for Close before each write.
		_ = s.rc.SetWriteDeadline(deadline)
	}
}

// ServeHTTP serves GET requests with Subscribe and answers other methods
// 405.
func (b *SSEBroker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "stream: sse subscribe: method not allowed", http.StatusMethodNotAllowed)
		return
	}
	_ = b.Subscribe(w, r)
}

// Subscribe streams the broker's events to the client of r until the client
// leaves, the broker is closed, or the subscriber is disconnected by its
// policy or a failed write. It blocks; call it from an HTTP handler (after
// authenticating the client, setting CORS headers and so on).
//
// It returns nil when the client left or the broker was closed. It returns
// an error after answering 400 to malformed options, after turning the
// client away (over MaxSubscribers or the Limiter, or broker closed: the
// latter wraps ErrClosed), and when it cut the stream off (too slow, or a
// write failed or timed out: these wrap ErrClosed). Where the response cannot be
// streamed, the error wraps http.ErrNotSupported.
func (b *SSEBroker) Subscribe(w http.ResponseWriter, r *http.Request) error {
	// The stream spends its life parked in s.serve; what runs only at its
	// start and end is kept in functions that have returned by then, so
	// that the goroutine's stack, which the runtime shrinks to fit what is
	// in use, stays small.
	var joined time.Time // for the log
	if b.log != nil {
		joined = time.Now()
	}
	s, err := b.join(w, r)
	if s == nil {
		return err
	}
	if err == nil {
		err = s.serve(r.Context())
	}
	return b.finish(s, r, err, joined)
}

// join parses the options of r, seats the subscriber and writes what its
// stream starts with. A nil sseSub means the client was not seated, and
// the error says why; otherwise the subscriber is registered, the error is
// that of its first write, and finish must be called.
//
//go:noinline
func (b *SSEBroker) join(w http.ResponseWriter, r *http.Request) (*sseSub, error) {
	s := &sseSub{
		b:         b,
		rc:        http.NewResponseController(w),
		w:         w,
		wake:      make(chan struct{}, 1),
		deadlines: b.writeTimeout > 0,
		// On HTTP/2 an expired deadline resets the stream even while it is
		// idle, so it is cleared after each write. An HTTP/1 connection's
		// deadline only matters while writing and can be moved at will.
		reset: r.ProtoMajor != 1,
	}
	if err := b.parseSubscribeOptions(s, r); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, err
	}
	if s.block {
		// Only publishers waiting for this subscriber use them.
		s.room = make(chan struct{}, 1)
		s.done = make(chan struct{})
	}
	var lastID string
	if b.replay.limit > 0 {
		lastID = LastEventID(r)
	}
	if lastID != "" && !b.waitRelayReady(r.Context()) {
		return nil, nil
	}

	release, ok := b.limiter.Acquire(r)
	if !ok {
		return nil, b.turnAway(s, r, false, true)
	}

	b.mu.Lock()
	if b.closed || (b.maxSubs > 0 && len(b.subs) >= b.maxSubs) {
		closed := b.closed
		b.mu.Unlock()
		err := b.turnAway(s, r, closed, false)
		release()
		return nil, err
	}
	res := b.resumeLocked(lastID, s)
	s.idx = int32(len(b.subs))
	b.subs = append(b.subs, s)
	b.wg.Add(1)
	b.mu.Unlock()
	b.nsubs.Add(1)
	s.unseat = release
	return s, s.start(r, res)
}

// finish removes s from the broker once its stream, which started at
// joined, has ended with err, and returns what Subscribe returns.
//
//go:noinline
func (b *SSEBroker) finish(s *sseSub, r *http.Request, err error, joined time.Time) error {
	reason := "client left"
	level := slog.LevelDebug
	switch {
	case err == nil:
	case err == errSSEBrokerClosed || b.isClosed():
		err, reason = nil, "broker closed"
		if s.deadlines {
			// Bound the final write net/http makes after we return.
			_ = s.rc.SetWriteDeadline(time.Now().Add(b.writeTimeout))
		}
	case err == errSSESlow || s.isKicked():
		err, reason, level = errSSESlow, "too slow", slog.LevelInfo
	case errors.Is(err, os.ErrDeadlineExceeded):
		reason, level = "write timed out", slog.LevelInfo
		b.disconnected.Add(1)
	case r.Context().Err() != nil:
		// net/http cancels the context when the client goes away, and
		// when a write fails; a timeout was told apart above.
		err = nil
	case errors.Is(err, http.ErrNotSupported):
		reason, level = "cannot stream", slog.LevelError
	default:
		reason, level = "write failed", slog.LevelInfo
		b.disconnected.Add(1)
	}
	if err != nil {
		// Abandon the connection: net/http's final write fails at once
		// instead of waiting on a client that does not read.
		_ = s.rc.SetWriteDeadline(time.Now())
	}
	b.leave(s)
	s.unseat()
	if b.log != nil {
		b.log.LogAttrs(r.Context(), level, "sse subscriber left",
			slog.String("subscriber", subscriberID(r)), slog.String("reason", reason),
			slog.Uint64("delivered", s.delivered), slog.Uint64("dropped", s.dropped),
			slog.Duration("duration", time.Since(joined)))
	}
	return err
}

// sseResume is what a new subscriber is sent before live events.
type sseResume struct {
	seq     uint64     // the broker's last seq when the subscriber joined
	replay  []sseEntry // events to send first
	resumed bool       // Last-Event-ID was found
	gap     bool       // Last-Event-ID was not found
	missed  int64      // events the gap lost, or -1 when unknown
	// newestID is the publisher's own ID of the newest event, when it
	// has one. A subscriber is given it as its starting ID rather than
	// the broker's "<epoch>-<seq>": a publisher that keeps its IDs across
	// restarts can then resume the subscriber after one.
	newestID string
	// noStartID: the subscriber is given no starting ID (an ordered
	// relay's position is not known yet).
	noStartID bool
	// relay: catch up from an ordered relay's log, after relayAfter
	// through relayThrough, then send replay (provisional events).
	relay        bool
	relayAfter   string
	relayThrough string
	relayHeld    provisionalHeld // events the client has beyond relayAfter
}

// startID returns the ID a subscriber is given to resume from: the newest
// event's own ID, else the broker's ID for res.seq.
func (b *SSEBroker) startID(dst []byte, res sseResume) []byte {
	if res.newestID != "" {
		return append(dst, res.newestID...)
	}
	return appendSSEID(dst, b.epoch, res.seq)
}

// resumeLocked decides, with b.mu held, where a subscriber that sent
// lastID starts. Under the same lock the subscriber joins b.subs, so every
// event is either in the replay it gets or in its queue, never both.
func (b *SSEBroker) resumeLocked(lastID string, s *sseSub) sseResume {
	res := sseResume{seq: b.seq, newestID: b.replay.newestUserID(b.seq)}
	b.relayStartLocked(&res)
	if b.replay.limit == 0 || lastID == "" {
		return res
	}
	seq, ok := parseSSEID(lastID, b.epoch)
	if ok && seq > b.seq {
		ok = false // never published by this broker
	} else if ok && seq+1 < b.replay.oldest() {
		res.gap, res.missed = true, int64(b.seq-seq)
		b.resumeGaps.Add(1)
		return res
	}
	if !ok {
		seq, ok = b.replay.findUserID(lastID)
	}
	if !ok && b.rel != nil && b.rel.ordered != nil {
		return b.relayResumeLocked(lastID, s, res)
	}
	if !ok {
		res.gap, res.missed = true, -1
		b.resumeGaps.Add(1)
		return res
	}
	accept := s.accepts
	if s.filter == nil {
		accept = nil
	}
	res.replay = b.replay.after(seq, accept)
	res.resumed = true
	b.resumed.Add(1)
	return res
}

func (b *SSEBroker) isClosed() bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// leave removes s from the broker; publishers waiting for it stop.
func (b *SSEBroker) leave(s *sseSub) {
	b.mu.Lock()
	if i := s.idx; i >= 0 {
		last := int32(len(b.subs) - 1)
		b.subs[i] = b.subs[last]
		b.subs[i].idx = i
		b.subs[last] = nil
		b.subs = b.subs[:last]
		s.idx = -1
	}
	b.mu.Unlock()
	s.mu.Lock()
	s.gone = true
	s.q.reset()
	s.mu.Unlock()
	if s.done != nil {
		close(s.done)
	}
	b.nsubs.Add(-1)
	b.wg.Done()
}

// turnAway answers a client the broker has no seat for: 200, a jittered
// retry and the end of the stream, so that a browser comes back later.
func (b *SSEBroker) turnAway(s *sseSub, r *http.Request, closed, limited bool) error {
	b.shed.Add(1)
	retry := b.shedRetry/2 + rand.N(b.shedRetry)
	setSSEHeaders(s.w.Header())
	s.w.WriteHeader(http.StatusOK)
	comment := "busy"
	if closed {
		comment = "closed"
	}
	buf := append(appendRetry(appendComment(nil, comment), retry), '\n')
	err := s.writeOut(buf, false)
	if s.deadlines {
		// The connection may serve other requests after this one.
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
	if err == nil && closed {
		err = fmt.Errorf("stream: sse subscribe: %w", ErrClosed)
	} else if err == nil && limited {
		err = fmt.Errorf("stream: sse subscribe: connection limit reached, client told to retry in %v", retry.Round(time.Millisecond))
	} else if err == nil {
		err = fmt.Errorf("stream: sse subscribe: over %d subscribers, client told to retry in %v", b.maxSubs, retry.Round(time.Millisecond))
	}
	if b.log != nil {
		b.log.LogAttrs(r.Context(), slog.LevelInfo, "sse subscriber turned away",
			slog.String("subscriber", subscriberID(r)), slog.Bool("closed", closed), slog.Duration("retry", retry))
	}
	return err
}

// start writes the headers and what res says to send first.
func (s *sseSub) start(r *http.Request, res sseResume) error {
	b := s.b
	setSSEHeaders(s.w.Header())
	s.w.WriteHeader(http.StatusOK)
	if b.log != nil {
		b.log.LogAttrs(r.Context(), slog.LevelDebug, "sse subscriber joined",
			slog.String("subscriber", subscriberID(r)), slog.Int("buffer", int(s.limit)), slog.Bool("block", s.block),
			slog.Bool("resumed", res.resumed), slog.Bool("gap", res.gap))
	}

	wb := getSSEWriteBuf()
	defer putSSEWriteBuf(wb)
	buf := (*wb)[:0]
	switch {
	case res.relay:
		// The headers go first: catching up waits for the relay, which
		// may be down, and the client should know it is connected.
		if err := s.write(nil); err != nil {
			return err
		}
		return s.relayCatchUp(r.Context(), res)
	case res.gap:
		buf = b.appendGap(buf, res.missed, "resume", true, res)
	case b.replay.limit > 0:
		var lastSeq uint64
		lastOwn := false // the last event replayed has its publisher's ID
		for _, e := range res.replay {
			var err error
			if buf, err = s.appendBatched(buf, e.b); err != nil {
				return err
			}
			lastSeq, lastOwn = e.seq, e.id != ""
		}
		s.delivered += uint64(len(res.replay))
		b.delivered.Add(uint64(len(res.replay)))
		if !res.noStartID && (len(res.replay) == 0 || lastSeq != res.seq || lastOwn && res.newestID == "") {
			// An id-only block sets the client's Last-Event-ID without
			// dispatching an event, so that it resumes from here even if
			// it leaves before the next event. A client that was just
			// replayed the newest event already holds its ID.
			buf = append(b.startID(append(buf, "id: "...), res), '\n', '\n')
		}
	}
	*wb = buf
	return s.write(buf)
}

// appendBatched appends p to buf, writing buf out first once it holds
// sseReplayBatch bytes, so that a long replay goes out in batches.
func (s *sseSub) appendBatched(buf, p []byte) ([]byte, error) {
	if len(buf) >= sseReplayBatch {
		if err := s.write(buf); err != nil {
			return buf, err
		}
		buf = buf[:0]
	}
	return append(buf, p...), nil
}

// serve writes live events and heartbeats until the stream ends.
func (s *sseSub) serve(ctx context.Context) error {
	b := s.b
	// The heartbeat timer only raises a flag and wakes the loop: a timer
	// without a channel, and one channel fewer to wait on, keep an idle
	// subscriber small. For the same reason Close wakes the subscriber
	// rather than have it wait on b.done as well.
	var heartbeat *time.Timer
	if b.heartbeat > 0 {
		heartbeat = time.AfterFunc(b.heartbeat, s.heartbeatDue)
		defer heartbeat.Stop()
	}
	for {
		select {
		case <-s.wake:
			if b.isClosed() {
				return errSSEBrokerClosed
			}
			if err := s.flushQueue(); err != nil {
				return err
			}
			if heartbeat == nil || !s.beat.Swap(false) {
				continue
			}
			idle, err := s.heartbeatIfIdle()
			if err != nil {
				return err
			}
			heartbeat.Reset(b.heartbeat - idle)
		case <-ctx.Done():
			return nil
		}
	}
}

// heartbeatIfIdle writes a heartbeat if the stream has been silent for
// the heartbeat interval, releasing the idle subscriber's buffers first,
// and returns how long the stream has been silent since.
func (s *sseSub) heartbeatIfIdle() (time.Duration, error) {
	idle := s.b.now() - s.lastWrite
	if hb := s.b.heartbeat; hb <= 0 || idle < hb {
		return idle, nil
	}
	s.release()
	return 0, s.write(sseHeartbeat)
}

// heartbeatDue runs when the heartbeat timer fires.
func (s *sseSub) heartbeatDue() {
	s.beat.Store(true)
	s.signal()
}

// flushQueue writes everything queued, after a gap event if events were
// dropped, in one write and one flush.
func (s *sseSub) flushQueue() error {
	// The queue is copied out under the lock, which spares a second queue
	// to swap with it: copying a few kilobytes takes little longer.
	wb := getSSEWriteBuf()
	buf := (*wb)[:0]
	s.mu.Lock()
	if s.kicked {
		s.mu.Unlock()
		putSSEWriteBuf(wb)
		return errSSESlow
	}
	n := uint64(s.q.n)
	if s.lost > 0 && n > 0 {
		buf = s.b.appendGap(buf, int64(s.lost), "overflow", false, sseResume{})
	}
	s.lost = 0
	buf = s.q.appendTo(buf)
	if len(s.q.bufs) > maxSSEKeptQueue {
		s.q = sseQueue{} // a burst's: the next one grows its own
	}
	if s.waiting {
		s.waiting = false
		select {
		case s.room <- struct{}{}:
		default:
		}
	}
	s.mu.Unlock()

	var err error
	if n > 0 {
		err = s.write(buf)
	}
	*wb = buf
	putSSEWriteBuf(wb)
	if err != nil || n == 0 {
		return err
	}
	s.delivered += n
	s.b.delivered.Add(n)
	return nil
}

// write writes p and flushes it within the write timeout, unless the
// broker is closed.
func (s *sseSub) write(p []byte) error {
	return s.writeOut(p, true)
}

func (s *sseSub) writeOut(p []byte, stopOnClose bool) error {
	now := s.b.now()
	// Where the deadline survives between writes it moves lazily
	// (lazyDeadline), which saves most of the updates on a busy stream;
	// where it is cleared after each write, each write sets it.
	if wt := s.b.writeTimeout; s.deadlines && (s.reset || s.deadline.move(int64(now), wt)) {
		ahead := wt
		if !s.reset {
			ahead = s.deadline.ahead(wt)
		}
		if err := s.rc.SetWriteDeadline(time.Now().Add(ahead)); errors.Is(err, http.ErrNotSupported) {
			s.deadlines = false
		}
	}
	if stopOnClose {
		// Checked after setting the deadline: Close closes done before it
		// moves the deadline to now, so one of the two stops this write.
		select {
		case <-s.b.done:
			return errSSEBrokerClosed
		default:
		}
	}
	if len(p) > 0 {
		if _, err := s.w.Write(p); err != nil {
			return fmt.Errorf("stream: sse subscribe: write: %w: %w", ErrClosed, err)
		}
	}
	if err := s.rc.Flush(); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("stream: sse subscribe: response cannot be streamed: %w", err)
		}
		return fmt.Errorf("stream: sse subscribe: flush: %w: %w", ErrClosed, err)
	}
	if s.deadlines && s.reset {
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
	s.lastWrite = now
	return nil
}

// release frees the buffers of an idle subscriber; they grow again on
// demand.
func (s *sseSub) release() {
	s.mu.Lock()
	if s.q.n == 0 {
		s.q = sseQueue{}
	}
	s.mu.Unlock()
}

// sseWriteBufs holds the buffers subscribers assemble their writes in.
// A subscriber takes one only for the time of a write, so that an idle
// one holds none and a few serve them all.
var sseWriteBufs sync.Pool

func getSSEWriteBuf() *[]byte {
	if wb, ok := sseWriteBufs.Get().(*[]byte); ok {
		return wb
	}
	return new([]byte)
}

// putSSEWriteBuf keeps wb for other writes unless it grew large.
func putSSEWriteBuf(wb *[]byte) {
	if cap(*wb) > maxSSEKeptWriteBuf {
		return
	}
	*wb = (*wb)[:0]
	sseWriteBufs.Put(wb)
}

// appendGap appends a gap event. missed < 0 leaves the count out. With
// withID the event carries the starting ID of res (see startID), so that
// the client resumes from there.
func (b *SSEBroker) appendGap(dst []byte, missed int64, reason string, withID bool, res sseResume) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, b.gapName...)
	dst = append(dst, '\n')
	if withID && !res.noStartID {
		dst = append(b.startID(append(dst, "id: "...), res), '\n')
	}
	dst = append(dst, `data: {`...)
	if missed >= 0 {
		dst = append(dst, `"dropped":`...)
		dst = strconv.AppendInt(dst, missed, 10)
		dst = append(dst, ',')
	}
	dst = append(dst, `"reason":"`...)
	dst = append(dst, reason...)
	return append(dst, "\"}\n\n"...)
}

// The query parameters and headers of a subscriber's options. The headers
// are spelled in their canonical form, which Header.Get looks up without
// allocating.
const (
	sseBufParam   = "buffer"
	sseBufHeader  = "X-Sse-Buffer"
	sseSlowParam  = "slow"
	sseSlowHeader = "X-Sse-Slow"
	sseIDParam    = "subscriber_id"
	sseIDHeader   = "X-Subscriber-Id"
)

// sseParam returns the query parameter name of r (parsed as q), else its
// header.
func sseParam(q url.Values, r *http.Request, name, header string) string {
	if v := q.Get(name); v != "" {
		return v
	}
	return r.Header.Get(header)
}

// subscriberID returns the ID the client of r named itself with, for the
// log; parseSubscribeOptions has checked it. It is read again rather than
// kept, so that subscribers hold nothing for a log that may be off.
func subscriberID(r *http.Request) string {
	return sseParam(sseQuery(r), r, sseIDParam, sseIDHeader)
}

// sseQuery returns the query parameters of r; nil, without allocating,
// when it has none.
func sseQuery(r *http.Request) url.Values {
	if r.URL == nil || r.URL.RawQuery == "" {
		return nil
	}
	return r.URL.Query()
}

// parseSubscribeOptions reads the subscriber's options from r.
func (b *SSEBroker) parseSubscribeOptions(s *sseSub, r *http.Request) error {
	q := sseQuery(r)
	param := func(name, header string) string { return sseParam(q, r, name, header) }

	s.limit = int32(b.defBuf)
	if v := param(sseBufParam, sseBufHeader); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			var ne *strconv.NumError
			if !errors.As(err, &ne) || ne.Err != strconv.ErrRange {
				return fmt.Errorf("stream: sse subscribe: buffer %.32q is not a number", v)
			}
			n = b.maxBuf // out of int's range: clamped like any other value
			if strings.HasPrefix(strings.TrimSpace(v), "-") {
				n = 1
			}
		}
		s.limit = int32(min(max(n, 1), b.maxBuf))
	}

	switch v := param(sseSlowParam, sseSlowHeader); v {
	case "":
	case "block":
		if b.blockTimeout < 0 {
			return errors.New("stream: sse subscribe: slow=block is not allowed by this server")
		}
		s.block = true
	default:
		return fmt.Errorf("stream: sse subscribe: slow mode %.32q unknown (the only mode is \"block\")", v)
	}

	if v := param(sseIDParam, sseIDHeader); v != "" {
		if len(v) > maxSSESubscriberIDLen {
			return fmt.Errorf("stream: sse subscribe: subscriber_id longer than %d bytes", maxSSESubscriberIDLen)
		}
		for i := 0; i < len(v); i++ {
			if c := v[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:@-", c) >= 0) {
				return fmt.Errorf("stream: sse subscribe: subscriber_id %.32q has a character other than A-Z a-z 0-9 . _ : @ -", v)
			}
		}
	}

	for _, v := range q["event"] {
		for name := range strings.SplitSeq(v, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if len(name) > maxSSEFilterNameLen || name != cutField(name) {
				return fmt.Errorf("stream: sse subscribe: event name %.32q is too long or has a CR, LF or NUL", name)
			}
			if len(s.filter) == maxSSEFilterNames {
				return fmt.Errorf("stream: sse subscribe: more than %d event names", maxSSEFilterNames)
			}
			s.filter = append(s.filter, name)
		}
	}
	return nil
}
