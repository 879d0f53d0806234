package stream

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestEncode(t *testing.T) {
	tests := []struct {
		name string
		in   Event
		want string
	}{
		{"zero event still dispatches", Event{}, "data: \n\n"},
		{"message", Event{Data: "hello"}, "data: hello\n\n"},
		{"error", Event{Type: Error, Data: "boom"}, "event: error\ndata: boom\n\n"},
		{"done", Event{Type: Done}, "event: done\ndata: \n\n"},
		{"custom", Event{Type: Custom, Name: "tick", Data: "1"}, "event: tick\ndata: 1\n\n"},
		{"custom empty name is a message", Event{Type: Custom, Data: "1"}, "data: 1\n\n"},
		{"name ignored unless custom", Event{Name: "x", Data: "1"}, "data: 1\n\n"},
		{"id and retry", Event{ID: "7", Retry: 1500 * time.Millisecond, Data: "x"}, "id: 7\nretry: 1500\ndata: x\n\n"},
		{"retry below 1ms rounds up", Event{Retry: time.Microsecond}, "retry: 1\ndata: \n\n"},
		{"zero and negative retry write nothing", Event{Retry: -time.Second}, "data: \n\n"},
		{"LF splits data", Event{Data: "a\nb"}, "data: a\ndata: b\n\n"},
		{"CRLF splits data", Event{Data: "a\r\nb"}, "data: a\ndata: b\n\n"},
		{"lone CR splits data", Event{Data: "a\rb"}, "data: a\ndata: b\n\n"},
		{"mixed breaks", Event{Data: "a\r\rb\n\r\nc"}, "data: a\ndata: \ndata: b\ndata: \ndata: c\n\n"},
		{"blank line inside data cannot end the event", Event{Data: "a\n\nid: 9\n\nb"}, "data: a\ndata: \ndata: id: 9\ndata: \ndata: b\n\n"},
		{"trailing newline survives", Event{Data: "a\n"}, "data: a\ndata: \n\n"},
		{"leading space survives", Event{Data: " a"}, "data:  a\n\n"},
		{"NUL in data is kept", Event{Data: "a\x00b"}, "data: a\x00b\n\n"},
		{"injected id is cut", Event{ID: "1\nevent: evil", Data: "x"}, "id: 1\ndata: x\n\n"},
		{"id with CR is cut", Event{ID: "1\rdata: evil", Data: "x"}, "id: 1\ndata: x\n\n"},
		{"id with NUL is cut", Event{ID: "1\x002", Data: "x"}, "id: 1\ndata: x\n\n"},
		{"ResetID writes empty id", Event{ID: ResetID, Data: "x"}, "id:\ndata: x\n\n"},
		{"id cut to nothing resets", Event{ID: "\nx", Data: "x"}, "id:\ndata: x\n\n"},
		{"injected name is cut", Event{Type: Custom, Name: "a\r\ndata: evil", Data: "x"}, "event: a\ndata: x\n\n"},
		{"name cut to nothing writes no event line", Event{Type: Custom, Name: "\nx", Data: "x"}, "data: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Encode(tt.in); got != tt.want {
				t.Errorf("Encode(%+v) = %q, want %q", tt.in, got, tt.want)
			}
			if got := string(AppendEvent([]byte("prefix"), tt.in)); got != "prefix"+tt.want {
				t.Errorf("AppendEvent kept %q, want %q", got, "prefix"+tt.want)
			}
		})
	}
}

func TestAppendEventAllocs(t *testing.T) {
	buf := make([]byte, 0, 1024)
	e := Event{Type: Custom, Name: "update", ID: "42", Retry: time.Second, Data: "line one\r\nline two\rthree\nfour"}
	allocs := testing.AllocsPerRun(100, func() { buf = AppendEvent(buf[:0], e) })
	if allocs != 0 {
		t.Fatalf("AppendEvent allocates %v times per call, want 0", allocs)
	}
}

func TestLastEventID(t *testing.T) {
	long := strings.Repeat("é", MaxLastEventIDLen) // 2 bytes per rune
	tests := []struct {
		name, header, query, want string
	}{
		{"none", "", "", ""},
		{"header", "17", "", "17"},
		{"query fallback", "", "18", "18"},
		{"header wins", "17", "18", "17"},
		{"cut at LF", "1\n2", "", "1"},
		{"cut at CR", "1\r2", "", "1"},
		{"cut at NUL in query", "", "1%002", "1"},
		{"capped on a rune boundary", long, "", long[:MaxLastEventIDLen]},
		{"cap keeps whole runes", "a" + long, "", ("a" + long)[:MaxLastEventIDLen-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := "/events"
			if tt.query != "" {
				target += "?last_event_id=" + tt.query
			}
			r := httptest.NewRequest("GET", target, nil)
			if tt.header != "" {
				r.Header["Last-Event-Id"] = []string{tt.header}
			}
			if got := LastEventID(r); got != tt.want {
				t.Errorf("LastEventID = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	buf := make([]byte, 0, 512)
	e := Event{Type: Custom, Name: "update", ID: "1042", Data: `{"symbol":"ACME","price":101.25,"change":-0.5}`}
	b.ReportAllocs()
	b.SetBytes(int64(len(Encode(e))))
	for b.Loop() {
		buf = AppendEvent(buf[:0], e)
	}
}
