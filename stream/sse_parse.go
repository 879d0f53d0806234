package stream

import (
	"bytes"
	"errors"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// Default limits of an EventReader; see SetLimits.
const (
	// DefaultMaxEventLine is the default bound, in bytes, on one line of an
	// event stream.
	DefaultMaxEventLine = 1 << 20
	// DefaultMaxEventData is the default bound, in bytes, on the data of one
	// event.
	DefaultMaxEventData = 4 << 20
)

// Errors an EventReader returns when a stream exceeds its limits. The
// stream cannot be resynchronised after either, so every later Next
// returns the same error.
var (
	// ErrLineTooLong reports a line longer than the reader's line limit.
	ErrLineTooLong = errors.New("stream: sse read: line too long")
	// ErrEventTooLarge reports an event whose data exceeds the reader's
	// data limit.
	ErrEventTooLarge = errors.New("stream: sse read: event data too large")
)

// initialReadSize is the size of an EventReader's first read buffer; it
// grows, up to the line limit, only for a line that does not fit.
const initialReadSize = 8 << 10

// maxRetryMillis is the largest retry field value that fits a
// time.Duration; larger values saturate.
const maxRetryMillis = math.MaxInt64 / int64(time.Millisecond)

// EventReader parses a text/event-stream exactly as the WHATWG HTML
// standard ("Server-sent events", "Parsing an event stream") prescribes
// for browsers:
//
//   - the stream is decoded as UTF-8, with one leading byte order mark
//     stripped and every invalid sequence replaced by U+FFFD, as the UTF-8
//     decoder of the Encoding standard does;
//   - CRLF, LF and a lone CR each end a line, also when a CR ends one read
//     and the LF begins the next;
//   - a line that starts with a colon is a comment; a line without a colon
//     is a field with an empty value; one space after the colon is removed;
//   - "event" sets the event type, "data" appends its value and an LF to
//     the data buffer, "id" sets the last event ID unless the value holds
//     NUL, "retry" sets the reconnection time if the value is ASCII digits
//     only; other fields are ignored;
//   - a blank line dispatches the event: the last event ID is committed
//     even when no event follows; an empty data buffer dispatches nothing;
//     otherwise the final LF of the data is removed and the event is
//     returned with the type "message" unless an event field named another;
//   - at the end of the stream an unfinished event is discarded.
//
// The event type maps onto Event.Type: "message" to Message, "error" to
// Error, "done" to Done and any other name to Custom with Event.Name set.
// Event.ID is the last event ID in force when the event was dispatched
// (empty after the server reset it); Event.Retry is always zero, the
// reconnection time being a property of the stream (see Retry).
//
// Memory is bounded: a line longer than the line limit fails with
// ErrLineTooLong and an event whose data exceeds the data limit fails with
// ErrEventTooLarge, whatever the source sends (see SetLimits).
//
// An EventReader is not safe for concurrent use.
type EventReader struct {
	src io.Reader

	buf    []byte // read window; buf[r:w] holds unparsed bytes
	r, w   int
	scan   int   // bytes of buf[r:w] known to hold no CR or LF
	rerr   error // error from src, returned once buf is drained
	err    error // sticky error returned by Next
	skipLF bool  // the last line ended in CR at the end of the window
	bomOK  bool  // a leading byte order mark has been stripped or ruled out

	maxLine, maxData int

	data     []byte // data buffer, each line followed by LF
	typ      []byte // event type buffer
	id       []byte // last event ID buffer
	lastID   string // last event ID string, committed at dispatch
	name     string // last Custom name, reused while it repeats
	retry    time.Duration
	retrySet bool
}

// NewEventReader returns an EventReader that parses the event stream read
// from r, with the default limits.
func NewEventReader(r io.Reader) *EventReader {
	return &EventReader{src: r, maxLine: DefaultMaxEventLine, maxData: DefaultMaxEventData}
}

// SetLimits bounds one line to maxLine bytes, not counting its end, and
// the data of one event to maxData bytes. A value of zero or less keeps
// the default (DefaultMaxEventLine, DefaultMaxEventData). Call it before
// the first Next.
func (r *EventReader) SetLimits(maxLine, maxData int) {
	if maxLine <= 0 {
		maxLine = DefaultMaxEventLine
	}
	if maxData <= 0 {
		maxData = DefaultMaxEventData
	}
	maxLine = min(maxLine, math.MaxInt-1) // the window holds maxLine+1 bytes
	r.maxLine, r.maxData = maxLine, maxData
}

// LastEventID returns the last event ID string: the value of the latest
// "id" field that was followed by a blank line, or "" if none was (or the
// server reset it with an empty "id" field). A client sends it as
// Last-Event-ID when it reconnects.
func (r *EventReader) LastEventID() string { return r.lastID }

// Retry returns the reconnection time most recently set by a "retry"
// field, or zero if the stream has set none. Values too large for a
// time.Duration saturate.
func (r *EventReader) Retry() time.Duration { return r.retry }

// Next reads until the next event is dispatched and returns it. At the end
// of the stream it returns io.EOF, discarding any unfinished event; errors
// from the underlying reader are returned as they are. After an error,
// every later call returns it again. Events already complete in the bytes
// read so far are returned before any error.
func (r *EventReader) Next() (Event, error) {
	if r.err != nil {
		return Event{}, r.err
	}
	for {
		line, err := r.readLine()
		if err != nil {
			r.err = err
			r.data, r.typ = r.data[:0], r.typ[:0]
			return Event{}, err
		}
		if len(line) == 0 {
			if e, ok := r.dispatch(); ok {
				return e, nil
			}
			continue
		}
		if err := r.field(line); err != nil {
			r.err = err
			r.data, r.typ = r.data[:0], r.typ[:0]
			return Event{}, err
		}
	}
}

// field processes one non-empty line.
func (r *EventReader) field(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	name, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	// Field names are ASCII, so comparing the undecoded bytes is the same
	// as comparing the decoded text: an invalid sequence decodes to U+FFFD
	// and matches no name.
	switch string(name) {
	case "data":
		// Each byte decodes to at least one byte, so this check is exact
		// for valid UTF-8 and stops growth before decoding otherwise.
		if len(r.data)+len(value) > r.maxData {
			return ErrEventTooLarge
		}
		r.data = appendUTF8(r.data, value)
		if len(r.data) > r.maxData {
			return ErrEventTooLarge
		}
		r.data = append(r.data, '\n')
	case "event":
		r.typ = appendUTF8(r.typ[:0], value)
	case "id":
		// WHATWG: "If the field value does not contain U+0000 NULL, then
		// set the last event ID buffer to the field value. Otherwise,
		// ignore the field." U+0000 decodes only from a 0x00 byte.
		if bytes.IndexByte(value, 0) < 0 {
			r.id = appendUTF8(r.id[:0], value)
		}
	case "retry":
		// WHATWG: "If the field value consists of only ASCII digits, then
		// interpret the field value as an integer in base ten, and set the
		// event stream's reconnection time to that integer. Otherwise,
		// ignore the field." An empty value is ignored, as browsers do.
		if d, ok := parseRetry(value); ok {
			r.retry, r.retrySet = d, true
		}
	}
	return nil
}

// dispatch carries out the standard's "dispatch the event" steps and
// reports whether an event results.
func (r *EventReader) dispatch() (Event, bool) {
	// Step 1: the last event ID string takes the buffer's value; the
	// buffer itself is kept for later events.
	if string(r.id) != r.lastID {
		r.lastID = string(r.id)
	}
	// Step 2: no data, no event; the buffers are reset.
	if len(r.data) == 0 {
		r.typ = r.typ[:0]
		return Event{}, false
	}
	// Step 3: the data ends in the LF appended after its last line.
	e := Event{Data: string(r.data[:len(r.data)-1]), ID: r.lastID}
	switch string(r.typ) {
	case "", "message":
		e.Type = Message
	case "error":
		e.Type = Error
	case "done":
		e.Type = Done
	default:
		if string(r.typ) != r.name {
			r.name = string(r.typ)
		}
		e.Type, e.Name = Custom, r.name
	}
	r.data, r.typ = r.data[:0], r.typ[:0]
	return e, true
}

// readLine returns the next line, without its end, as a slice of the read
// window that stays valid until the following call.
func (r *EventReader) readLine() ([]byte, error) {
	for {
		if !r.bomOK {
			// The UTF-8 decoder strips one leading byte order mark. Wait
			// while the stream so far could still be one.
			b := r.buf[r.r:r.w]
			if len(b) < len(utf8BOM) && bytes.HasPrefix(utf8BOM, b) && r.rerr == nil {
				r.fill()
				continue
			}
			if bytes.HasPrefix(b, utf8BOM) {
				r.r += len(utf8BOM)
			}
			r.bomOK = true
		}
		if r.skipLF && r.r < r.w {
			// The previous line ended in a CR that was the last byte read:
			// an LF now completes that CRLF rather than ending a line.
			if r.buf[r.r] == '\n' {
				r.r++
			}
			r.skipLF = false
		}
		if b := r.buf[r.r:r.w]; len(b) > r.scan {
			if line, ok := r.cutLine(b); ok {
				if len(line) > r.maxLine {
					return nil, ErrLineTooLong
				}
				return line, nil
			}
			r.scan = len(b)
			if len(b) > r.maxLine {
				return nil, ErrLineTooLong
			}
		}
		if r.rerr != nil {
			return nil, r.rerr
		}
		r.fill()
	}
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// cutLine finds the first line end in b, whose first r.scan bytes are
// known to hold none, and consumes the line and its end.
func (r *EventReader) cutLine(b []byte) ([]byte, bool) {
	rest := b[r.scan:]
	i := bytes.IndexByte(rest, '\n')
	var j int
	if i >= 0 {
		j = bytes.IndexByte(rest[:i], '\r')
	} else {
		j = bytes.IndexByte(rest, '\r')
	}
	if j >= 0 {
		j += r.scan
		switch {
		case j+1 == len(b):
			r.skipLF = true
			r.r += j + 1
		case b[j+1] == '\n':
			r.r += j + 2
		default:
			r.r += j + 1
		}
		r.scan = 0
		return b[:j], true
	}
	if i >= 0 {
		i += r.scan
		r.r += i + 1
		r.scan = 0
		return b[:i], true
	}
	return nil, false
}

// fill reads more bytes into the window, first moving the unparsed bytes
// to its start and growing it, up to one byte more than the line limit,
// when they fill it.
func (r *EventReader) fill() {
	if r.r > 0 {
		r.w = copy(r.buf, r.buf[r.r:r.w])
		r.r = 0
	}
	if r.w == len(r.buf) {
		limit := r.maxLine + 1
		n := 2 * len(r.buf)
		if n == 0 {
			n = initialReadSize
		}
		if n > limit {
			n = limit
		}
		buf := make([]byte, n)
		copy(buf, r.buf[:r.w])
		r.buf = buf
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.w:])
		if n < 0 || n > len(r.buf)-r.w {
			r.rerr = errors.New("stream: sse read: invalid count from Read")
			return
		}
		r.w += n
		if err != nil {
			r.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	r.rerr = io.ErrNoProgress
}

// parseRetry interprets a retry field value: ASCII digits only, at least
// one, as milliseconds.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms <= maxRetryMillis {
			ms = ms*10 + int64(c-'0')
		}
	}
	if ms > maxRetryMillis {
		return math.MaxInt64, true
	}
	return time.Duration(ms) * time.Millisecond, true
}

// appendUTF8 appends src to dst decoded as the Encoding standard's UTF-8
// decoder does: valid sequences are copied and each maximal prefix of a
// valid sequence that is cut short, and each byte that cannot start one,
// becomes one U+FFFD. (Go's own decoding yields one U+FFFD per byte of a
// truncated sequence instead, which browsers do not.)
func appendUTF8(dst, src []byte) []byte {
	if utf8.Valid(src) {
		return append(dst, src...)
	}
	for i := 0; i < len(src); {
		c := src[i]
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		need, lo, hi := 0, byte(0x80), byte(0xBF)
		switch {
		case c >= 0xC2 && c <= 0xDF:
			need = 1
		case c >= 0xE0 && c <= 0xEF:
			need = 2
			if c == 0xE0 {
				lo = 0xA0
			} else if c == 0xED {
				hi = 0x9F
			}
		case c >= 0xF0 && c <= 0xF4:
			need = 3
			if c == 0xF0 {
				lo = 0x90
			} else if c == 0xF4 {
				hi = 0x8F
			}
		default:
			dst = utf8.AppendRune(dst, utf8.RuneError)
			i++
			continue
		}
		j := i + 1
		for ; need > 0; need-- {
			if j >= len(src) || src[j] < lo || src[j] > hi {
				break
			}
			lo, hi = 0x80, 0xBF
			j++
		}
		if need == 0 {
			dst = append(dst, src[i:j]...)
		} else {
			// The byte that broke the sequence is decoded afresh.
			dst = utf8.AppendRune(dst, utf8.RuneError)
		}
		i = j
	}
	return dst
}
