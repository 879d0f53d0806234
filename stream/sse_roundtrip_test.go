package stream_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stdrealtime/realtime/internal/ssetest"
	"github.com/stdrealtime/realtime/stream"
)

// checkRoundTrip verifies the contract of Encode for e: a conformant parser
// reading Encode(e), after a stream that left the last event ID at prevID
// and the reconnection time at prevRetry, yields exactly one event whose
// data, type and last event ID are the ones the contract names.
func checkRoundTrip(t *testing.T, e stream.Event, chunk int) {
	t.Helper()
	wire := stream.Encode(e)
	r := stream.NewEventReader(&chunked{s: wire, n: chunk})
	r.SetLimits(len(wire), 3*len(wire))
	got, err := r.Next()
	if err != nil {
		t.Fatalf("Encode(%q) = %q: read error %v", e, wire, err)
	}
	if want := ssetest.WantData(e); got.Data != want {
		t.Errorf("Encode(%q) = %q: data %q, want %q", e, wire, got.Data, want)
	}
	if typ, want := ssetest.TypeOf(got), ssetest.WantType(e); typ != want {
		t.Errorf("Encode(%q) = %q: type %q, want %q", e, wire, typ, want)
	}
	if want := ssetest.WantID("", e); got.ID != want || r.LastEventID() != want {
		t.Errorf("Encode(%q) = %q: id %q (reader %q), want %q", e, wire, got.ID, r.LastEventID(), want)
	}
	if want := ssetest.WantRetry(0, e); r.Retry() != want {
		t.Errorf("Encode(%q) = %q: retry %v, want %v", e, wire, r.Retry(), want)
	}
	if extra, err := r.Next(); err != io.EOF {
		t.Errorf("Encode(%q) = %q: second Next = %+v, %v; want io.EOF", e, wire, extra, err)
	}
}

// chunked returns s in reads of at most n bytes.
type chunked struct {
	s string
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), c.n)], c.s)
	c.s = c.s[n:]
	return n, nil
}

func TestEncodeRoundTrip(t *testing.T) {
	for _, e := range ssetest.HostileEvents() {
		for _, chunk := range []int{1 << 30, 1, 3} {
			checkRoundTrip(t, e, chunk)
		}
	}
}

// The events of a stream keep their order and boundaries, and the last
// event ID and reconnection time carry from one event to the next.
func TestEncodeRoundTripStream(t *testing.T) {
	events := ssetest.HostileEvents()
	var wire []byte
	for _, e := range events {
		wire = stream.AppendEvent(wire, e)
	}
	r := stream.NewEventReader(strings.NewReader(string(wire)))
	id, retry := "", time.Duration(0)
	for i, e := range events {
		got, err := r.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		id, retry = ssetest.WantID(id, e), ssetest.WantRetry(retry, e)
		if got.Data != ssetest.WantData(e) || ssetest.TypeOf(got) != ssetest.WantType(e) || got.ID != id {
			t.Fatalf("event %d: Encode(%q) read back as %+v; want data %q type %q id %q",
				i, e, got, ssetest.WantData(e), ssetest.WantType(e), id)
		}
		if r.Retry() != retry {
			t.Fatalf("event %d: retry %v, want %v", i, r.Retry(), retry)
		}
	}
	if e, err := r.Next(); err != io.EOF {
		t.Fatalf("after the last event: %+v, %v", e, err)
	}
}

// FuzzEncodeRoundTrip checks the contract of Encode for arbitrary events.
func FuzzEncodeRoundTrip(f *testing.F) {
	for _, e := range ssetest.HostileEvents() {
		f.Add(uint8(e.Type), e.Name, e.Data, e.ID, int64(e.Retry), uint8(7))
	}
	f.Fuzz(func(t *testing.T, typ uint8, name, data, id string, retry int64, chunk uint8) {
		e := stream.Event{Type: stream.EventType(typ % 4), Name: name, Data: data, ID: id, Retry: time.Duration(retry)}
		checkRoundTrip(t, e, 1+int(chunk))
	})
}
