package stream

import (
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// EventType selects the event line that Encode writes for an Event.
type EventType int

const (
	// Message writes no event line; browsers dispatch it as "message".
	Message EventType = iota
	// Error writes "event: error".
	Error
	// Done writes "event: done".
	Done
	// Custom writes "event: " followed by Event.Name.
	Custom
)

// String returns the event name that t writes, or "message" for Message
// and "custom" for Custom.
func (t EventType) String() string {
	switch t {
	case Message:
		return "message"
	case Error:
		return "error"
	case Done:
		return "done"
	case Custom:
		return "custom"
	}
	return "EventType(" + strconv.Itoa(int(t)) + ")"
}

// ResetID is an Event.ID (and SSEWriter.SetID argument) that writes an
// empty "id:" line, which resets the client's last event ID. Any ID that
// becomes empty once cut at its first CR, LF or NUL does the same.
const ResetID = "\x00"

// MaxLastEventIDLen caps the length in bytes of the value returned by
// LastEventID.
const MaxLastEventIDLen = 256

// Event is one Server-Sent Event.
//
// The zero Event encodes as a "message" event with empty data, which
// browsers still dispatch.
type Event struct {
	// Type selects the event line; Name is used when Type is Custom.
	Type EventType
	// Name is the event name for Custom events. It is cut at its first CR,
	// LF or NUL, so it can never forge another field. An empty name writes
	// no event line.
	Name string
	// Data is the payload. It may hold any text, including newlines (LF,
	// CRLF or lone CR, each delivered to the client as LF) and NUL.
	Data string
	// ID, when not empty, is written as the event's "id:" line, cut at its
	// first CR, LF or NUL. See ResetID.
	ID string
	// Retry, when positive, asks the client to wait this long before it
	// reconnects ("retry:" in whole milliseconds, at least 1).
	Retry time.Duration
}

// Encode returns the wire form of e: its fields, one "data:" line per line
// of e.Data, and the blank line that ends the event.
//
// Whatever e holds, a conformant event-stream parser reads exactly one event
// from the result: its data equals e.Data with CRLF and lone CR turned into
// LF, and its type and last event ID are the values written after cutting
// at the first CR, LF or NUL.
func Encode(e Event) string {
	return string(AppendEvent(make([]byte, 0, encodedLenHint(e)), e))
}

// AppendEvent appends the wire form of e (see Encode) to dst and returns
// the extended slice. It allocates only when dst lacks capacity.
func AppendEvent(dst []byte, e Event) []byte {
	switch e.Type {
	case Error:
		dst = append(dst, "event: error\n"...)
	case Done:
		dst = append(dst, "event: done\n"...)
	case Custom:
		if name := cutField(e.Name); name != "" {
			dst = append(dst, "event: "...)
			dst = append(dst, name...)
			dst = append(dst, '\n')
		}
	}
	if e.ID != "" {
		dst = appendID(dst, e.ID)
	}
	if e.Retry > 0 {
		dst = appendRetry(dst, e.Retry)
	}
	dst = appendData(dst, e.Data)
	return append(dst, '\n')
}

// appendID appends an "id:" line; an ID that cuts to nothing resets the
// client's last event ID.
func appendID(dst []byte, id string) []byte {
	if id = cutField(id); id == "" {
		return append(dst, "id:\n"...)
	}
	dst = append(dst, "id: "...)
	dst = append(dst, id...)
	return append(dst, '\n')
}

func appendRetry(dst []byte, d time.Duration) []byte {
	ms := d.Milliseconds()
	if ms < 1 {
		ms = 1 // "retry: 0" would make browsers reconnect in a tight loop.
	}
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, ms, 10)
	return append(dst, '\n')
}

// appendData writes one "data: " line per line of data, where LF, CRLF and
// lone CR all end a line. Empty data still writes one line so that the
// event is dispatched.
func appendData(dst []byte, data string) []byte {
	hasCR := strings.IndexByte(data, '\r') >= 0
	for {
		i := strings.IndexByte(data, '\n')
		skip := 1
		if hasCR {
			if j := strings.IndexByte(data, '\r'); j >= 0 && (i < 0 || j < i) {
				i = j
				if j+1 < len(data) && data[j+1] == '\n' {
					skip = 2
				}
			}
		}
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, data...)
			return append(dst, '\n')
		}
		dst = append(dst, data[:i]...)
		dst = append(dst, '\n')
		data = data[i+skip:]
		if hasCR && strings.IndexByte(data, '\r') < 0 {
			hasCR = false
		}
	}
}

// appendComment appends a comment line (": text"), cut at its first CR or LF.
func appendComment(dst []byte, text string) []byte {
	if i := strings.IndexAny(text, "\r\n"); i >= 0 {
		text = text[:i]
	}
	dst = append(dst, ':')
	if text != "" {
		dst = append(dst, ' ')
		dst = append(dst, text...)
	}
	return append(dst, '\n')
}

// cutField cuts s at its first CR, LF or NUL.
func cutField(s string) string {
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return s[:i]
	}
	return s
}

func encodedLenHint(e Event) int {
	return len(e.Name) + len(e.ID) + len(e.Data) + 48
}

// LastEventID returns the ID a reconnecting client wants to resume after:
// the Last-Event-ID header, or else the last_event_id query parameter
// (for clients that cannot set headers). The value is cut at its first CR,
// LF or NUL and capped at MaxLastEventIDLen bytes, backing up by at most 3
// bytes so as not to split a UTF-8 sequence. It returns "" when the client
// sent neither.
func LastEventID(r *http.Request) string {
	id := r.Header.Get("Last-Event-ID")
	if id == "" && r.URL != nil {
		id = r.URL.Query().Get("last_event_id")
	}
	id = cutField(id)
	if len(id) > MaxLastEventIDLen {
		// Back up to the start of the sequence the cap falls in; a run of
		// continuation bytes longer than any sequence is not UTF-8 and is
		// cut at the cap rather than emptied.
		n := MaxLastEventIDLen
		for n > MaxLastEventIDLen-(utf8.UTFMax-1) && !utf8.RuneStart(id[n]) {
			n--
		}
		if !utf8.RuneStart(id[n]) {
			n = MaxLastEventIDLen
		}
		id = id[:n]
	}
	return id
}
