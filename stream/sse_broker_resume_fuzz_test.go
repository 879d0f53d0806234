package stream

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// resumeOnce subscribes to b with the given Last-Event-ID header (sent
// only when not empty) and query, on a request whose client has already
// left, so that Subscribe writes what a new subscriber gets first and
// returns. It returns the response and Subscribe's error.
func resumeOnce(b *SSEBroker, lastID, rawQuery string) (*httptest.ResponseRecorder, error) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := (&http.Request{
		Method: http.MethodGet, URL: &url.URL{Path: "/", RawQuery: rawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
	}).WithContext(ctx)
	if lastID != "" {
		r.Header["Last-Event-Id"] = []string{lastID}
	}
	w := httptest.NewRecorder()
	return w, b.Subscribe(w, r)
}

// FuzzSSEResume publishes events into a broker with a replay ring, some
// with the publisher's own IDs, then subscribes with an arbitrary
// Last-Event-ID ({E} stands for the broker's epoch) and query string.
// Malformed options are answered 400 with an error naming the operation.
// Otherwise the stream parses cleanly and is either one resume gap event
// or a replay of consecutive published events, in order and through the
// newest, that the subscriber's filter accepts; resuming with a broker ID
// that is still in the ring replays exactly the events after it, one that
// left the ring reports how many were missed; and resuming again with the
// last event ID the stream left the client with replays nothing and
// reports no gap.
func FuzzSSEResume(f *testing.F) {
	f.Add("{E}-3", "", uint8(10), uint32(0), "")
	f.Add("{E}-1", "event=a", uint8(20), uint32(0), "")
	f.Add("{E}-0", "", uint8(5), uint32(0), "")
	f.Add("{E}-18446744073709551615", "", uint8(5), uint32(0), "")
	f.Add("{E}-00000000000000000000002", "buffer=99999999999999999999999", uint8(9), uint32(0), "")
	f.Add("u7", "event=b,%20a&event=", uint8(12), uint32(0xffff), "u")
	f.Add("own\r\nid: 3", "", uint8(4), uint32(0xf), "own\r\nid: ")
	f.Add("", "slow=block&subscriber_id=a:b@c", uint8(3), uint32(1), "\x00")
	f.Add("x", "subscriber_id=%ff&buffer=-1", uint8(3), uint32(0), "")
	f.Add(strings.Repeat("p", 300)+"3", "", uint8(4), uint32(8), strings.Repeat("p", 300))
	f.Add("", "", uint8(4), uint32(16), strings.Repeat("q", MaxLastEventIDLen))
	f.Add("\xff\x80", "event="+strings.Repeat("n,", 17), uint8(30), uint32(0x55555), "\xff")
	f.Fuzz(func(t *testing.T, lastID, rawQuery string, n uint8, own uint32, prefix string) {
		const ring = 8
		b := NewSSEBroker(SSEBrokerConfig{Replay: ring, HeartbeatInterval: -1, WriteTimeout: -1})
		defer b.Close()
		n %= 32
		ids := make([]string, n+1) // the ID each event went out with
		names := make([]string, n+1)
		for k := 1; k <= int(n); k++ {
			e := Event{Type: Custom, Name: "a", Data: strconv.Itoa(k)}
			if k%2 == 1 {
				e.Name = "b"
			}
			if own&(1<<k) != 0 {
				e.ID = prefix + strconv.Itoa(k)
			}
			if err := b.Publish(e); err != nil {
				t.Fatalf("publish: %v", err)
			}
			ids[k], names[k] = e.ID, e.Name
		}
		lastID = strings.ReplaceAll(lastID, "{E}", b.epoch)

		w, err := resumeOnce(b, lastID, rawQuery)
		if w.Code == http.StatusBadRequest {
			if err == nil || !strings.HasPrefix(err.Error(), "stream: sse subscribe: ") {
				t.Fatalf("400 with error %v", err)
			}
			return
		}
		if err != nil || w.Code != http.StatusOK {
			t.Fatalf("status %d, error %v", w.Code, err)
		}
		filter := map[string]bool{}
		for _, v := range url.Values(mustParseQuery(rawQuery))["event"] {
			for name := range strings.SplitSeq(v, ",") {
				if name = strings.TrimSpace(name); name != "" {
					filter[name] = true
				}
			}
		}
		accepts := func(k int) bool { return len(filter) == 0 || filter[names[k]] }

		r := NewEventReader(bytes.NewReader(w.Body.Bytes()))
		var got []Event
		for {
			e, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("stream %q: %v", w.Body.Bytes(), err)
			}
			got = append(got, e)
		}
		gap := len(got) == 1 && got[0].Name == "gap"
		var dropped int64 = -1
		if gap {
			var g struct {
				Dropped *int64
				Reason  string
			}
			if err := json.Unmarshal([]byte(got[0].Data), &g); err != nil || g.Reason != "resume" {
				t.Fatalf("gap data %q: %v", got[0].Data, err)
			}
			if g.Dropped != nil {
				dropped = *g.Dropped
			}
		} else {
			// A replay: consecutive events through the newest.
			first := int(n) + 1
			if len(got) > 0 {
				first, _ = strconv.Atoi(got[0].Data)
			}
			var want []string
			for k := first; k <= int(n); k++ {
				if accepts(k) {
					want = append(want, strconv.Itoa(k))
				}
			}
			var have []string
			for _, e := range got {
				have = append(have, e.Data)
			}
			if strings.Join(have, ",") != strings.Join(want, ",") {
				t.Fatalf("replayed %v, want %v", have, want)
			}
		}

		// What the model says for IDs the broker itself gave out.
		oldest := max(int(n)-ring+1, 1)
		id := LastEventID(&http.Request{Header: http.Header{"Last-Event-Id": {lastID}}})
		if digits, ok := strings.CutPrefix(id, b.epoch+"-"); ok {
			if k, err := strconv.Atoi(digits); err == nil && k >= 0 && k <= int(n) && strconv.Itoa(k) == digits {
				switch {
				case k+1 < oldest:
					if !gap || dropped != int64(int(n)-k) {
						t.Fatalf("resume after %d (oldest kept %d): gap %v dropped %d", k, oldest, gap, dropped)
					}
				case gap:
					t.Fatalf("resume after %d (oldest kept %d) reported a gap", k, oldest)
				case len(got) > 0 && got[0].Data != strconv.Itoa(k+1) && accepts(k+1):
					t.Fatalf("resume after %d started at %s", k, got[0].Data)
				}
			}
		}
		if id == "" && len(got) != 0 {
			t.Fatalf("a new subscriber was sent %d events", len(got))
		}

		// The ID the client holds now resumes with nothing missed.
		next := r.LastEventID()
		if next == "" {
			t.Fatalf("stream %q left the client without an ID to resume from", w.Body.Bytes())
		}
		w2, err := resumeOnce(b, next, rawQuery)
		if err != nil || w2.Code != http.StatusOK {
			t.Fatalf("resubscribing: status %d, error %v", w2.Code, err)
		}
		r2 := NewEventReader(bytes.NewReader(w2.Body.Bytes()))
		if e, err := r2.Next(); err != io.EOF {
			t.Fatalf("resuming with %q (given by %q) sent %+v, %v", next, w.Body.Bytes(), e, err)
		}
		if r2.LastEventID() != next {
			t.Fatalf("resuming with %q moved the client to %q", next, r2.LastEventID())
		}
	})
}

// mustParseQuery parses a query as url.URL.Query does, ignoring errors.
func mustParseQuery(raw string) url.Values {
	q, _ := url.ParseQuery(raw)
	return q
}
