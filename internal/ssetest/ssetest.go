// Package ssetest holds Server-Sent Events test data and oracles shared by
// the tests of package stream and the interoperability tests: a corpus of
// hostile events and what a WHATWG-conformant parser must read back from
// their encoding.
package ssetest

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stdrealtime/realtime/stream"
)

// HostileEvents returns events whose fields try to forge other fields, end
// the event early, lose bytes or confuse a decoder. Every one must survive
// stream.Encode and a conformant parser as the contract of Encode says.
func HostileEvents() []stream.Event {
	long := strings.Repeat("x", 64<<10)
	multi := strings.Repeat("line\r\n", 1000) + "end"
	return []stream.Event{
		{},
		{Data: "hello"},
		{Type: stream.Error, Data: "boom"},
		{Type: stream.Done},
		{Type: stream.Custom, Name: "tick", Data: "1"},

		// Line breaks of every kind inside data.
		{Data: "a\nb"},
		{Data: "a\r\nb"},
		{Data: "a\rb"},
		{Data: "a\r\r\n\nb"},
		{Data: "\n"},
		{Data: "\r"},
		{Data: "\r\n"},
		{Data: "\n\n\n"},
		{Data: "\r\r\r"},
		{Data: "a\n"},
		{Data: "a\r"},
		{Data: "\na"},
		{Data: "\r\n\r\n"},
		{Data: "\n\r"},

		// Data that looks like fields or ends the event.
		{Data: "\n\nevent: evil\ndata: injected\n\n"},
		{Data: "x\r\rid: 666\r\rdata: forged"},
		{Data: "data: x"},
		{Data: "id: 1"},
		{Data: "retry: 1"},
		{Data: "event: error"},
		{Data: ": comment"},
		{Data: ":"},
		{Data: "data"},
		{Data: "\n:\n"},

		// Whitespace, control characters and text.
		{Data: " leading space"},
		{Data: "  two spaces"},
		{Data: " "},
		{Data: "trailing space "},
		{Data: "\ttab"},
		{Data: "\v\f\x1b[31mred"},
		{Data: "a\x00b"},
		{Data: "\x00"},
		{Data: "héllo wörld 日本語 🎉"},
		{Data: "\u2028\u2029\u0085"}, // not line breaks in an event stream
		{Data: "\uFEFF"},
		{Data: "\uFEFFdata: bom"},
		{Data: "\u00EF\u00BB\u00BF"},

		// Invalid UTF-8: the parser replaces it as a browser does.
		{Data: "\xff\xfe"},
		{Data: "a\xe2\x82b"},
		{Data: "\xed\xa0\x80"},
		{Data: "\xc0\xaf"},
		{Data: "\xf0\x90\x80"},
		{Data: "\xf4\x90\x80\x80"},
		{Data: "\xe2\x82\n\xe2\x82\xac"},

		// Event names.
		{Type: stream.Custom, Name: "evil\ndata: injected", Data: "x"},
		{Type: stream.Custom, Name: "a\rb", Data: "x"},
		{Type: stream.Custom, Name: "a\r\nid: 9", Data: "x"},
		{Type: stream.Custom, Name: "\x00", Data: "x"},
		{Type: stream.Custom, Name: "a\x00b", Data: "x"},
		{Type: stream.Custom, Name: "\n", Data: "x"},
		{Type: stream.Custom, Name: "", Data: "x"},
		{Type: stream.Custom, Name: "message", Data: "x"},
		{Type: stream.Custom, Name: "error", Data: "x"},
		{Type: stream.Custom, Name: "done", Data: "x"},
		{Type: stream.Custom, Name: "Message", Data: "x"},
		{Type: stream.Custom, Name: " spaced", Data: "x"},
		{Type: stream.Custom, Name: "two words", Data: "x"},
		{Type: stream.Custom, Name: ":colon", Data: "x"},
		{Type: stream.Custom, Name: "a:b", Data: "x"},
		{Type: stream.Custom, Name: "data", Data: "x"},
		{Type: stream.Custom, Name: "événement", Data: "x"},
		{Type: stream.Custom, Name: "\xff", Data: "x"},
		{Type: stream.Custom, Name: strings.Repeat("n", 4096), Data: "x"},
		{Name: "ignored unless Custom", Data: "x"},

		// IDs.
		{ID: "1", Data: "x"},
		{ID: "2", Data: "y"},
		{Data: "keeps id 2"},
		{ID: "3\nevent: evil", Data: "x"},
		{ID: "4\rdata: forged", Data: "x"},
		{ID: "5\r\n\r\n", Data: "x"},
		{ID: "6\x00", Data: "x"},
		{ID: "a\x00b", Data: "x"},
		{ID: stream.ResetID, Data: "reset"},
		{Data: "still reset"},
		{ID: "\n", Data: "reset again"},
		{ID: " leading", Data: "x"},
		{ID: "trailing ", Data: "x"},
		{ID: "id: 7", Data: "x"},
		{ID: ":", Data: "x"},
		{ID: "9007199254740993", Data: "x"},
		{ID: "ид-🎉", Data: "x"},
		{ID: "\xff\xfe", Data: "x"},
		{ID: strings.Repeat("i", 4*stream.MaxLastEventIDLen), Data: "x"},
		{Type: stream.Error, ID: "8", Data: "with id"},

		// Retry.
		{Retry: time.Millisecond, Data: "x"},
		{Retry: 1500 * time.Millisecond, Data: "x"},
		{Retry: time.Microsecond, Data: "rounds up to 1ms"},
		{Retry: time.Hour, Data: "x"},
		{Retry: -time.Second, Data: "ignored"},
		{Retry: time.Duration(1<<63 - 1), Data: "largest"},

		// Everything at once, and sizes.
		{Type: stream.Custom, Name: "all\nevent: x", ID: "10\r\n", Retry: 2 * time.Second, Data: "\r\nline\r\rdata: x\n\n"},
		{Data: long},
		{Data: multi},
	}
}

// TypeOf returns the event type name that a parsed Event stands for: the
// reverse of the mapping an EventReader applies.
func TypeOf(e stream.Event) string {
	if e.Type == stream.Custom {
		return e.Name
	}
	return e.Type.String()
}

// WantType returns the event type a conformant parser reports for
// stream.Encode(e).
func WantType(e stream.Event) string {
	switch e.Type {
	case stream.Error:
		return "error"
	case stream.Done:
		return "done"
	case stream.Custom:
		if name := cut(e.Name); name != "" {
			return DecodeUTF8(name)
		}
	}
	return "message"
}

// WantData returns the data a conformant parser reports for
// stream.Encode(e): e.Data with CRLF and lone CR turned into LF, decoded
// as a browser decodes UTF-8.
func WantData(e stream.Event) string {
	d := strings.ReplaceAll(e.Data, "\r\n", "\n")
	d = strings.ReplaceAll(d, "\r", "\n")
	return DecodeUTF8(d)
}

// WantID returns the last event ID a conformant parser holds after reading
// stream.Encode(e) when it held prev before.
func WantID(prev string, e stream.Event) string {
	if e.ID == "" {
		return prev
	}
	return DecodeUTF8(cut(e.ID))
}

// WantRetry returns the reconnection time a conformant parser holds after
// reading stream.Encode(e) when it held prev before.
func WantRetry(prev time.Duration, e stream.Event) time.Duration {
	if e.Retry <= 0 {
		return prev
	}
	return max(e.Retry.Truncate(time.Millisecond), time.Millisecond)
}

func cut(s string) string {
	if i := strings.IndexAny(s, "\r\n\x00"); i >= 0 {
		return s[:i]
	}
	return s
}

// DecodeUTF8 decodes s as the UTF-8 decoder of the WHATWG Encoding
// standard does, without stripping a byte order mark: each byte that
// cannot start a sequence, and each maximal prefix of a valid sequence cut
// short, becomes one U+FFFD. It transcribes the standard's algorithm step
// by step, as an oracle independent of the parser's own decoder.
func DecodeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var (
		out                        strings.Builder
		codePoint, needed, seen    int
		lowerBoundary, upperBounds = 0x80, 0xBF
	)
	for i := 0; i < len(s); {
		b := int(s[i])
		if needed == 0 {
			i++
			switch {
			case b <= 0x7F:
				out.WriteByte(byte(b))
			case b >= 0xC2 && b <= 0xDF:
				needed, codePoint = 1, b&0x1F
			case b >= 0xE0 && b <= 0xEF:
				if b == 0xE0 {
					lowerBoundary = 0xA0
				}
				if b == 0xED {
					upperBounds = 0x9F
				}
				needed, codePoint = 2, b&0xF
			case b >= 0xF0 && b <= 0xF4:
				if b == 0xF0 {
					lowerBoundary = 0x90
				}
				if b == 0xF4 {
					upperBounds = 0x8F
				}
				needed, codePoint = 3, b&0x7
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if b < lowerBoundary || b > upperBounds {
			// Reset, emit an error and process the byte again.
			codePoint, needed, seen = 0, 0, 0
			lowerBoundary, upperBounds = 0x80, 0xBF
			out.WriteRune(utf8.RuneError)
			continue
		}
		i++
		lowerBoundary, upperBounds = 0x80, 0xBF
		codePoint = codePoint<<6 | b&0x3F
		seen++
		if seen == needed {
			out.WriteRune(rune(codePoint))
			codePoint, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		out.WriteRune(utf8.RuneError) // end of input inside a sequence
	}
	return out.String()
}
