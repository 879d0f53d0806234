package micro

import (
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/stdrealtime/realtime/stream"
	sse "github.com/tmaxmax/go-sse"
)

// Encoding one Server-Sent Event with an ID, a name and data, as each
// implementation does per published event: stream.AppendEvent into a
// reused buffer, go-sse's Message built with AppendData and written with
// WriteTo, and the hand-written append and
// fmt.Fprintf of a minimal stdlib loop.

var sseInputs = []struct {
	name string
	data string
}{
	{"64B", strings.Repeat("x", 64)},
	{"1KiB-multiline", strings.Repeat(strings.Repeat("y", 63)+"\n", 15) + strings.Repeat("y", 64)},
}

func BenchmarkSSEEncode(b *testing.B) {
	for _, in := range sseInputs {
		b.Run("ours/"+in.name, func(b *testing.B) {
			ev := stream.Event{Type: stream.Custom, Name: "update", ID: "42", Data: in.data}
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = stream.AppendEvent(buf[:0], ev)
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run("go-sse/"+in.name, func(b *testing.B) {
			// A Message holds its data already split into fields, so
			// building it is part of encoding an event.
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				m := &sse.Message{ID: sse.ID("42"), Type: sse.Type("update")}
				m.AppendData(in.data)
				var err error
				if n, err = m.WriteTo(io.Discard); err != nil {
					b.Fatal(err)
				}
			}
			b.SetBytes(n)
		})
		b.Run("append/"+in.name, func(b *testing.B) {
			var buf []byte
			b.ReportAllocs()
			for b.Loop() {
				buf = append(buf[:0], "id: 42\nevent: update\n"...)
				for line := range strings.Lines(in.data) {
					buf = append(buf, "data: "...)
					buf = append(buf, strings.TrimSuffix(line, "\n")...)
					buf = append(buf, '\n')
				}
				buf = append(buf, '\n')
			}
			b.SetBytes(int64(len(buf)))
		})
		b.Run("fmt/"+in.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				fmt.Fprintf(io.Discard, "id: %s\nevent: %s\n", "42", "update")
				for line := range strings.Lines(in.data) {
					fmt.Fprintf(io.Discard, "data: %s\n", strings.TrimSuffix(line, "\n"))
				}
				io.WriteString(io.Discard, "\n")
			}
		})
	}
}

// TestSSEEncodersAgree checks that the benchmarked encoders produce the
// same event, so that they do the same work.
func TestSSEEncodersAgree(t *testing.T) {
	for _, in := range sseInputs {
		ours := string(stream.AppendEvent(nil, stream.Event{Type: stream.Custom, Name: "update", ID: "42", Data: in.data}))
		m := &sse.Message{ID: sse.ID("42"), Type: sse.Type("update")}
		m.AppendData(in.data)
		var theirs strings.Builder
		if _, err := m.WriteTo(&theirs); err != nil {
			t.Fatal(err)
		}
		for _, enc := range []string{ours, theirs.String()} {
			r := stream.NewEventReader(strings.NewReader(enc))
			ev, err := r.Next()
			if err != nil || ev.Data != in.data || ev.Name != "update" || ev.ID != "42" {
				t.Fatalf("%s: %q decodes to %+v, %v", in.name, enc, ev, err)
			}
		}
	}
}
