package stream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"
	"unsafe"
)

// ev is a parsed event in wire terms: its type name, data and last event ID.
type ev struct{ typ, data, id string }

func (e ev) String() string { return fmt.Sprintf("{%q %q id=%q}", e.typ, e.data, e.id) }

func wireEvent(e Event) ev {
	typ := e.Type.String()
	if e.Type == Custom {
		typ = e.Name
	}
	return ev{typ, e.Data, e.ID}
}

// chunkReader returns the bytes of s in reads of the given sizes, cycling
// through them.
type chunkReader struct {
	s     []byte
	sizes []int
	i     int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.s) == 0 {
		return 0, io.EOF
	}
	n := c.sizes[c.i%len(c.sizes)]
	c.i++
	n = min(n, len(p), len(c.s))
	copy(p, c.s[:n])
	c.s = c.s[n:]
	return n, nil
}

// readAll parses src until an error and returns the events and that error.
func readAll(r *EventReader) ([]ev, error) {
	var out []ev
	for {
		e, err := r.Next()
		if err != nil {
			return out, err
		}
		if e.Retry != 0 {
			return out, fmt.Errorf("event carries Retry %v", e.Retry)
		}
		out = append(out, wireEvent(e))
	}
}

func TestEventReader(t *testing.T) {
	const bom = "\xEF\xBB\xBF"
	tests := []struct {
		name   string
		in     string
		want   []ev
		lastID string
		retry  time.Duration
	}{
		// Fields and values.
		{"message", "data: hello\n\n", []ev{{"message", "hello", ""}}, "", 0},
		{"no space after colon", "data:hello\n\n", []ev{{"message", "hello", ""}}, "", 0},
		{"only one space removed", "data:  hello \n\n", []ev{{"message", " hello ", ""}}, "", 0},
		{"tab is not removed", "data:\thello\n\n", []ev{{"message", "\thello", ""}}, "", 0},
		{"colon in value", "data: a:b\n\ndata::x\n\n", []ev{{"message", "a:b", ""}, {"message", ":x", ""}}, "", 0},
		{"data lines joined with LF", "data: a\ndata: b\ndata: c\n\n", []ev{{"message", "a\nb\nc", ""}}, "", 0},
		{"field without colon is empty", "data\n\n", []ev{{"message", "", ""}}, "", 0},
		{"empty data dispatches", "data:\n\n", []ev{{"message", "", ""}}, "", 0},
		{"only the last LF removed", "data: a\ndata:\n\n", []ev{{"message", "a\n", ""}}, "", 0},
		{"two empty data lines", "data\ndata\n\n", []ev{{"message", "\n", ""}}, "", 0},
		{"NUL in data kept", "data: a\x00b\n\n", []ev{{"message", "a\x00b", ""}}, "", 0},
		{"unknown fields ignored", "foo: bar\nfoo\ndata: x\n\n", []ev{{"message", "x", ""}}, "", 0},
		{"names are case sensitive", "Data: x\nDATA: y\n\n", nil, "", 0},
		{"space before colon makes another name", "data : x\n\n", nil, "", 0},
		{"comments ignored", ": hello\n:\n:data: x\ndata: y\n\n", []ev{{"message", "y", ""}}, "", 0},
		{"comment only block dispatches nothing", ": ping\n\n", nil, "", 0},
		{"blank lines alone dispatch nothing", "\n\n\n", nil, "", 0},

		// Line ends.
		{"CRLF", "data: a\r\ndata: b\r\n\r\n", []ev{{"message", "a\nb", ""}}, "", 0},
		{"lone CR", "data: a\rdata: b\r\r", []ev{{"message", "a\nb", ""}}, "", 0},
		{"mixed ends", "data: a\rdata: b\r\ndata: c\n\r\n", []ev{{"message", "a\nb\nc", ""}}, "", 0},
		{"CR CR LF is a blank line", "data: a\r\r\n", []ev{{"message", "a", ""}}, "", 0},
		{"LF CR is two ends", "data: a\n\r", []ev{{"message", "a", ""}}, "", 0},
		{"CR LF LF", "data: a\r\n\n", []ev{{"message", "a", ""}}, "", 0},

		// Event type.
		{"custom event", "event: add\ndata: 1\n\n", []ev{{"add", "1", ""}}, "", 0},
		{"error event", "event: error\ndata: e\n\n", []ev{{"error", "e", ""}}, "", 0},
		{"done event", "event: done\ndata\n\n", []ev{{"done", "", ""}}, "", 0},
		{"explicit message", "event: message\ndata: m\n\n", []ev{{"message", "m", ""}}, "", 0},
		{"empty event is message", "event: x\nevent:\ndata: m\n\n", []ev{{"message", "m", ""}}, "", 0},
		{"event without colon is message", "event\ndata: m\n\n", []ev{{"message", "m", ""}}, "", 0},
		{"last event line wins", "event: a\nevent: b\ndata\n\n", []ev{{"b", "", ""}}, "", 0},
		{"type resets after dispatch", "event: a\ndata: 1\n\ndata: 2\n\n", []ev{{"a", "1", ""}, {"message", "2", ""}}, "", 0},
		{"type resets without data", "event: a\n\ndata: 1\n\n", []ev{{"message", "1", ""}}, "", 0},
		{"event name keeps spaces", "event:  two words \ndata\n\n", []ev{{" two words ", "", ""}}, "", 0},
		{"case of names kept", "event: Error\ndata\n\n", []ev{{"Error", "", ""}}, "", 0},

		// Last event ID.
		{"id", "id: 1\ndata: x\n\n", []ev{{"message", "x", "1"}}, "1", 0},
		{"id persists", "id: 1\ndata: x\n\ndata: y\n\n", []ev{{"message", "x", "1"}, {"message", "y", "1"}}, "1", 0},
		{"id after data in block", "data: x\nid: 2\n\n", []ev{{"message", "x", "2"}}, "2", 0},
		{"empty id resets", "id: 1\ndata: x\n\nid\ndata: y\n\n", []ev{{"message", "x", "1"}, {"message", "y", ""}}, "", 0},
		{"empty id with colon resets", "id: 1\n\nid:\ndata: y\n\n", []ev{{"message", "y", ""}}, "", 0},
		{"id with NUL ignored", "id: 1\n\nid: 2\x003\ndata: y\n\n", []ev{{"message", "y", "1"}}, "1", 0},
		{"id with only NUL ignored", "id: 1\nid: \x00\ndata: y\n\n", []ev{{"message", "y", "1"}}, "1", 0},
		{"id set without data", "id: 5\n\n", nil, "5", 0},
		{"id of unfinished event not committed", "id: 1\ndata: x\n\nid: 2\ndata: y\n", []ev{{"message", "x", "1"}}, "1", 0},
		{"id keeps spaces", "id:  7 \ndata\n\n", []ev{{"message", "", " 7 "}}, " 7 ", 0},
		{"id keeps colons", "id: a:b\ndata\n\n", []ev{{"message", "", "a:b"}}, "a:b", 0},
		{"id cannot forge through CR", "id: 1\revent: evil\rdata: x\r\r", []ev{{"evil", "x", "1"}}, "1", 0},

		// Retry.
		{"retry", "retry: 1500\n", nil, "", 1500 * time.Millisecond},
		{"retry zero", "retry: 0\n", nil, "", 0},
		{"retry leading zeros", "retry: 0010\n", nil, "", 10 * time.Millisecond},
		{"retry later wins", "retry: 1\nretry: 2\n", nil, "", 2 * time.Millisecond},
		{"retry non digit ignored", "retry: 1\nretry: 15x\n", nil, "", time.Millisecond},
		{"retry sign ignored", "retry: 1\nretry: -5\nretry: +5\n", nil, "", time.Millisecond},
		{"retry decimal ignored", "retry: 1\nretry: 1.5\n", nil, "", time.Millisecond},
		{"retry empty ignored", "retry: 1\nretry:\nretry\n", nil, "", time.Millisecond},
		{"retry two spaces ignored", "retry: 1\nretry:  5\n", nil, "", time.Millisecond},
		{"retry trailing space ignored", "retry: 1\nretry: 5 \n", nil, "", time.Millisecond},
		{"retry non ASCII digit ignored", "retry: 1\nretry: \u0661\n", nil, "", time.Millisecond},
		{"retry saturates", "retry: 99999999999999999999999\n", nil, "", math.MaxInt64},
		{"retry largest exact", "retry: 9223372036854\n", nil, "", 9223372036854 * time.Millisecond},
		{"retry without blank line applies", "data: x\nretry: 7\n", nil, "", 7 * time.Millisecond},
		{"retry does not dispatch", "retry: 7\ndata: x\n\n", []ev{{"message", "x", ""}}, "", 7 * time.Millisecond},

		// Byte order mark.
		{"BOM stripped", bom + "data: x\n\n", []ev{{"message", "x", ""}}, "", 0},
		{"BOM before blank line", bom + "\ndata: x\n\n", []ev{{"message", "x", ""}}, "", 0},
		{"only one BOM stripped", bom + bom + "data: x\n\ndata: y\n\n", []ev{{"message", "y", ""}}, "", 0},
		{"BOM later is text", "data: x\n\n" + bom + "data: y\n\n", []ev{{"message", "x", ""}}, "", 0},
		{"BOM in data kept", "data: " + bom + "x\n\n", []ev{{"message", "\uFEFFx", ""}}, "", 0},
		{"partial BOM is invalid UTF-8", "\xEF\xBB\n" + "data: x\n\n", []ev{{"message", "x", ""}}, "", 0},
		{"partial BOM before data", "\xEF\xBBdata: x\n\n", nil, "", 0},

		// UTF-8 decoding.
		{"valid UTF-8", "event: événement\nid: ид\ndata: 日本語 🎉\n\n", []ev{{"événement", "日本語 🎉", "ид"}}, "ид", 0},
		{"invalid byte", "data: a\xffb\n\n", []ev{{"message", "a\uFFFDb", ""}}, "", 0},
		{"truncated sequence is one U+FFFD", "data: a\xe2\x82b\n\n", []ev{{"message", "a\uFFFDb", ""}}, "", 0},
		{"truncated four bytes", "data: \xf0\x90\x80A\n\n", []ev{{"message", "\uFFFDA", ""}}, "", 0},
		{"truncated at line end", "data: \xe2\x82\ndata: \xe2\x82\xac\n\n", []ev{{"message", "\uFFFD\n€", ""}}, "", 0},
		{"surrogate", "data: \xed\xa0\x80\n\n", []ev{{"message", "\uFFFD\uFFFD\uFFFD", ""}}, "", 0},
		{"overlong", "data: \xc0\xaf\xe0\x80\xaf\n\n", []ev{{"message", strings.Repeat("\uFFFD", 5), ""}}, "", 0},
		{"above U+10FFFF", "data: \xf4\x90\x80\x80\n\n", []ev{{"message", strings.Repeat("\uFFFD", 4), ""}}, "", 0},
		{"invalid in name and id", "event: \xff\nid: \xfe1\ndata\n\n", []ev{{"\uFFFD", "", "\uFFFD1"}}, "\uFFFD1", 0},
		{"invalid before colon", "data\xff: x\n\n", nil, "", 0},

		// End of stream.
		{"unfinished event discarded", "data: x\n", nil, "", 0},
		{"unterminated line discarded", "data: x\n\ndata: y", []ev{{"message", "x", ""}}, "", 0},
		{"unterminated retry ignored", "retry: 5", nil, "", 0},
		{"empty stream", "", nil, "", 0},

		// Hostile input.
		{"blank line cannot hide in a value", "data: a\\n\\ndata: b\n\n", []ev{{"message", `a\n\ndata: b`, ""}}, "", 0},
		{"NUL in name kept", "event: a\x00b\ndata\n\n", []ev{{"a\x00b", "", ""}}, "", 0},
		{"control bytes in id kept", "id: \x01\x7f\ndata\n\n", []ev{{"message", "", "\x01\x7f"}}, "\x01\x7f", 0},
		{"U+2028 is not a line end", "data: a\u2028b\u0085c\n\n", []ev{{"message", "a\u2028b\u0085c", ""}}, "", 0},
		{"form feed is not a line end", "data: a\fb\vc\n\n", []ev{{"message", "a\fb\vc", ""}}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sizes := range [][]int{{len(tt.in) + 1}, {1}, {2}, {3}, {5}, {7, 1}, {1, 2, 3}} {
				r := NewEventReader(&chunkReader{s: []byte(tt.in), sizes: sizes})
				got, err := readAll(r)
				if err != io.EOF {
					t.Fatalf("chunks %v: error %v, want io.EOF", sizes, err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("chunks %v: events\n got %v\nwant %v", sizes, got, tt.want)
				}
				if id := r.LastEventID(); id != tt.lastID {
					t.Errorf("chunks %v: LastEventID = %q, want %q", sizes, id, tt.lastID)
				}
				if d := r.Retry(); d != tt.retry {
					t.Errorf("chunks %v: Retry = %v, want %v", sizes, d, tt.retry)
				}
				if _, err := r.Next(); err != io.EOF {
					t.Errorf("chunks %v: Next after EOF = %v, want io.EOF", sizes, err)
				}
			}
		})
	}
}

// A line end must dispatch at once, without waiting for the byte after a
// CR, so a server that ends events with CR alone is not delayed.
func TestEventReaderDoesNotWaitAfterCR(t *testing.T) {
	for _, tc := range []struct{ first, second string }{
		{"data: a\r\r", "\ndata: b\n\n"},
		{"data: a\r", "\r\ndata: b\n\n"},
		{"data: a\n\r", "\ndata: b\r\n\r\n"},
		{"\xEF\xBB\xBF\r", "data: a\r\n\r\ndata: b\n\n"},
	} {
		pr, pw := io.Pipe()
		r := NewEventReader(pr)
		go func() {
			pw.Write([]byte(tc.first))
			pw.Write([]byte(tc.second))
			pw.Close()
		}()
		var got []string
		for {
			e, err := r.Next()
			if err != nil {
				break
			}
			got = append(got, e.Data)
		}
		if len(got) == 0 || got[len(got)-1] != "b" {
			t.Errorf("%q + %q: got %q, want events ending in b", tc.first, tc.second, got)
		}
	}
	// The first event must come before the writer sends anything more: the
	// pipe blocks the writer until the reader has consumed the first write.
	pr, pw := io.Pipe()
	defer pw.Close()
	r := NewEventReader(pr)
	go pw.Write([]byte("data: a\r\r"))
	done := make(chan Event, 1)
	go func() { e, _ := r.Next(); done <- e }()
	select {
	case e := <-done:
		if e.Data != "a" {
			t.Fatalf("got %q, want a", e.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Next waited for the byte after a trailing CR")
	}
}

func TestEventReaderLimits(t *testing.T) {
	tests := []struct {
		name             string
		in               string
		maxLine, maxData int
		want             []ev
		err              error
	}{
		{"line at limit", "data: 1234\n\n", 10, 100, []ev{{"message", "1234", ""}}, io.EOF},
		{"line over limit", "data: 1\n\ndata: 12345\n\n", 10, 100, []ev{{"message", "1", ""}}, ErrLineTooLong},
		{"unterminated line over limit", "data: 1\n\n" + strings.Repeat("x", 11), 10, 100, []ev{{"message", "1", ""}}, ErrLineTooLong},
		{"long comment", ":" + strings.Repeat("x", 10) + "\n", 10, 100, nil, ErrLineTooLong},
		{"long line with CR end", "data: 12345\r", 10, 100, nil, ErrLineTooLong},
		{"BOM does not count", "\xEF\xBB\xBFdata: 1234\n\n", 10, 100, []ev{{"message", "1234", ""}}, io.EOF},
		{"data at limit", "data: 12\ndata: 3\ndata\n\n", 100, 6, []ev{{"message", "12\n3\n", ""}}, io.EOF},
		{"data over limit", "data: 1\n\ndata: 12\ndata: 3\ndata\ndata\ndata\n\n", 100, 6, []ev{{"message", "1", ""}}, ErrEventTooLarge},
		{"replacement characters count", "data: \xff\xff\xff\n\n", 100, 6, nil, ErrEventTooLarge},
		{"empty lines of data count", strings.Repeat("data\n", 8) + "\n", 100, 6, nil, ErrEventTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sizes := range [][]int{{len(tt.in)}, {1}, {3}} {
				r := NewEventReader(&chunkReader{s: []byte(tt.in), sizes: sizes})
				r.SetLimits(tt.maxLine, tt.maxData)
				got, err := readAll(r)
				if err != tt.err {
					t.Fatalf("chunks %v: error %v, want %v", sizes, err, tt.err)
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("chunks %v: events %v, want %v", sizes, got, tt.want)
				}
				if _, err := r.Next(); err != tt.err {
					t.Errorf("chunks %v: error not sticky: %v", sizes, err)
				}
			}
		})
	}
}

// endless yields the same byte forever and counts what it gave.
type endless struct {
	b byte
	n int
}

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b
	}
	e.n += len(p)
	return len(p), nil
}

// A server that sends a line without end, or data without end, cannot
// make the reader hold more than its limits.
func TestEventReaderBoundsHostileStreams(t *testing.T) {
	src := &endless{b: 'x'}
	r := NewEventReader(src)
	if _, err := r.Next(); err != ErrLineTooLong {
		t.Fatalf("endless line: %v, want ErrLineTooLong", err)
	}
	if src.n > 2*DefaultMaxEventLine || len(r.buf) > DefaultMaxEventLine+1 {
		t.Errorf("endless line: read %d bytes, window %d; want at most the line limit", src.n, len(r.buf))
	}

	lines := io.MultiReader(strings.NewReader("data: "), &endless{b: '\n'})
	r = NewEventReader(lines)
	r.SetLimits(0, 1000)
	if _, err := r.Next(); err != nil {
		t.Fatalf("data then blank lines: %v", err)
	}
	data := &repeatReader{s: "data: 0123456789\n"}
	r = NewEventReader(data)
	r.SetLimits(0, 1<<16)
	if _, err := r.Next(); err != ErrEventTooLarge {
		t.Fatalf("endless data: %v, want ErrEventTooLarge", err)
	}
	if cap(r.data) > 2<<16 {
		t.Errorf("endless data: data buffer grew to %d bytes", cap(r.data))
	}
}

type repeatReader struct {
	s string
	i int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.s[r.i:])
		r.i = (r.i + c) % len(r.s)
		n += c
	}
	return n, nil
}

func TestEventReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	r := NewEventReader(io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)))
	if e, err := r.Next(); err != nil || e.Data != "a" {
		t.Fatalf("first event: %+v, %v", e, err)
	}
	if _, err := r.Next(); err != boom {
		t.Fatalf("error = %v, want the reader's error", err)
	}
	if _, err := r.Next(); err != boom {
		t.Fatalf("error not sticky: %v", err)
	}

	// Bytes that come with an error are parsed first.
	r = NewEventReader(iotest.DataErrReader(strings.NewReader("data: a\n\n")))
	if e, err := r.Next(); err != nil || e.Data != "a" {
		t.Fatalf("data with EOF: %+v, %v", e, err)
	}

	r = NewEventReader(zeroReader{})
	if _, err := r.Next(); err != io.ErrNoProgress {
		t.Fatalf("empty reads: %v, want io.ErrNoProgress", err)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestEventReaderReusesStrings(t *testing.T) {
	r := NewEventReader(strings.NewReader("id: 1\nevent: tick\ndata: a\n\nevent: tick\ndata: b\n\n"))
	a, _ := r.Next()
	b, _ := r.Next()
	if a.Name != "tick" || b.Name != "tick" || a.ID != "1" || b.ID != "1" {
		t.Fatalf("events %+v %+v", a, b)
	}
	if unsafe.StringData(a.Name) != unsafe.StringData(b.Name) || unsafe.StringData(a.ID) != unsafe.StringData(b.ID) {
		t.Error("a repeated name or id was allocated again")
	}
}

func TestAppendUTF8(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"abc", "abc"},
		{"é€🎉", "é€🎉"},
		{"\x80", "\uFFFD"},
		{"\xbf\xbf", "\uFFFD\uFFFD"},
		{"\xc2", "\uFFFD"},
		{"\xc2A", "\uFFFDA"},
		{"\xc0\x80", "\uFFFD\uFFFD"},
		{"\xc1\xbf", "\uFFFD\uFFFD"},
		{"\xe0\x80\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xe0\xa0", "\uFFFD"},
		{"\xe0\xa0\x80", "\u0800"},
		{"\xed\x9f\xbf", "\ud7ff"},
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD"},
		{"\xef\xbf\xbf", "\uffff"},
		{"\xf0\x80\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf0\x90\x80", "\uFFFD"},
		{"\xf0\x90\x80\x80", "\U00010000"},
		{"\xf4\x8f\xbf\xbf", "\U0010FFFF"},
		{"\xf4\x90\x80\x80", "\uFFFD\uFFFD\uFFFD\uFFFD"},
		{"\xf5\x80", "\uFFFD\uFFFD"},
		{"\xff", "\uFFFD"},
		{"a\xe2\x82\xe2\x82\xac", "a\uFFFD€"},
	}
	for _, tt := range tests {
		if got := string(appendUTF8(nil, []byte(tt.in))); got != tt.want {
			t.Errorf("appendUTF8(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// referenceParse is a transcription of the standard's algorithm that works
// on the whole stream at once, as an oracle for the streaming reader. It
// applies the reader's limits at the same lines and returns how many events
// come before the first line that breaks one, and which.
func referenceParse(in []byte, maxLine, maxData int) (events []ev, lastID string, retry time.Duration, err error) {
	in = bytes.TrimPrefix(in, []byte("\xEF\xBB\xBF"))
	var data, typ, id string
	hasData := false
	for len(in) > 0 {
		end := bytes.IndexAny(in, "\r\n")
		if end < 0 {
			if len(in) > maxLine {
				return events, lastID, retry, ErrLineTooLong
			}
			break // unterminated: discarded
		}
		line := in[:end]
		next := end + 1
		if in[end] == '\r' && next < len(in) && in[next] == '\n' {
			next++
		}
		in = in[next:]
		if len(line) > maxLine {
			return events, lastID, retry, ErrLineTooLong
		}
		s := string(appendUTF8(nil, line))
		if s == "" {
			lastID = id
			if !hasData {
				typ = ""
				continue
			}
			t := typ
			if t == "" {
				t = "message"
			}
			events = append(events, ev{t, strings.TrimSuffix(data, "\n"), lastID})
			data, typ, hasData = "", "", false
			continue
		}
		if s[0] == ':' {
			continue
		}
		name, value, found := strings.Cut(s, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch name {
		case "event":
			typ = value
		case "data":
			data += value + "\n"
			hasData = true
			if len(data)-1 > maxData {
				return events, lastID, retry, ErrEventTooLarge
			}
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				ms, perr := parseDecimal(value)
				if perr {
					retry = math.MaxInt64
				} else {
					retry = time.Duration(ms) * time.Millisecond
				}
			}
		}
	}
	return events, lastID, retry, io.EOF
}

// parseDecimal parses digits, reporting whether the value overflows a
// time.Duration in milliseconds.
func parseDecimal(s string) (ms int64, overflow bool) {
	ms, err := strconv.ParseInt(s, 10, 64)
	return ms, err != nil || ms > math.MaxInt64/int64(time.Millisecond)
}

// FuzzEventReader feeds arbitrary bytes in random chunk sizes: the reader
// must never panic, never hold more than its limits, and read exactly what
// the whole-stream reference parser reads, whatever the chunking.
func FuzzEventReader(f *testing.F) {
	for _, s := range []string{
		"data: hello\n\n",
		"\xEF\xBB\xBFevent: a\r\nid: 1\r\ndata: x\r\n\r\n",
		"data: a\rdata: b\r\rid\r\n\n",
		"retry: 1000\nid: \x00\ndata\n\n",
		"data: \xe2\x82\xff\n\n: c\n",
		"event\ndata:\n\nretry: 99999999999999999999\n",
	} {
		f.Add([]byte(s), uint64(1))
	}
	f.Fuzz(func(t *testing.T, in []byte, seed uint64) {
		const maxLine, maxData = 256, 1024
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		var sizes []int
		for range 16 {
			sizes = append(sizes, 1+rng.IntN(64))
		}
		r := NewEventReader(&chunkReader{s: in, sizes: sizes})
		r.SetLimits(maxLine, maxData)
		got, err := readAll(r)
		if len(r.buf) > maxLine+1 || cap(r.data) > 4*maxData+4*maxLine {
			t.Fatalf("memory: window %d, data buffer %d", len(r.buf), cap(r.data))
		}
		for _, e := range got {
			if len(e.data) > maxData {
				t.Fatalf("event data of %d bytes over the limit", len(e.data))
			}
			if !utf8.ValidString(e.data) || !utf8.ValidString(e.typ) || !utf8.ValidString(e.id) {
				t.Fatalf("invalid UTF-8 in %v", e)
			}
		}
		want, lastID, retry, wantErr := referenceParse(in, maxLine, maxData)
		if err != wantErr {
			t.Fatalf("error %v, want %v", err, wantErr)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("events\n got %v\nwant %v", got, want)
		}
		if wantErr == io.EOF {
			if r.LastEventID() != lastID || r.Retry() != retry {
				t.Fatalf("LastEventID %q retry %v, want %q %v", r.LastEventID(), r.Retry(), lastID, retry)
			}
		}
	})
}

// benchStream is a typical stream of small events: named JSON events
// with IDs, a heartbeat now and then, and a multi-line event.
func benchStream() []byte {
	var b []byte
	for i := range 1000 {
		b = AppendEvent(b, Event{Type: Custom, Name: "update", ID: fmt.Sprint(i), Data: `{"symbol":"ACME","price":101.25,"change":-0.5}`})
		if i%100 == 0 {
			b = appendComment(b, "")
			b = AppendEvent(b, Event{Data: "line one\nline two\nline three"})
		}
	}
	return b
}

// benchLargeStream holds events of 16 KiB of text each, on one line.
func benchLargeStream() []byte {
	var b []byte
	data := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 16<<10/45)
	for range 64 {
		b = AppendEvent(b, Event{Data: data})
	}
	return b
}

func BenchmarkEventReader(b *testing.B) {
	for _, bc := range []struct {
		name  string
		src   []byte
		chunk int
	}{
		{"small/whole", benchStream(), 1 << 30},
		{"small/4KiB", benchStream(), 4096},
		{"small/64B", benchStream(), 64},
		{"large/32KiB", benchLargeStream(), 32 << 10},
		{"large/1KiB", benchLargeStream(), 1 << 10},
	} {
		n := bytes.Count(bc.src, []byte("\n\n"))
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.src)))
			for b.Loop() {
				r := NewEventReader(&chunkReader{s: bc.src, sizes: []int{bc.chunk}})
				got := 0
				for {
					_, err := r.Next()
					if err != nil {
						break
					}
					got++
				}
				if got != n {
					b.Fatalf("read %d events, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
